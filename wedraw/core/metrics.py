"""Prometheus metrics: `/metrics` on every service, right under several gunicorn workers.

What is measured:
- HTTP requests by service, method, route (the URL rule, never the raw path) and status,
  as a counter and a latency histogram;
- Celery task outcomes and durations by service and task, and when each task last ran;
- WeChat API calls by endpoint and errcode, and access-token fetches
  (bridged from `wedraw.wechat.metrics`);
- on the gateway, at scrape time: the length of every Celery queue in the broker and the
  last heartbeat of beat (`HeartbeatScheduler`), so "queue growing" and "beat silent" can
  alert.

Under gunicorn each worker is a process of its own, so a counter kept in memory would be
one worker's share. When `PROMETHEUS_MULTIPROC_DIR` is set (Supervisor sets one directory
per program) prometheus_client keeps every value in a per-process file there and
`/metrics` adds them up; a service's page also adds up the directories of its Celery
workers (`WEDRAW_METRICS_EXTRA_DIRS`), so task outcomes appear on the owner's page.
deploy/gunicorn.conf.py empties the directory when gunicorn starts. Without the variable
(the embedded runner, tests) values live in this process and each service's page shows
its own series.

`/metrics` is public (Prometheus does not sign in) and exempt from the API rate limit;
Nginx refuses it to everyone but the addresses in its allow list.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from celery.beat import PersistentScheduler
from celery.signals import task_postrun, task_prerun
from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from wedraw.core.auth import public

log = logging.getLogger("wedraw.metrics")

METRICS_PATH = "/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
EXTRA_DIRS_SETTING = "WEDRAW_METRICS_EXTRA_DIRS"
BEAT_HEARTBEAT_KEY = "beat:heartbeat"
UNMATCHED_ROUTE = "<unmatched>"

_multiproc_dir = os.environ.get(MULTIPROC_ENV)
if _multiproc_dir:
    # prometheus_client writes here on the first observation; the directory must exist.
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)

# `*_created` series double every page for no use on our dashboards (and multiprocess mode
# never has them), so no mode shows them.
disable_created_metrics()

# Our metric objects live in a registry of their own, so that in single-process mode each
# service's page can show only its own series (the embedded runner serves every service
# from one process). In multiprocess mode the registry is not read: the files are.
METRICS = CollectorRegistry(auto_describe=False)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "wedraw_http_requests",
    "HTTP requests answered, by service, method, route and status.",
    ("service", "method", "route", "status"),
    registry=METRICS,
)
HTTP_LATENCY = Histogram(
    "wedraw_http_request_duration_seconds",
    "Time from the start of a request to its response, by service, method, route and status.",
    ("service", "method", "route", "status"),
    buckets=LATENCY_BUCKETS,
    registry=METRICS,
)
TASKS = Counter(
    "wedraw_celery_tasks",
    "Celery tasks that finished a run, by service, task and outcome (success, failure, retry, ...).",
    ("service", "task", "outcome"),
    registry=METRICS,
)
TASK_LATENCY = Histogram(
    "wedraw_celery_task_duration_seconds",
    "Run time of Celery tasks, by service and task.",
    ("service", "task"),
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0),
    registry=METRICS,
)
TASK_LAST_RUN = Gauge(
    "wedraw_celery_task_last_run_timestamp_seconds",
    "When a task last finished a run (Unix time), by service and task.",
    ("service", "task"),
    multiprocess_mode="max",
    registry=METRICS,
)
WECHAT_CALLS = Counter(
    "wedraw_wechat_api_calls",
    "HTTP requests to WeChat's API, by endpoint and errcode (0 is success).",
    ("endpoint", "errcode"),
    registry=METRICS,
)
WECHAT_LATENCY = Histogram(
    "wedraw_wechat_api_call_duration_seconds",
    "Time of HTTP requests to WeChat's API, by endpoint.",
    ("endpoint",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
    registry=METRICS,
)
WECHAT_TOKEN_FETCHES = Counter(
    "wedraw_wechat_token_fetches",
    "Requests to WeChat's access-token endpoint, by app and outcome.",
    ("app", "outcome"),
    registry=METRICS,
)

# The families that carry a `service` label; single-process pages filter them by it.
_SERVICE_LABELLED = {
    "wedraw_http_requests",
    "wedraw_http_request_duration_seconds",
    "wedraw_celery_tasks",
    "wedraw_celery_task_duration_seconds",
    "wedraw_celery_task_last_run_timestamp_seconds",
}


def multiprocess_dirs(settings) -> list[str]:
    """The directories this process's page adds up: its own, then its workers'."""
    own = os.environ.get(MULTIPROC_ENV)
    if not own:
        return []
    extra = (settings.extra.get(EXTRA_DIRS_SETTING) or "") if settings is not None else ""
    return [own, *(d for d in extra.split(",") if d.strip())]


class _ServiceView:
    """Single-process mode: our families, restricted to one service's series."""

    def __init__(self, service: str):
        self.service = service

    def collect(self) -> Iterable:
        for family in METRICS.collect():
            if family.name in _SERVICE_LABELLED:
                family.samples = [s for s in family.samples if s.labels.get("service") == self.service]
            yield family


class QueueCollector:
    """Length of every Celery queue, asked of the broker at scrape time (the gateway's page)."""

    def __init__(self, settings, timeout: float = 2.0):
        self.settings = settings
        self.timeout = timeout

    def _lengths(self) -> dict[str, int]:
        from kombu import Connection
        from kombu.exceptions import ChannelError

        from wedraw.core.celery_app import celery_config
        from wedraw.core.registry import all_queues

        config = celery_config(self.settings)
        options = dict(config.get("broker_transport_options") or {})
        if config["broker_url"].startswith(("redis", "rediss")):
            options.update(socket_timeout=self.timeout, socket_connect_timeout=self.timeout)
        lengths = {}
        with Connection(config["broker_url"], connect_timeout=self.timeout, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=self.timeout)
            channel = conn.default_channel
            for queue in all_queues():
                try:
                    lengths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:
                    lengths[queue] = 0  # a queue nothing was ever sent to, or an emptied Redis list
        return lengths

    def collect(self) -> Iterable:
        up = GaugeMetricFamily("wedraw_celery_broker_up", "1 when the broker answered the last scrape.")
        length = GaugeMetricFamily(
            "wedraw_celery_queue_length", "Messages waiting in a Celery queue.", labels=("queue",)
        )
        try:
            lengths = self._lengths()
        except Exception as exc:  # a scrape reports the broker as down; it never fails the page
            log.warning("broker did not answer the queue-length scrape: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for queue, count in sorted(lengths.items()):
            length.add_metric([queue], count)
        yield up
        yield length


class BeatCollector:
    """When beat last ticked (`HeartbeatScheduler` writes it to the shared store)."""

    def __init__(self, settings):
        self.settings = settings

    def collect(self) -> Iterable:
        from wedraw.core.store import store_for

        try:
            value = store_for(self.settings).get(BEAT_HEARTBEAT_KEY)
        except Exception as exc:
            log.warning("shared store did not answer the beat heartbeat scrape: %s", type(exc).__name__)
            return
        if value is None:
            return  # never ticked (or the key expired): the alert uses absent()
        family = GaugeMetricFamily(
            "wedraw_celery_beat_heartbeat_timestamp_seconds", "When beat last ticked (Unix time)."
        )
        family.add_metric([], float(value))
        yield family


class AuditSpoolCollector:
    """Audit records of one service waiting in this host's spool for the broker (`wedraw.core.audit`)."""

    def __init__(self, settings, service: str):
        self.settings = settings
        self.service = service

    def collect(self) -> Iterable:
        from wedraw.core.audit import spool_of

        family = GaugeMetricFamily(
            "wedraw_audit_spool_records",
            "Audit records on this host that the broker refused and that wait to be handed on.",
            labels=["service"],
        )
        family.add_metric([self.service], spool_of(self.settings, self.service).pending())
        yield family


def render(service: str, settings=None) -> bytes:
    """The text of one service's `/metrics` page."""
    registry = CollectorRegistry(auto_describe=False)
    dirs = multiprocess_dirs(settings)
    if dirs:
        for directory in dirs:
            if Path(directory).is_dir():
                MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ServiceView(service))
        # The process's own collectors (CPU, memory, GC) mean something only in this mode.
        registry.register(REGISTRY)
    if service == "gateway" and settings is not None:
        registry.register(QueueCollector(settings))
        registry.register(BeatCollector(settings))
    if service not in ("gateway", "user_center") and settings is not None:  # the user center audits directly
        registry.register(AuditSpoolCollector(settings, service))
    return generate_latest(registry)


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def init_metrics(app: Flask, service: str) -> None:
    """Time and count every request of `app` and serve `/metrics` (public, not rate-limited)."""
    settings = app.config.get("WEDRAW_SETTINGS")

    def _start() -> None:
        g._metrics_started = time.perf_counter()

    def _record(status: int) -> None:
        started = g.pop("_metrics_started", None)
        if started is None or request.path == METRICS_PATH:
            return
        labels = (service, request.method, _route(), str(status))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)

    def _after(response):
        _record(response.status_code)
        return response

    def _teardown(exc) -> None:
        if exc is not None:  # no response was made: the client saw a 500
            _record(500)

    # First of all before-request hooks, so requests refused by auth or the limiter are timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_after)
    app.teardown_request(_teardown)

    @public
    def metrics():
        return Response(render(service, settings), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule(METRICS_PATH, "metrics", metrics, methods=["GET"])
    limiter = app.extensions.get("wedraw.limiter")
    if limiter is not None:
        limiter.exempt(metrics)


# --- Celery tasks: connected at import; worker programs import this module (`--include`).

_task_started: dict[str, float] = {}
_task_lock = threading.Lock()


def _task_service(task) -> str:
    return getattr(getattr(task, "app", None), "wedraw_service", None) or "unknown"


@task_prerun.connect(weak=False)
def _task_prerun(task_id=None, task=None, **_) -> None:
    if task_id:
        with _task_lock:
            _task_started[task_id] = time.perf_counter()


@task_postrun.connect(weak=False)
def _task_postrun(task_id=None, task=None, state=None, **_) -> None:
    with _task_lock:
        started = _task_started.pop(task_id, None) if task_id else None
    if task is None:
        return
    service, name = _task_service(task), task.name
    TASKS.labels(service, name, (state or "unknown").lower()).inc()
    TASK_LAST_RUN.labels(service, name).set(time.time())
    if started is not None:
        TASK_LATENCY.labels(service, name).observe(time.perf_counter() - started)


# --- WeChat: `wedraw.wechat.metrics` counts calls in memory for its own snapshot(); we add
# each call to the Prometheus counters too, which add up across processes.

_BRIDGED_ATTR = "_wedraw_prometheus_bridge"


def bridge_wechat_metrics() -> bool:
    """Mirror `wedraw.wechat.metrics.metrics` into the Prometheus counters (idempotent)."""
    try:
        from wedraw.wechat.metrics import metrics as wechat
    except ImportError:
        return False
    if getattr(wechat, _BRIDGED_ATTR, False):
        return True
    api_called, token_fetched = wechat.api_called, wechat.token_fetched

    def api_called_and_exported(endpoint: str, errcode: int | str, elapsed_ms: float) -> None:
        api_called(endpoint, errcode, elapsed_ms)
        WECHAT_CALLS.labels(endpoint, str(errcode)).inc()
        WECHAT_LATENCY.labels(endpoint).observe(max(elapsed_ms, 0.0) / 1000)

    def token_fetched_and_exported(app: str, outcome: int | str = "ok") -> None:
        token_fetched(app, outcome)
        WECHAT_TOKEN_FETCHES.labels(app, str(outcome)).inc()

    wechat.api_called = api_called_and_exported
    wechat.token_fetched = token_fetched_and_exported
    setattr(wechat, _BRIDGED_ATTR, True)
    return True


bridge_wechat_metrics()


# --- beat


class HeartbeatScheduler(PersistentScheduler):
    """Celery's persistent scheduler, writing a heartbeat to the shared store as it ticks.

    Beat ticks at least every `beat_max_loop_interval` (5 minutes by default), so a
    heartbeat older than that means beat has stopped scheduling, whatever its process
    state. Run it with `celery -A workers.beat beat --scheduler wedraw.core.metrics:HeartbeatScheduler`.
    """

    heartbeat_every = 15.0  # seconds: ticks can come much faster when many jobs are due
    heartbeat_ttl = 7 * 86400

    def __init__(self, *args, **kwargs):
        self._last_heartbeat = 0.0
        self._heartbeat_store = None
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        now = time.time()
        if now - self._last_heartbeat >= self.heartbeat_every:
            self._heartbeat(now)
        return interval

    def _heartbeat(self, now: float) -> None:
        try:
            if self._heartbeat_store is None:
                from wedraw.core.config import load_settings
                from wedraw.core.store import store_for

                self._heartbeat_store = store_for(load_settings())
            self._heartbeat_store.set(BEAT_HEARTBEAT_KEY, repr(now), ttl=self.heartbeat_ttl)
            self._last_heartbeat = now
        except Exception as exc:  # a heartbeat must never stop beat from scheduling
            log.warning("beat heartbeat not written: %s", type(exc).__name__)
