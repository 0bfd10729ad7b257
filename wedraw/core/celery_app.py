"""Celery apps built from the same factory as the web apps.

Each service with tasks has its own Celery app (worker programs run one service's app
on one of its queues). The task base pushes that service's Flask app context and carries
the caller's request id into the worker's log lines.
"""

from __future__ import annotations

import logging

from celery import Celery, Task
from celery.signals import before_task_publish, task_postrun, task_prerun

from wedraw.core.logs import request_id_var, service_var
from wedraw.core.registry import all_queues, get_service

log = logging.getLogger("wedraw.tasks")

# Long enough to outlive any countdown/eta a task is given (see tasks that schedule ahead).
VISIBILITY_TIMEOUT = 6 * 3600


def celery_config(settings) -> dict:
    broker = settings.celery_broker_url
    config = {
        "broker_url": broker,
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": 600,
        "task_soft_time_limit": 540,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT},
        "worker_hijack_root_logger": False,
        "task_default_queue": "default",
        "task_create_missing_queues": True,
    }
    if broker.startswith("sqla+"):
        # kombu's SQLAlchemy transport hands its options to create_engine, nothing else.
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        config["broker_transport_options"] = {"connect_args": {"timeout": 30}}
    elif broker.startswith("memory"):
        config["broker_transport_options"] = {}
    return config


def make_celery(service: str, settings, flask_app_factory=None) -> Celery:
    """The Celery app of one service. Its tasks run inside that service's Flask app."""
    spec = get_service(service)
    celery = Celery(f"wedraw.{service}", set_as_current=False)
    celery.conf.update(celery_config(settings))
    celery.conf.task_default_queue = spec.queues[0] if spec.queues else "default"
    state: dict = {}

    def flask_app():
        if "app" not in state:
            if flask_app_factory is not None:
                state["app"] = flask_app_factory()
            else:
                from wedraw.core.factory import create_app

                state["app"] = create_app(service, settings=settings, celery=celery)
        return state["app"]

    class ServiceTask(Task):
        abstract = True
        # Every task states its retry policy; this is the default ceiling.
        max_retries = 5

        def __call__(self, *args, **kwargs):
            with flask_app().app_context():
                return super().__call__(*args, **kwargs)

    celery.Task = ServiceTask
    celery.flask_app = flask_app  # type: ignore[attr-defined]
    celery.wedraw_state = state  # type: ignore[attr-defined]
    celery.wedraw_service = service  # type: ignore[attr-defined]
    return celery


def queue_owner(queue: str) -> str | None:
    return all_queues().get(queue)


@before_task_publish.connect
def _carry_request_id(headers=None, **_):
    rid = request_id_var.get()
    if headers is not None and rid and "wedraw_request_id" not in headers:
        headers["wedraw_request_id"] = rid


@task_prerun.connect
def _restore_request_id(task=None, **_):
    rid = getattr(task.request, "wedraw_request_id", None) if task else None
    request_id_var.set(rid)
    service_var.set(getattr(task.app, "wedraw_service", None) if task else None)


@task_postrun.connect
def _clear_request_id(**_):
    request_id_var.set(None)
