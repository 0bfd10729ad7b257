"""Builds the Celery app a worker program runs: one service's app with that service's tasks."""

from __future__ import annotations

import importlib

from celery import Celery

from wedraw.core.celery_app import make_celery
from wedraw.core.config import load_settings
from wedraw.core.registry import get_service


def build_worker_app(service: str, settings=None) -> Celery:
    spec = get_service(service)
    if not spec.queues:
        raise SystemExit(f"service {service!r} has no queues, so it has no worker")
    settings = settings or load_settings()
    celery = make_celery(service, settings)
    tasks = importlib.import_module(f"{spec.package}.tasks")
    tasks.register_tasks(celery)
    return celery
