"""End-to-end tests on the production layout: real Nginx, Supervisor, gunicorn, Celery, MariaDB, Redis.

The session fixture `layout` brings the layout up with `local_up` (what `make prod-up`
runs) in a temporary root on free ports, against WEDRAW_TEST_MYSQL_URL (databases and
accounts `wedraw_e2e_*`) and WEDRAW_TEST_REDIS_URL, and takes it down with everything it
made (`local_down(purge=True)`) at the end. scripts/test.sh runs this directory as its
own tier with WEDRAW_TEST_E2E=1; elsewhere these tests are skipped.

A journey is a test module here that talks to `layout.url` like a user would:
`layout.client(ip)` is an HTTP session from its own loopback address (Nginx limits per
address, so each test takes fresh ones with `layout.addresses(n)`), `layout.login(ip)`
signs the admin in through Nginx, `layout.metrics(service)` reads /metrics,
`layout.ctl(...)` is supervisorctl and `layout.send_task(...)` queues a Celery task on
the real broker. Redis is the test server's database 14 (or WEDRAW_TEST_E2E_REDIS_URL),
emptied before and after. The platform's journeys (an encrypted Official Account callback
whose fan appears, a campaign sent by the real workers, a points redemption, a generated
report) are in test_journeys.py.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.conftest import require_tier
from wedraw.core.registry import WEB_SERVICES

E2E = os.environ.get("WEDRAW_TEST_E2E") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end on the production layout (scripts/test.sh tier 3)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith("e2e/"):
            item.add_marker(pytest.mark.e2e)
            if not E2E:
                item.add_marker(pytest.mark.skip(reason="end-to-end tier: run by scripts/test.sh (WEDRAW_TEST_E2E=1)"))


class _SourceAdapter(HTTPAdapter):
    """Connections from one loopback address, as if from one client host."""

    def __init__(self, source_ip: str, **kwargs):
        self.source_ip = source_ip
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(source_ip: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _SourceAdapter(source_ip))
    return session


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples `name{labels...}` on a /metrics page (0 when there are none)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@dataclass
class Layout:
    stack: object  # wedraw.deploy.LocalStack
    _ips: itertools.count

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def admin_password(self) -> str:
        return self.stack.admin_password

    def addresses(self, count: int) -> list[str]:
        """Loopback addresses no other test has used (127.0.x.y), so per-IP limits start fresh."""
        out = []
        for _ in range(count):
            n = next(self._ips)
            out.append(f"127.0.{n // 250 + 1}.{n % 250 + 1}")
        return out

    def client(self, ip: str | None = None) -> requests.Session:
        return client_from(ip or self.addresses(1)[0])

    def login(self, ip: str | None = None) -> dict:
        response = self.client(ip).post(
            f"{self.url}/api/auth/login", json={"username": "admin", "password": self.admin_password}, timeout=10
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def metrics(self, service: str) -> str:
        response = client_from("127.0.0.1").get(f"{self.url}/metrics/{service}", timeout=10)
        assert response.status_code == 200, response.text
        return response.text

    def ctl(self, *args: str, timeout: float = 120):
        return self.stack.supervisorctl(*args, timeout=timeout)

    def program(self, service: str) -> str:
        return f"wedraw-web:wedraw-{service}" if service in WEB_SERVICES else service

    def pid(self, program: str) -> int:
        out = self.ctl("pid", program).stdout.strip()
        assert out.isdigit() and out != "0", out
        return int(out)

    def send_task(self, name: str, queue: str) -> None:
        from celery import Celery

        app = Celery("wedraw.e2e", broker=self.stack.redis_url, set_as_current=False)
        app.conf.broker_connection_retry_on_startup = True
        app.send_task(name, queue=queue)
        app.close()

    def wait_healthy(self, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            try:
                response = client_from("127.0.0.1").get(f"{self.url}/health", timeout=5)
                body = response.json()
                if response.status_code == 200 and body.get("status") == "ok":
                    return body
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"not healthy after {timeout}s: {body}")


def children(pid: int) -> set[int]:
    """Live child processes of `pid` (gunicorn's workers of a master)."""
    found = set()
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            with open(f"/proc/{proc}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(proc))
    return found


def e2e_redis_url(test_url: str) -> str:
    """WEDRAW_TEST_E2E_REDIS_URL, else the test Redis server's database 14: the layout empties its
    database, which must not be the one the MariaDB tier's tests may be using at the same time."""
    explicit = os.environ.get("WEDRAW_TEST_E2E_REDIS_URL")
    if explicit:
        return explicit
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(test_url)
    database = "13" if parts.path.strip("/") == "14" else "14"
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture(scope="session")
def layout(tmp_path_factory):
    mysql_url = os.environ.get("WEDRAW_TEST_MYSQL_URL")
    redis_url = os.environ.get("WEDRAW_TEST_REDIS_URL")
    if not (mysql_url and redis_url):
        require_tier("set WEDRAW_TEST_MYSQL_URL and WEDRAW_TEST_REDIS_URL for the end-to-end tier")
    redis_url = e2e_redis_url(redis_url)
    from wedraw.deploy import LayoutError, LocalStack, ProvisionPlan, ensure_nginx, local_down, local_up, run_sql

    try:
        ensure_nginx(echo=lambda _m: None)
    except (LayoutError, OSError) as exc:
        require_tier(f"nginx is not available: {exc}")
    prefix = "wedraw_e2e_"
    # A run that died earlier may have left its databases (and an admin with another password).
    run_sql(mysql_url, ProvisionPlan(database_prefix=prefix, account_prefix=prefix).drop_statements())
    _flush(redis_url)
    root = tmp_path_factory.mktemp("prod")
    try:
        stack = local_up(
            root=root,
            free_ports=True,
            admin_url=mysql_url,
            redis_url=redis_url,
            database_prefix=prefix,
            account_prefix=prefix,
            gunicorn_workers=2,
            echo=lambda _m: None,
        )
    except LayoutError as exc:
        pytest.fail(f"the production layout did not come up: {exc}")
    assert isinstance(stack, LocalStack)
    try:
        yield Layout(stack, itertools.count(20))
    finally:
        # Everything stops and the databases and accounts go; the logs stay in pytest's
        # temporary directory (the last few runs are kept) for a failure to be read.
        local_down(root, echo=lambda _m: None)
        run_sql(mysql_url, stack.plan.drop_statements())
        _flush(redis_url)


def log_lines(layout: Layout, program: str) -> list[str]:
    path = layout.stack.path("log", f"{program}.log")
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def rotated(layout: Layout, program: str) -> list[str]:
    names = sorted(p.name for p in layout.stack.path("log").iterdir() if re.match(rf"{program}\.log-\d", p.name))
    return [line for name in names for line in layout.stack.path("log", name).read_text(errors="replace").splitlines()]
