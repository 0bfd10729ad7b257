"""`celery -A workers.app worker -Q <queue>` with WEDRAW_SERVICE naming the owning service."""

from __future__ import annotations

import importlib
import os

from celery import Celery
from celery.signals import setup_logging, worker_process_init

from wedraw.core.celery_app import make_celery
from wedraw.core.config import load_settings
from wedraw.core.logs import configure_logging
from wedraw.core.registry import get_service
from wedraw.core.store import reset_store_cache


def build_worker_app(service: str, settings=None) -> Celery:
    spec = get_service(service)
    if not spec.queues:
        raise SystemExit(f"service {service!r} has no queues, so it has no worker")
    settings = settings or load_settings()
    celery = make_celery(service, settings)
    tasks = importlib.import_module(f"{spec.package}.tasks")
    tasks.register_tasks(celery)
    return celery


@setup_logging.connect
def _json_logs(**_):
    # Connecting this signal stops Celery from installing its own log format.
    configure_logging(os.environ.get("WEDRAW_SERVICE", "user_center"), load_settings().log_level)


@worker_process_init.connect
def _after_fork(**_):
    # Connections made before a prefork worker forked must not be shared with it.
    reset_store_cache()
    app = celery.wedraw_state.get("app")
    if app is not None and "wedraw.db" in app.extensions:
        with app.app_context():
            app.extensions["wedraw.db"].engine.dispose()


celery = build_worker_app(os.environ.get("WEDRAW_SERVICE", "user_center"))
