"""Database helpers: one SQLAlchemy extension per service, each with its own metadata."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_db() -> SQLAlchemy:
    """A service's own database extension; its models never share metadata with another's."""
    return SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class JsonText:
    """A property over a Text column holding JSON: `data = JsonText("data_json", dict)`.

    Reading an empty column gives `default` (called when callable). Writing None stores NULL when
    `none_is_null` (for nullable columns), else the JSON text `null`."""

    def __init__(self, column: str, default, none_is_null: bool = False):
        self.column = column
        self.default = default
        self.none_is_null = none_is_null

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        raw = getattr(obj, self.column)
        if raw:
            return json.loads(raw)
        return self.default() if callable(self.default) else self.default

    def __set__(self, obj, value) -> None:
        if value is None and self.none_is_null:
            setattr(obj, self.column, None)
        else:
            setattr(obj, self.column, json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def utcnow() -> datetime:
    """Naive UTC, stored the same on SQLite and MariaDB."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: datetime) -> datetime:
    """Aware datetimes from requests become naive UTC, as stored."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every request. A connection
    # is pinged only after it sat idle in the pool (see _ping_if_idle); a server gone since then is
    # caught by SQLAlchemy's disconnect handling, which invalidates the pool.
    return {"pool_recycle": 3600, "pool_size": 10, "max_overflow": 10}


# A pooled server connection idle for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 10.0


@event.listens_for(Pool, "checkin")
def _mark_idle(dbapi_connection, record) -> None:
    if dbapi_connection is not None:
        record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """Pessimistic disconnect handling for connections that waited in the pool: a dead one is
    replaced (DisconnectionError makes the pool connect afresh) instead of failing the request."""
    ping = getattr(dbapi_connection, "ping", None)  # PyMySQL's; SQLite files need none
    since = record.info.get("idle_since")
    if ping is None or since is None or time.monotonic() - since < IDLE_PING_SECONDS:
        return
    try:
        ping(reconnect=False)
    except Exception as exc:
        raise DisconnectionError("the pooled connection is gone") from exc


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets the embedded profile's web threads, worker and beat read while one writes.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
