"""Connection pooling against a real server: a connection the server dropped while it sat in the pool
is replaced before a request gets it, without a ping on every checkout."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKEND, MYSQL_URLS
from wedraw.core import db as core_db
from wedraw.user_center.models import db


@pytest.mark.skipif(BACKEND != "mysql", reason="a server-side KILL needs the MariaDB tier")
def test_a_pooled_connection_the_server_dropped_is_replaced(apps, monkeypatch):
    app = apps["user_center"]
    with app.app_context():
        first = db.session.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        db.session.remove()  # the connection goes back to the pool

    admin = create_engine(MYSQL_URLS["user_center"])
    with admin.connect() as conn:
        conn.execute(text(f"KILL {int(first)}"))
    admin.dispose()

    monkeypatch.setattr(core_db, "IDLE_PING_SECONDS", 0.0)  # it has been idle long enough
    with app.app_context():
        second = db.session.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        db.session.remove()
    assert second != first


@pytest.mark.skipif(BACKEND != "mysql", reason="counts server round trips on the MariaDB tier")
def test_a_busy_pool_does_not_ping_on_every_checkout(apps):
    app = apps["user_center"]
    pings = []
    with app.app_context():
        raw = db.engine.raw_connection()
        connection = raw.driver_connection
        original = connection.ping
        raw.close()

        def counting_ping(*args, **kwargs):
            pings.append(1)
            return original(*args, **kwargs)

        connection.ping = counting_ping
        try:
            for _ in range(5):
                db.session.execute(text("SELECT 1"))
                db.session.remove()
        finally:
            connection.ping = original
    assert pings == []
