"""JSON logs naming the service and carrying the request id, the same in web and workers."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid

from flask import Flask, g, request

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
service_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("service", default=None)

_SENSITIVE = ("password", "secret", "token", "authorization", "session_key", "aes_key")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": service_var.get() or self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = "***" if any(s in key.lower() for s in _SENSITIVE) else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO", log_file: str | None = None) -> None:
    """Send every log line of this process to stderr as JSON (Supervisor files it).

    `log_file` sends them to a file instead (the embedded runner keeps its terminal quiet).
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_wedraw", False)), None)
    if handler is None:
        handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
        handler._wedraw = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter(service))
    root.setLevel(level)
    for noisy in ("werkzeug", "urllib3", "kombu", "amqp", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # waitress warns whenever a request waits for one of its threads: a pool doing its job, not a fault.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def _clean_request_id(value: str | None) -> str:
    if value and 0 < len(value) <= 128 and all(c.isalnum() or c in "-_.:" for c in value):
        return value
    return uuid.uuid4().hex


def init_request_logging(app: Flask, service: str) -> None:
    access = logging.getLogger("wedraw.access")

    @app.before_request
    def _start_request():
        g.request_id = _clean_request_id(request.headers.get("X-Request-ID"))
        g.started = time.perf_counter()
        g._rid_token = request_id_var.set(g.request_id)
        g._svc_token = service_var.set(service)

    @app.after_request
    def _finish_request(response):
        rid = getattr(g, "request_id", None)
        if rid:
            response.headers["X-Request-ID"] = rid
        started = getattr(g, "started", None)
        if started is not None and request.path != "/health" and access.isEnabledFor(logging.INFO):
            access.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "fields": {
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                        "ip": request.remote_addr,
                    }
                },
            )
        return response

    @app.teardown_request
    def _reset_context(_exc):
        for var, name in ((request_id_var, "_rid_token"), (service_var, "_svc_token")):
            token = g.pop(name, None)
            if token is not None:
                try:
                    var.reset(token)
                except ValueError:
                    var.set(None)
