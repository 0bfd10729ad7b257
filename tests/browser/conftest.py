"""Browser tier: the real console, built, behind the embedded front door, in headless Chromium."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import free_port, require_tier, run_worker
from wedraw.core.config import Settings
from wedraw.core.factory import create_app
from wedraw.frontdoor import CONSOLE_DIST, FrontDoor
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.demo import DemoOfficialAccount
from wedraw.sandbox.server import SandboxHandle, start_sandbox
from wedraw.wechat import reset_clients
from wedraw.wechat_official.models import Account, db
from wedraw.wechat_official.seed import seed_demo

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Pages show WeChat avatars (thirdwx.qlogo.cn...): no lookup may leave this machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


@pytest.fixture
def console_url(apps, serve):
    if not (CONSOLE_DIST / "index.html").is_file():
        require_tier("the console is not built (make test builds it: cd frontend/admin && npm ci && npm run build)")
    return serve(FrontDoor(apps))


@pytest.fixture
def page(tmp_path):
    if not CHROMIUM.exists():
        require_tier("no /usr/bin/chromium (apt-get install chromium); .ci/run installs it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_tier("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            shot = tmp_path / "last-page.png"
            page.screenshot(path=str(shot), full_page=True)
            keep = Path("var/test-screenshots")
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, keep / "last-page.png")
            browser.close()


@dataclass
class WeChatSite:
    """The console and the H5 pages behind a served front door, wired to a sandbox WeChat."""

    url: str
    sandbox: SandboxHandle
    control: SandboxControl
    demo: DemoOfficialAccount
    settings: Settings
    apps: dict
    account_id: int


@pytest.fixture
def wechat_site(apps, settings, serve):
    """The user center and the Official Account service pointed at a fresh sandbox whose
    callbacks go to the served front door, with the demo account seeded as `make run` seeds it."""
    if not (CONSOLE_DIST / "index.html").is_file():
        require_tier("the console is not built (make test builds it: cd frontend/admin && npm ci && npm run build)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(
        settings, official_port=0, wecom_port=0, callback_base=url, fans=12, members=2, departments=1
    )
    reset_clients()
    try:
        site_settings = dataclasses.replace(
            settings, wechat_api_base=sandbox.official_url, wecom_api_base=sandbox.wecom_url
        )
        site_apps = {name: create_app(name, settings=site_settings) for name in ("user_center", "wechat_official")}
        with site_apps["wechat_official"].app_context():
            seed_demo(site_settings)
            account_id = db.session.execute(select(Account.id).where(Account.demo.is_(True))).scalar_one()
        serve(FrontDoor(site_apps), port)
        yield WeChatSite(
            url=url,
            sandbox=sandbox,
            control=SandboxControl(sandbox.official_url),
            demo=sandbox.world.demo.official,
            settings=site_settings,
            apps=site_apps,
            account_id=account_id,
        )
    finally:
        sandbox.stop()
        reset_clients()


@pytest.fixture
def wechat_worker(wechat_site):
    """A real Celery worker (in a thread) on the wechat_official queue, pointed at the site's sandbox."""
    from workers.bootstrap import build_worker_app

    celery = build_worker_app("wechat_official", settings=wechat_site.settings)
    with run_worker(celery):
        yield celery
