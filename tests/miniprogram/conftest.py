"""Fixtures for the miniprogram service: a sandbox WeChat, the service pointed at it, the demo Mini Program."""

from __future__ import annotations

import dataclasses

import pytest
import requests

from wedraw.core.factory import create_app
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.server import start_sandbox
from wedraw.wechat import reset_clients

SMALL_WORLD = {"fans": 20, "members": 2, "departments": 1, "miniprogram_users": 12, "callback_base": None}
LOGIN = "/api/miniprogram/login"


@pytest.fixture(scope="module")
def module_sandbox(settings):
    handle = start_sandbox(settings, **SMALL_WORLD)
    handle.control = SandboxControl(handle.official_url)
    try:
        yield handle
    finally:
        handle.stop()
        reset_clients()


@pytest.fixture
def sandbox(module_sandbox):
    module_sandbox.world.reset(**SMALL_WORLD)
    reset_clients()
    return module_sandbox


@pytest.fixture
def demo(sandbox):
    return sandbox.world.demo.miniprogram


@pytest.fixture
def mp_settings(settings, sandbox):
    return dataclasses.replace(settings, wechat_api_base=sandbox.official_url, wecom_api_base=sandbox.wecom_url)


@pytest.fixture(autouse=True)
def audit(request):
    """Admin writes are audited into this list instead of the user center's queue: no user center worker runs
    here, and records left in the shared queue would reach a later test's audit log. Apps a test builds get
    `audit.append` as their sink."""
    records: list[dict] = []
    if "apps" not in request.fixturenames:
        yield records
        return
    apps = request.getfixturevalue("apps")
    saved = {name: app.extensions.get("wedraw.audit_sink") for name, app in apps.items()}
    for app in apps.values():
        app.extensions["wedraw.audit_sink"] = records.append
    yield records
    for name, app in apps.items():
        app.extensions["wedraw.audit_sink"] = saved[name]


@pytest.fixture
def mp_app(apps, mp_settings, audit):
    """The miniprogram app talking to the sandbox (same database as the session apps)."""
    return create_app("miniprogram", settings=mp_settings, audit_sink=audit.append)


@pytest.fixture
def mp(mp_app):
    return mp_app.test_client()


@pytest.fixture
def mp_registered(mp, admin, demo):
    response = mp.post(
        "/api/miniprogram/apps",
        json={"appid": demo.appid, "name": "积分商城", "secret": demo.secret},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def wx_login(sandbox, mp, mp_registered):
    """Log a sandbox user in through the real flow: wx.login (sandbox) → POST /api/miniprogram/login."""

    def login(openid: str | None = None, *, new: bool = False, expect: int = 200) -> dict:
        code = sandbox.control.wxlogin(openid=openid, new=new)
        response = mp.post(LOGIN, json={"code": code["code"]})
        assert response.status_code == expect, response.get_json()
        body = response.get_json()
        body["sandbox_openid"] = code["openid"]
        body["sandbox_unionid"] = code["unionid"]
        return body

    return login


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def phone_data(sandbox, openid: str, phone: str | None = None) -> dict:
    """getPhoneNumber's encrypted data for a user, from the sandbox (encrypted with their session_key)."""
    body = {"openid": openid, **({"phone": phone} if phone else {})}
    response = requests.post(sandbox.official_url + "/__sandbox/phone-data", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()
