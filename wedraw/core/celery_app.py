"""Celery apps built from the same factory as the web apps.

Each service with tasks has its own Celery app (worker programs run one service's app
on one of its queues). The task base pushes that service's Flask app context and carries
the caller's request id into the worker's log lines.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from celery import Celery, Task
from celery.signals import beat_init, before_task_publish, task_postrun, task_prerun, worker_ready, worker_shutdown

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

        @classmethod
        def on_bound(cls, app) -> None:
            # A task with its own hard limit below the default soft one gets a soft limit under it: Celery
            # refuses to queue (and so to retry) a task whose soft limit exceeds its hard one.
            if cls.time_limit and (cls.soft_time_limit is None or cls.soft_time_limit > cls.time_limit):
                cls.soft_time_limit = max(1, cls.time_limit - max(5, cls.time_limit // 10))

    celery.Task = ServiceTask
    celery.wedraw_settings = settings  # type: ignore[attr-defined]
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


# --------------------------------------------------------------------------- heartbeats
#
# Every worker and beat records "alive" in the shared store every HEARTBEAT_INTERVAL
# seconds, so the console can show which are alive (the message center's /workers).
# Workers: `heartbeat:workers:<queue>` holds {node: {...}} for the queue's consumers,
# updated under a short lock; beat: `heartbeat:beat`.

HEARTBEAT_INTERVAL = 10.0
HEARTBEAT_TTL = 45  # seconds without a beat after which a process counts as gone


def worker_heartbeat_key(queue: str) -> str:
    return f"heartbeat:workers:{queue}"


BEAT_HEARTBEAT_KEY = "heartbeat:beat"


def record_worker_heartbeat(store, queue: str, node: str, info: dict | None) -> None:
    """Add, refresh (info) or remove (None) one node of a queue's heartbeat record."""
    from wedraw.core.store import lock

    key = worker_heartbeat_key(queue)
    with lock(store, key, ttl=5, wait=3):
        nodes = json.loads(store.get(key) or "{}")
        now = time.time()
        nodes = {n: v for n, v in nodes.items() if now - v.get("at", 0) < HEARTBEAT_TTL * 4}
        if info is None:
            nodes.pop(node, None)
        else:
            nodes[node] = {**info, "at": now}
        store.set(key, json.dumps(nodes), ttl=HEARTBEAT_TTL * 8)


def _beating(write, name: str) -> threading.Event:
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                write()
            except Exception as exc:  # the store being down must not stop the worker
                log.warning("heartbeat not written: %s", type(exc).__name__)
            stop.wait(HEARTBEAT_INTERVAL)

    threading.Thread(target=loop, name=name, daemon=True).start()
    return stop


_heartbeats: dict[str, tuple[threading.Event, object, list[str]]] = {}


@worker_ready.connect
def _start_worker_heartbeat(sender=None, **_):
    app = getattr(sender, "app", None)
    settings = getattr(app, "wedraw_settings", None)
    node = getattr(sender, "hostname", None)
    if settings is None or node in _heartbeats:  # not a WeDraw worker, or a consumer restart
        return
    from wedraw.core.store import store_for

    queues = sorted(q.name for q in sender.task_consumer.queues) if sender.task_consumer else []
    pool = getattr(sender.controller, "pool_cls", None)
    info = {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "service": getattr(app, "wedraw_service", None),
        "queues": queues,
        "pool": getattr(pool, "__module__", str(pool)).rsplit(".", 1)[-1] if pool else None,
        "concurrency": getattr(sender.controller, "concurrency", None),
        "started": time.time(),
    }

    def write():
        store = store_for(settings)
        for queue in queues:
            record_worker_heartbeat(store, queue, node, info)

    _heartbeats[node] = (_beating(write, "wedraw-heartbeat"), settings, queues)


@worker_shutdown.connect
def _stop_worker_heartbeat(sender=None, **_):
    """A worker that stops cleanly leaves the record at once (a killed one ages out)."""
    from wedraw.core.store import store_for

    for node, (stop, settings, queues) in list(_heartbeats.items()):
        stop.set()
        _heartbeats.pop(node, None)
        try:
            for queue in queues:
                record_worker_heartbeat(store_for(settings), queue, node, None)
        except Exception as exc:
            log.warning("heartbeat not removed: %s", type(exc).__name__)


@beat_init.connect
def _start_beat_heartbeat(sender=None, **_):
    from wedraw.core.config import load_settings
    from wedraw.core.store import store_for

    settings = load_settings()
    info = {"hostname": socket.gethostname(), "pid": os.getpid(), "started": time.time()}

    def write():
        store_for(settings).set(BEAT_HEARTBEAT_KEY, json.dumps({**info, "at": time.time()}), ttl=HEARTBEAT_TTL * 8)

    _heartbeats["beat"] = (_beating(write, "wedraw-beat-heartbeat"), settings, [])
