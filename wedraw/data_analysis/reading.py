"""Where dashboard and report queries read: the read replica when one is configured.

`WEDRAW_ANALYTICS_REPLICA_URL` set: `read_session()` yields a session bound to the replica's
engine (one per app and URL), whose connections are read-only at the database
(`SET SESSION TRANSACTION READ ONLY` on MariaDB/MySQL, `PRAGMA query_only` on SQLite) and
which refuses to flush ORM changes. Unset: the service's own session. Writes (facts,
roll-ups, report status) always use `db.session`, the primary. Without a replica, reads get a
read-only session of their own on the primary's engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from wedraw.core.db import engine_options
from wedraw.data_analysis.models import db

_EXTENSION = "wedraw.analytics_replica"


class ReadOnlySession(Session):
    """A session that never writes: flushing ORM changes is refused."""

    def flush(self, objects=None):
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("the analytics read replica is read-only")
        return super().flush(objects)


def _read_only(engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
        cursor.close()


def replica_engine(app=None):
    """The replica's engine, or None when no replica is configured."""
    app = app or current_app
    url = app.config["WEDRAW_SETTINGS"].analytics_replica_url
    if not url:
        return None
    engines = app.extensions.setdefault(_EXTENSION, {})
    if url not in engines:
        engine = create_engine(url, **engine_options(url))
        _read_only(engine)
        engines[url] = engine
    return engines[url]


@contextmanager
def read_session() -> Iterator[Session]:
    # Without a replica: a session of its own on the primary, so a report's progress commits
    # (on db.session) never end the transaction its reads run in.
    session = ReadOnlySession(bind=replica_engine() or db.engine)
    try:
        yield session
    finally:
        session.rollback()
        session.close()
