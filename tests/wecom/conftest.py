"""Fixtures for the WeCom service: a sandbox WeCom, the service pointed at it, the demo corp, real workers.

The sandbox runs once per module (its world is rebuilt for every test). Tests that send
messages also get the message center served over HTTP (its internal routes) with a real
worker on its queues; the robot's window is shortened to ROBOT_WINDOW_SECONDS there, and tests advance the
sandbox's clock so WeCom's own minute passes too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import pytest

from tests.conftest import run_worker
from wedraw.core.factory import create_app
from wedraw.core.serving import start_server, stop_server
from wedraw.message_center import credentials
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.server import start_sandbox
from wedraw.wechat import reset_clients

SMALL_WORLD = {"fans": 10, "members": 30, "departments": 6, "callback_base": None}
CORPS = "/api/wecom/corps"
# The robot's minute, shortened (tests advance the sandbox's clock for WeCom's side). Long enough that
# the first 20 sends land inside it even on a busy machine.
ROBOT_WINDOW_SECONDS = 12
FAST = {
    "WEDRAW_MESSAGE_BACKOFF_SECONDS": "0.2",
    "WEDRAW_MESSAGE_BACKOFF_CAP_SECONDS": "1",
    "WEDRAW_MESSAGE_QUOTA_PAUSE_SECONDS": "1",
    "WEDRAW_MESSAGE_LEASE_SECONDS": "5",
    "WEDRAW_MESSAGE_STUCK_SECONDS": "3",
    "WEDRAW_MESSAGE_ROBOT_WINDOW_SECONDS": str(ROBOT_WINDOW_SECONDS),
}


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = "condition not met in time"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


class Control(SandboxControl):
    """The sandbox's control client, with the WeCom contact changes (`/__sandbox/wecom/...`)."""

    def create_user(self, **fields):
        return self._call("POST", "/wecom/users", json=fields)

    def update_user(self, userid: str, **fields):
        return self._call("PATCH", f"/wecom/users/{userid}", json=fields)

    def delete_user(self, userid: str, **fields):
        return self._call("DELETE", f"/wecom/users/{userid}", json=fields)

    def create_department(self, **fields):
        return self._call("POST", "/wecom/departments", json=fields)

    def update_department(self, dept_id: int, **fields):
        return self._call("PATCH", f"/wecom/departments/{dept_id}", json=fields)

    def delete_department(self, dept_id: int, **fields):
        return self._call("DELETE", f"/wecom/departments/{dept_id}", json=fields)

    def create_tag(self, **fields):
        return self._call("POST", "/wecom/tags", json=fields)

    def tag_members(self, tag_id: int, **fields):
        return self._call("POST", f"/wecom/tags/{tag_id}/members", json=fields)


@pytest.fixture
def world_params():
    return SMALL_WORLD


@pytest.fixture(scope="module")
def module_sandbox(settings):
    handle = start_sandbox(settings, **SMALL_WORLD)
    handle.control = Control(handle.official_url)
    try:
        yield handle
    finally:
        handle.stop()
        reset_clients()
        credentials.forget_cached()


@pytest.fixture
def sandbox(module_sandbox, world_params):
    module_sandbox.world.reset(**world_params)
    reset_clients()
    credentials.forget_cached()
    return module_sandbox


@pytest.fixture
def demo(sandbox):
    return sandbox.world.demo.wecom


def _pointed(settings, handle, **extra):
    return dataclasses.replace(
        settings,
        wechat_api_base=handle.official_url,
        wecom_api_base=handle.wecom_url,
        extra={**settings.extra, **FAST, **extra},
    )


@pytest.fixture(scope="module")
def module_wc_settings(settings, module_sandbox):
    return _pointed(settings, module_sandbox)


@pytest.fixture
def wc_settings(module_wc_settings, sandbox):
    return module_wc_settings


@pytest.fixture
def wc_app(apps, wc_settings):
    """The wecom app talking to the sandbox (same database as the session apps)."""
    return create_app("wecom", settings=wc_settings)


class JsonClient:
    def __init__(self, app, headers):
        self.http = app.test_client()
        self.headers = headers

    def __getattr__(self, method):
        def call(path, **kwargs):
            kwargs.setdefault("headers", self.headers)
            return self.http.open(path, method=method.upper(), **kwargs)

        return call


@pytest.fixture
def api(wc_app, admin):
    return JsonClient(wc_app, admin.headers)


@pytest.fixture
def corp(api, demo):
    """The sandbox's demo corp, registered through the API with its app (callback Token and EncodingAESKey)."""
    response = api.post(
        CORPS,
        json={
            "corp_id": demo.corp_id,
            "name": "演示企业",
            "apps": [
                {
                    "agent_id": demo.agent_id,
                    "name": "助手",
                    "secret": demo.secret,
                    "token": demo.token,
                    "aes_key": demo.aes_key,
                }
            ],
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def base(corp):
    return f"{CORPS}/{corp['id']}"


@pytest.fixture
def wired(wc_app, sandbox, corp, serve, demo):
    """The callback served over HTTP and set as the sandbox agent's callback URL."""
    url = serve(wc_app) + f"/api/wecom/callback/{demo.corp_id}/{demo.agent_id}"
    sandbox.control.update_agent(demo.corp_id, demo.agent_id, callback_url=url)
    return url


def purge(celery, queues) -> None:
    """Forget messages earlier tests left on the shared test broker."""
    with celery.connection_for_write() as conn:
        for queue in queues:
            with contextlib.suppress(Exception):  # a queue that does not exist yet holds nothing
                conn.default_channel.queue_purge(queue)


def _worker(service: str, settings, queues: list[str], pool: str, concurrency: int):
    from workers.bootstrap import build_worker_app

    celery = build_worker_app(service, settings=settings)
    purge(celery, queues)
    return celery, run_worker(celery, queues=queues, pool=pool, concurrency=concurrency)


@pytest.fixture(scope="module")
def module_wecom_worker(apps, module_wc_settings):
    """One real Celery worker (in a thread) per module on the wecom queue, pointed at the sandbox.

    Tasks an earlier test left behind are harmless: their job or event rows are gone, or done.
    """
    celery, running = _worker("wecom", module_wc_settings, ["wecom"], "solo", 1)
    with running:
        yield celery
    purge(celery, ["wecom"])


@pytest.fixture
def wecom_worker(module_wecom_worker, sandbox):
    return module_wecom_worker


@pytest.fixture(scope="module")
def message_center(apps, settings, module_sandbox):
    """The message center pointed at the sandbox, served over HTTP, with a real worker: yields its URL and app."""
    mc_settings = _pointed(settings, module_sandbox)
    app = create_app("message_center", settings=mc_settings)
    server = start_server(app)
    celery, running = _worker("message_center", mc_settings, ["message_center", "wechat_push"], "threads", 4)
    try:
        with running:
            yield dataclasses.make_dataclass("MC", ["url", "app"])(f"http://127.0.0.1:{server.effective_port}", app)
    finally:
        purge(celery, ["message_center", "wechat_push"])
        stop_server(server)


@pytest.fixture
def mc_api(wc_settings, message_center, apps, admin):
    """The WeCom service wired to the served message center."""
    settings = dataclasses.replace(
        wc_settings, service_urls={**wc_settings.service_urls, "message_center": message_center.url}
    )
    return JsonClient(create_app("wecom", settings=settings), admin.headers)
