"""`celery -A workers.app worker -Q <queue>` with WEDRAW_SERVICE naming the owning service."""

from __future__ import annotations

import os

from celery.signals import setup_logging, worker_process_init

from wedraw.core.config import load_settings
from wedraw.core.logs import configure_logging
from wedraw.core.store import reset_store_cache
from workers.bootstrap import build_worker_app

SERVICE = os.environ.get("WEDRAW_SERVICE", "user_center")


@setup_logging.connect
def _json_logs(**_):
    # Connecting this signal stops Celery from installing its own log format.
    configure_logging(SERVICE, load_settings().log_level)


@worker_process_init.connect
def _after_fork(**_):
    # Connections made before a prefork worker forked must not be shared with it.
    reset_store_cache()
    app = celery.wedraw_state.get("app")
    if app is not None and "wedraw.db" in app.extensions:
        with app.app_context():
            app.extensions["wedraw.db"].engine.dispose()


celery = build_worker_app(SERVICE)
