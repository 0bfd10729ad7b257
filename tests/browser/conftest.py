"""Browser tier: the real console, built, behind the embedded front door, in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import require_tier
from wedraw.frontdoor import CONSOLE_DIST, FrontDoor

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
