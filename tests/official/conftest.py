"""Fixtures for the Official Account service: a sandbox WeChat, the service pointed at it, an account."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import run_worker
from wedraw.core.factory import create_app
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.server import start_sandbox
from wedraw.wechat import reset_clients

SMALL_WORLD = {"fans": 40, "members": 4, "departments": 1, "callback_base": None}
ACCOUNTS = "/api/wechat/accounts"


@pytest.fixture
def sandbox(settings):
    handle = start_sandbox(settings, **SMALL_WORLD)
    reset_clients()
    try:
        handle.control = SandboxControl(handle.official_url)
        yield handle
    finally:
        handle.stop()
        reset_clients()


@pytest.fixture
def oa_settings(settings, sandbox):
    """The session settings, with WeChat's hosts pointed at this test's sandbox."""
    return dataclasses.replace(settings, wechat_api_base=sandbox.official_url, wecom_api_base=sandbox.wecom_url)


@pytest.fixture
def oa_app(apps, oa_settings):
    """The wechat_official app talking to the sandbox (same database as the session apps)."""
    return create_app("wechat_official", settings=oa_settings)


@pytest.fixture
def api(oa_app, admin):
    """A JSON client of the service, signed in as admin: api.get(path), api.post(path, json=...)."""

    class Client:
        def __init__(self):
            self.http = oa_app.test_client()

        def __getattr__(self, method):
            def call(path, **kwargs):
                kwargs.setdefault("headers", admin.headers)
                return self.http.open(path, method=method.upper(), **kwargs)

            return call

    return Client()


@pytest.fixture
def demo(sandbox):
    return sandbox.world.demo.official


@pytest.fixture
def account(api, demo):
    """The sandbox's demo account, registered through the API in safe mode."""
    response = api.post(
        ACCOUNTS,
        json={
            "appid": demo.appid,
            "name": "演示",
            "secret": demo.secret,
            "token": demo.token,
            "aes_key": demo.aes_key,
            "message_mode": "safe",
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def base(account):
    return f"{ACCOUNTS}/{account['id']}"


@pytest.fixture
def wired(oa_app, sandbox, account, serve, demo):
    """The callback view served over HTTP and set as the sandbox account's callback URL."""
    url = serve(oa_app) + f"/api/wechat/callback/{demo.appid}"
    sandbox.control.update_account(demo.appid, callback_url=url)
    return url


@pytest.fixture
def oa_worker(oa_app, oa_settings):
    """A real Celery worker (in a thread) on the wechat_official queue, pointed at the sandbox."""
    from workers.bootstrap import build_worker_app

    celery = build_worker_app("wechat_official", settings=oa_settings)
    sent = []
    original = celery.send_task

    def recording_send_task(name, *args, **kwargs):
        sent.append((name, kwargs.get("queue"), kwargs.get("kwargs") or {}))
        return original(name, *args, **kwargs)

    celery.send_task = recording_send_task
    celery.sent = sent
    with run_worker(celery):
        yield celery


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
