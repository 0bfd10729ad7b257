"""An audit record for every write an admin makes, in every service.

The user center owns the audit log. It records its own writes directly; every other
service hands each record to the user center's `user_center.record_audit` task.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask, current_app, g, request

log = logging.getLogger("wedraw.audit")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDIT_TASK = "user_center.record_audit"
AUDIT_QUEUE = "user_center"
NO_AUDIT_ATTR = "_wedraw_no_audit"

AuditSink = Callable[[dict], None]


def no_audit(fn):
    """For writes that keep their own log instead (login keeps the login log)."""
    setattr(fn, NO_AUDIT_ATTR, True)
    return fn


def set_target(target: str) -> None:
    """Name what a write acted on (e.g. `user:12`); shown in the audit log."""
    g.audit_target = target


def celery_sink(record: dict) -> None:
    celery = current_app.extensions["celery"]
    celery.send_task(AUDIT_TASK, kwargs={"record": record}, queue=AUDIT_QUEUE)


def _build_record(service: str, response) -> dict | None:
    identity = getattr(g, "identity", None)
    if request.method not in WRITE_METHODS or identity is None or request.endpoint is None:
        return None
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, NO_AUDIT_ATTR, False):
        return None
    return {
        "event_id": uuid.uuid4().hex,
        "created_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "user_id": identity["user_id"],
        "username": identity["username"],
        "service": service,
        "action": request.endpoint,
        "method": request.method,
        "path": request.path,
        "target": getattr(g, "audit_target", None)
        or "/".join(f"{k}={v}" for k, v in (request.view_args or {}).items()),
        "ip": request.remote_addr,
        "outcome": "success" if response.status_code < 400 else "failure",
        "status_code": response.status_code,
        "request_id": getattr(g, "request_id", None),
    }


def init_audit(app: Flask, service: str, sink: AuditSink | None = None) -> None:
    app.extensions["wedraw.audit_sink"] = sink or celery_sink

    @app.after_request
    def _audit(response):
        record = _build_record(service, response)
        if record is not None:
            try:
                current_app.extensions["wedraw.audit_sink"](record)
            except Exception:  # the write already happened; never turn it into an error
                log.exception("audit record could not be handed on", extra={"fields": record})
        return response
