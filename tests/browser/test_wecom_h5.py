"""The WeCom members' pages (frontend/wecom-h5 at /h5/wecom/) in the browser.

A member opens the app's entry link, logs in through the sandbox's WeCom OAuth page (the
real redirect round trip, in Chromium), sees their own profile as the synced contacts hold
it, then searches the directory and browses it by department.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.browser.test_wecom_console import wecom_site  # noqa: F401  (the fixture)
from tests.conftest import require_tier
from tests.wecom.conftest import wait_for
from wedraw.frontdoor import H5_APPS
from wedraw.wecom import jobs
from wedraw.wecom.models import SyncJob, db

pytestmark = pytest.mark.browser

H5 = "/h5/wecom/"


@pytest.fixture
def h5_built():
    if not (H5_APPS[H5] / "index.html").is_file():
        require_tier("wecom-h5 is not built (make test builds it: cd frontend/wecom-h5 && npm ci && npm run build)")


def synced(site) -> int:
    """The sandbox's corp registered and its contacts synced by the worker."""
    corp_id = site.register_corp()
    site.start_worker("wecom")
    with site.apps["wecom"].app_context():
        job_id = jobs.start_sync(corp_id, "contacts", "test").id

    def finished():
        with site.apps["wecom"].app_context():
            return db.session.execute(select(SyncJob.status).where(SyncJob.id == job_id)).scalar_one() == "succeeded"

    wait_for(finished, timeout=60, message="contacts sync did not finish")
    return corp_id


def test_a_member_logs_in_through_wecom_sees_their_profile_and_searches_the_directory(
    page,
    wecom_site,  # noqa: F811  (the fixture imported above)
    h5_built,
):
    site = wecom_site
    synced(site)
    world = site.world_corp()
    me = world.members["user00011"]
    my_department = world.departments[me.department[0]]
    # The sandbox's authorize page logs in the member its `userid` names (its extension of WeCom's page).
    page.route(
        re.compile(r".*/connect/oauth2/authorize\?.*"),
        lambda route: route.continue_(url=route.request.url.split("#")[0] + f"&userid={me.userid}"),
    )

    page.goto(f"{site.url}{H5}?corp_id={site.demo.corp_id}&agent_id={site.demo.agent_id}")
    page.wait_for_url(re.compile(r".*/h5/wecom/login.*"))
    page.locator('[data-test="h5-corp-name"]').get_by_text("演示企业").wait_for()
    assert "助手" in page.locator('[data-test="h5-app-name"]').inner_text()
    with page.expect_request(re.compile(r".*/connect/oauth2/authorize\?.*")) as authorize:
        page.locator('[data-test="h5-login"]').click()
    query = parse_qs(urlsplit(authorize.value.url).query)
    assert query["appid"] == [site.demo.corp_id] and query["agentid"] == [str(site.demo.agent_id)]
    assert query["redirect_uri"] == [f"{site.url}{H5}oauth/callback"] and query["scope"] == ["snsapi_base"]

    # Back from WeCom with a code: the member's own profile.
    page.wait_for_url(re.compile(r".*/h5/wecom/$"))
    profile = page.locator('[data-test="h5-profile"]')
    profile.wait_for()
    assert page.locator('[data-test="h5-name"]').inner_text() == me.name
    assert page.locator('[data-test="h5-userid"]').inner_text() == me.userid
    assert my_department.name in page.locator('[data-test="h5-departments"]').inner_text()
    assert me.position in page.locator('[data-test="h5-position"]').inner_text()
    assert me.mobile in page.locator('[data-test="h5-mobile"]').inner_text()  # their own number, as WeCom gave it

    # The directory: a colleague found by name, with no phone number shown.
    page.locator('[data-test="h5-tab-directory"]').click()
    page.wait_for_url(re.compile(r".*/h5/wecom/directory$"))
    colleagues = page.locator('[data-test="h5-colleague"]')
    colleagues.first.wait_for()
    colleague = world.members["user00004"]
    search = page.locator('[data-test="h5-directory-search"] input')
    search.fill(colleague.name)
    search.press("Enter")
    expected = sorted(
        m.name
        for m in world.members.values()
        if m.active and (colleague.name in m.name or colleague.name in (m.position or ""))
    )
    page.wait_for_function(
        """(expected) => {
            const names = Array.from(document.querySelectorAll('[data-test="h5-colleague"] .van-cell__title span'),
                (e) => e.innerText.trim())
            return JSON.stringify(names.sort()) === JSON.stringify(expected)
        }""",
        arg=expected,
        polling=100,
        timeout=10_000,
    )
    assert colleague.mobile not in page.locator('[data-test="h5-directory-list"]').inner_text()

    search.fill("没有这个人")
    search.press("Enter")
    page.locator('[data-test="h5-directory-empty"]').get_by_text("没有找到匹配的同事").wait_for()

    # Browsing by department: open the member's own department from the root.
    search.fill("")
    search.press("Enter")
    node = page.locator(f'[data-test="h5-department-{my_department.parentid}"]')
    if my_department.parentid != 1:
        node.click()
    page.locator(f'[data-test="h5-department-{my_department.id}"]').click()
    assert my_department.name in page.locator('[data-test="h5-directory-path"]').inner_text()
    in_department = sorted(
        m.name for m in world.members.values() if m.active and set(m.department) & set(world.subtree(my_department.id))
    )
    page.wait_for_function(
        """(expected) => {
            const names = Array.from(document.querySelectorAll('[data-test="h5-colleague"] .van-cell__title span'),
                (e) => e.innerText.trim())
            return JSON.stringify(names.sort()) === JSON.stringify(expected)
        }""",
        arg=in_department,
        polling=100,
        timeout=10_000,
    )

    # Logging out ends the session: the profile needs a new login.
    page.locator('[data-test="h5-tab-profile"]').click()
    page.locator('[data-test="h5-logout"]').click()
    page.wait_for_url(re.compile(r".*/h5/wecom/login.*"))
    page.goto(f"{site.url}{H5}")
    page.wait_for_url(re.compile(r".*/h5/wecom/login.*"))
