"""An audit record for every write an admin makes, in every service.

The user center owns the audit log. It records its own writes directly; every other
service hands each record to the user center's `user_center.record_audit` task.

A record the broker does not take is not dropped: it is appended to this host's spool
(`<var>/audit-spool/<service>.jsonl`, one JSON line per record, shared by the service's
processes under a file lock) and handed on after the next record the broker does take,
or by `python -m wedraw.cli audit replay`. The task stores a record once per event id, so
a record handed on twice is still one row.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

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


REPLAY_LIMIT = 500  # records handed on from the spool after one successful send (the rest wait for the next)


class AuditSpool:
    """Audit records the broker did not take, on this host's disk until it does."""

    def __init__(self, directory: Path, service: str):
        self.directory = directory
        self.service = service
        self.path = directory / f"{service}.jsonl"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f"{self.service}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, records: list[dict]) -> None:
        if not records:
            return
        lines = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        with self._locked(), open(self.path, "a+", encoding="utf-8") as spool:
            if spool.tell() > 0:
                spool.seek(spool.tell() - 1)
                if spool.read(1) != "\n":  # a line torn by a crash mid-write: never glue a record to it
                    lines = "\n" + lines
            spool.write(lines)
            spool.flush()
            os.fsync(spool.fileno())

    def _lines(self) -> list[str]:
        """The spooled records, a line each (call it with the lock held)."""
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as spool:
            return [line for line in spool if line.strip()]

    def pending(self) -> int:
        """Records waiting (a cheap check first: no file, nothing waits)."""
        if not self.path.exists():
            return 0
        with self._locked():
            return len(self._lines())

    def replay(self, send: Callable[[dict], None], limit: int = REPLAY_LIMIT) -> int:
        """Hand on up to `limit` records, oldest first, until `send` raises; returns how many went.

        The spool stays locked throughout and a record leaves the file only after it was sent, so
        a crash mid-replay sends some records again (stored once) and loses none."""
        if not self.path.exists():
            return 0
        with self._locked():
            lines = self._lines()
            done = sent = 0
            for line in lines[:limit]:
                try:
                    record = json.loads(line)
                except ValueError:  # a line torn by a crash mid-write: nothing to hand on
                    log.error("unreadable audit spool line dropped: %r", line[:200])
                    done += 1
                    continue
                try:
                    send(record)
                except Exception:
                    break
                done += 1
                sent += 1
            rest = lines[done:]
            if rest:
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                with open(tmp, "w", encoding="utf-8") as out:
                    out.writelines(line if line.endswith("\n") else line + "\n" for line in rest)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            else:
                self.path.unlink(missing_ok=True)
        return sent


def spool_of(settings, service: str) -> AuditSpool:
    """The spool of `service` on this host (under the settings' var dir)."""
    return AuditSpool(settings.var_dir / "audit-spool", service)


def spool_for(app: Flask) -> AuditSpool:
    spool = app.extensions.get("wedraw.audit_spool")
    if spool is None:
        spool = spool_of(app.config["WEDRAW_SETTINGS"], app.config["WEDRAW_SERVICE"])
        app.extensions["wedraw.audit_spool"] = spool
    return spool


def _send(record: dict) -> None:
    celery = current_app.extensions["celery"]
    celery.send_task(AUDIT_TASK, kwargs={"record": record}, queue=AUDIT_QUEUE)


def replay(limit: int = REPLAY_LIMIT) -> int:
    """Hand on this app's spooled records (up to `limit`); returns how many the broker took."""
    return spool_for(current_app).replay(_send, limit)


def celery_sink(record: dict) -> None:
    """Hand the record to the user center's task; if the broker refuses, keep it in the spool."""
    try:
        _send(record)
    except Exception as exc:
        spool = spool_for(current_app)
        spool.add([record])
        log.warning(
            "broker unavailable: audit record kept in %s until it is back (%s)",
            spool.path,
            type(exc).__name__,
            extra={"fields": {"event_id": record["event_id"], "action": record["action"]}},
        )
        return
    replay()  # the broker is back (or never left): hand on what an outage left behind


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
