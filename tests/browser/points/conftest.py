"""Fixtures for the points mall's browser tests: the console and the points H5 behind one served
front door, the Mini Program and points services wired to a sandbox WeChat, seeded as `make run` seeds them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import pytest

from tests.browser.test_console import sign_in
from tests.conftest import free_port, require_tier
from wedraw.core.config import Settings
from wedraw.core.factory import create_app
from wedraw.frontdoor import CONSOLE_DIST, H5_APPS, FrontDoor
from wedraw.sandbox.server import SandboxHandle, start_sandbox
from wedraw.wechat import reset_clients

H5 = "/h5/points/"
SITE_SERVICES = ("user_center", "miniprogram", "points_mall")


@dataclass
class PointsSite:
    url: str
    sandbox: SandboxHandle
    settings: Settings
    apps: dict
    audit: list = field(default_factory=list)


@pytest.fixture
def points_h5_built():
    if not (H5_APPS[H5] / "index.html").is_file():
        require_tier("points-h5 is not built (make test builds it: cd frontend/points-h5 && npm ci && npm run build)")


@pytest.fixture
def points_site(apps, settings, serve, points_h5_built):
    """User center, Mini Program and points mall on a fresh sandbox, the demo Mini Program and mall seeded."""
    if not (CONSOLE_DIST / "index.html").is_file():
        require_tier("the console is not built (make test builds it: cd frontend/admin && npm ci && npm run build)")
    import wedraw.miniprogram as miniprogram
    import wedraw.points_mall as points_mall

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(
        settings,
        official_port=0,
        wecom_port=0,
        callback_base=None,
        fans=6,
        members=1,
        departments=1,
        miniprogram_users=6,
    )
    reset_clients()
    audit: list = []
    try:
        site_settings = dataclasses.replace(
            settings, wechat_api_base=sandbox.official_url, wecom_api_base=sandbox.wecom_url
        )
        # Admin writes are audited into a list: no user center worker runs here.
        site_apps = {name: create_app(name, settings=site_settings, audit_sink=audit.append) for name in SITE_SERVICES}
        for module, name in ((miniprogram, "miniprogram"), (points_mall, "points_mall")):
            with site_apps[name].app_context():
                module.seed(site_apps[name], lambda _message: None)
        serve(FrontDoor(site_apps), port)
        yield PointsSite(url=url, sandbox=sandbox, settings=site_settings, apps=site_apps, audit=audit)
    finally:
        sandbox.stop()
        reset_clients()


def open_console(page, site, menu_test_id):
    sign_in(page, site.url)
    page.locator('[data-test="current-user"]').wait_for()
    page.locator(f'[data-test="menu-{menu_test_id}"]').click()


def member_page(page):
    """A second browser context on a phone-sized screen: the member, beside the operator's console."""
    context = page.context.browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    member = context.new_page()
    member.set_default_timeout(15_000)
    return member


def h5_login(member, site, *, new_user=False):
    member.goto(site.url + H5)
    member.wait_for_url(re.compile(r".*/h5/points/login.*"))
    member.locator('[data-test="h5-app-name"]').get_by_text("WeDraw 积分商城").wait_for()
    member.locator('[data-test="h5-login-new"]' if new_user else '[data-test="h5-login"]').click()
    member.locator('[data-test="h5-products"]').wait_for()
    member.wait_for_function(
        "document.querySelector('[data-test=\"h5-balance\"]')?.textContent.trim() !== '--'", polling=100
    )
