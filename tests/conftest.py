"""Shared fixtures: one session of migrated service databases, isolation per test.

Two backends run the same tests:
- embedded (always): a SQLite file per service, the SQLite shared store, the SQLite broker;
- mysql (`WEDRAW_TEST_BACKEND=mysql`, with WEDRAW_TEST_MYSQL_URL and WEDRAW_TEST_REDIS_URL):
  one MariaDB/MySQL database per service, Redis for the shared store, rate limits and broker.
`make test` runs the suite once per backend that this machine can reach.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from wedraw.core.config import load_settings
from wedraw.core.factory import create_app, service_db
from wedraw.core.migrations import upgrade
from wedraw.core.registry import DATABASE_SERVICES, WEB_SERVICES
from wedraw.core.serving import start_server, stop_server
from wedraw.core.store import reset_store_cache, store_for

ADMIN_PASSWORD = "Admin-pass-2026"
BACKEND = os.environ.get("WEDRAW_TEST_BACKEND", "embedded")
REQUIRE_ALL_TIERS = os.environ.get("WEDRAW_REQUIRE_ALL_TIERS") == "1"


def pytest_report_header(config):
    return f"wedraw backend: {BACKEND}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Separate prefixes (and Redis databases) let two MariaDB-tier runs share one server.
DB_PREFIX = os.environ.get("WEDRAW_TEST_DB_PREFIX", "wedraw_test")


def _mysql_urls() -> dict[str, str]:
    base = os.environ.get("WEDRAW_TEST_MYSQL_URL")
    if not base or not os.environ.get("WEDRAW_TEST_REDIS_URL"):
        pytest.exit("WEDRAW_TEST_BACKEND=mysql needs WEDRAW_TEST_MYSQL_URL and WEDRAW_TEST_REDIS_URL", returncode=2)
    server = make_url(base)
    engine = create_engine(server.set(database=None))
    urls = {}
    with engine.connect() as conn:
        for name in DATABASE_SERVICES:
            database = f"{DB_PREFIX}_{name}"
            conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
            conn.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
            urls[name] = server.set(database=database, query={"charset": "utf8mb4"}).render_as_string(
                hide_password=False
            )
    engine.dispose()
    return urls


def build_settings(var_dir: Path, **overrides: str):
    environ = {
        "WEDRAW_VAR_DIR": str(var_dir),
        "WEDRAW_RATE_LIMIT": "100000/minute",
        "WEDRAW_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WEDRAW_LOG_LEVEL": "WARNING",
    }
    if BACKEND == "mysql":
        redis_url = os.environ["WEDRAW_TEST_REDIS_URL"]
        environ.update(
            WEDRAW_REDIS_URL=redis_url,
            WEDRAW_RATE_LIMIT_STORAGE_URL=redis_url,
            WEDRAW_CELERY_BROKER_URL=redis_url,
        )
        for name, url in MYSQL_URLS.items():
            environ[f"WEDRAW_{name.upper()}_DATABASE_URL"] = url
    environ.update(overrides)
    return load_settings(environ=environ, profile="test")


MYSQL_URLS: dict[str, str] = {}


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    if BACKEND == "mysql":
        MYSQL_URLS.update(_mysql_urls())
    var_dir = tmp_path_factory.mktemp("var")
    settings = build_settings(var_dir)
    for name in DATABASE_SERVICES:
        upgrade(name, settings=settings)
    return settings


@pytest.fixture(scope="session")
def apps(settings):
    """Every web service's app, built once per session from the shared factory."""
    return {name: create_app(name, settings=settings) for name in WEB_SERVICES}


def _wipe(apps, settings) -> None:
    for app in apps.values():
        if "wedraw.db" not in app.extensions:
            continue
        with app.app_context():
            db = service_db(app)
            db.session.remove()
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(delete(table))
        app.extensions["wedraw.limiter"].reset()
    store = store_for(settings)
    if BACKEND == "mysql":
        store.client.flushdb()  # the broker's queues too: the same Redis database
    else:
        with store._conn() as conn:
            conn.execute("DELETE FROM kv")
        _purge_sqlite_broker(settings.celery_broker_url)


def _purge_sqlite_broker(url: str) -> None:
    """Drop the tasks earlier tests queued without a worker (audit records, hand-offs): a test's own
    worker would otherwise work through all of them before reaching the test's task."""
    path = Path(url.removeprefix("sqla+sqlite:///"))
    if not url.startswith("sqla+sqlite:///") or not path.exists():
        return
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn, conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kombu_message'").fetchone():
            conn.execute("DELETE FROM kombu_message")


@pytest.fixture(autouse=True)
def clean(request):
    """Every test that touches the apps starts from seeded, otherwise empty databases."""
    if "apps" not in request.fixturenames:
        yield
        return
    apps = request.getfixturevalue("apps")
    settings = request.getfixturevalue("settings")
    _wipe(apps, settings)
    from wedraw.user_center.services import ensure_admin

    with apps["user_center"].app_context():
        ensure_admin(ADMIN_PASSWORD)
    yield


@pytest.fixture
def client(apps):
    """Test client of one service by registry name: client('user_center')."""
    return lambda name="user_center": apps[name].test_client()


class Session:
    """A signed-in admin: headers for every service."""

    def __init__(self, tokens: dict):
        self.tokens = tokens
        self.access = tokens["access_token"]
        self.refresh = tokens["refresh_token"]

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access}"}


@pytest.fixture
def login(apps):
    def _login(username: str = "admin", password: str = ADMIN_PASSWORD, ip: str = "127.0.0.1") -> Session:
        response = (
            apps["user_center"]
            .test_client()
            .post(
                "/api/auth/login", json={"username": username, "password": password}, environ_base={"REMOTE_ADDR": ip}
            )
        )
        assert response.status_code == 200, response.get_json()
        return Session(response.get_json())

    return _login


@pytest.fixture
def admin(login) -> Session:
    return login()


@pytest.fixture
def make_user(apps, admin):
    """Create an admin user with built-in roles by name; returns (user json, password)."""

    def _make(username: str, roles: tuple[str, ...] = ("read_only",), password: str = "Passw0rd-test", **extra):
        uc = apps["user_center"].test_client()
        listing = uc.get("/api/roles?page_size=100", headers=admin.headers).get_json()["items"]
        role_ids = [r["id"] for r in listing if r["name"] in roles]
        body = {"username": username, "password": password, "role_ids": role_ids, **extra}
        response = uc.post("/api/users", json=body, headers=admin.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json(), password

    return _make


@pytest.fixture
def user_center_worker(apps, settings):
    """A real Celery worker (in a thread) consuming the user center's queue."""
    from workers.bootstrap import build_worker_app

    celery = build_worker_app("user_center", settings=settings)
    with run_worker(celery):
        yield celery


def require_tier(reason: str):
    """Skip with `reason`, unless CI demands that every tier runs (then fail)."""
    if REQUIRE_ALL_TIERS:
        pytest.fail(f"required test tier unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def serve():
    """Serve WSGI apps on free local ports in background threads; stopped after the test."""
    servers = []

    def _serve(app, port: int | None = None) -> str:
        server = start_server(app, port=port or 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.effective_port}"

    yield _serve
    for server in servers:
        stop_server(server)


@contextlib.contextmanager
def run_worker(celery, *, queues=None, pool: str = "solo", concurrency: int = 1):
    """A real Celery worker in a thread of this process; stopped (and waited for) on exit. Yields the worker.

    It runs Celery's synchronous consumer loop, not the event loop: kombu keeps one event loop (hub)
    per process, so two worker threads on Redis would share it, read each other's sockets and hang.
    """
    from celery.contrib.testing.worker import start_worker

    options = {"queues": list(queues)} if queues else {}
    with start_worker(
        celery,
        pool=pool,
        concurrency=concurrency,
        perform_ping_check=False,
        shutdown_timeout=30,
        use_eventloop=False,
        consumer_cls=_promptly_stopping_consumer(),
        **options,
    ) as worker:
        yield worker


DRAIN_SECONDS = 0.1


def _promptly_stopping_consumer():
    """Celery's consumer whose synchronous loop waits for messages in short steps.

    The stock loop waits up to 2 s per step and runs one more step after it is told to stop, so
    every test worker took 4 s to stop; in steps of 0.1 s it stops at once, and messages are
    taken as soon as they arrive either way.
    """
    from celery.worker import loops
    from celery.worker.consumer import Consumer

    def loop(obj, connection, *args, **kwargs):
        drain = connection.drain_events

        def drain_briefly(timeout=None, **options):
            return drain(timeout=DRAIN_SECONDS if timeout is None else min(timeout, DRAIN_SECONDS), **options)

        connection.drain_events = drain_briefly
        return loops.synloop(obj, connection, *args, **kwargs)

    return type("PromptlyStoppingConsumer", (Consumer,), {"loop": staticmethod(loop)})


@pytest.fixture(scope="session", autouse=True)
def _forget_stores():
    yield
    reset_store_cache()
