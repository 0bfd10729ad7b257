"""The 消息中心 console pages as an operator uses them, against the sandbox WeChat and a real worker.

The operator syncs the Official Account's templates from WeChat, previews one with sample data,
builds a campaign to a fan tag in the wizard (the audience size shows before sending, a value
WeChat would not take is refused next to its field), sends it, and watches the progress bar
reach 100 % while a real Celery worker sends every message through the sandbox. Fans who left
meanwhile (WeChat answers 43004) end as final failures with WeChat's reason; a busy WeChat (-1)
is retried and those fans get their message. The results export as CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.browser.conftest import CONSOLE_DIST
from tests.browser.test_console import sign_in
from tests.conftest import require_tier, run_worker
from tests.message.conftest import FAST, seed_fans
from tests.message.test_members_audience import store_members
from wedraw.core.factory import create_app
from wedraw.frontdoor import FrontDoor
from wedraw.message_center import credentials
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.server import start_sandbox
from wedraw.wechat import reset_clients

pytestmark = pytest.mark.browser

TEMPLATE_SEND = "/cgi-bin/message/template/send"
TAG_NAME, TAG_ID = "VIP", 100  # the sandbox's first seeded tag


@dataclasses.dataclass
class MessageSite:
    url: str
    control: SandboxControl
    appid: str
    tagged: list[str]
    official: object
    message_center: object


@pytest.fixture
def message_site(apps, settings, serve):
    """The user center, the Official Account service and the message center behind a served front
    door, wired to a fresh sandbox; the demo account's fans stored and its tags synced, the demo
    senders seeded as `make run` seeds them, and a real Celery worker on the message center's queues."""
    if not (CONSOLE_DIST / "index.html").is_file():
        require_tier("the console is not built (make test builds it: cd frontend/admin && npm ci && npm run build)")
    from celery.signals import worker_ready

    from wedraw.message_center.seed import seed_demo as seed_messages
    from wedraw.wechat_official import services as official_services
    from wedraw.wechat_official.models import Account, db
    from wedraw.wechat_official.seed import seed_demo as seed_official
    from workers.bootstrap import build_worker_app

    # No callback address: a fan who unfollows in WeChat stays "subscribed" on our side, as when
    # the event has not arrived yet, so the campaign meets WeChat's 43004 for them.
    sandbox = start_sandbox(settings, official_port=0, wecom_port=0, callback_base=None, fans=120, members=2)
    reset_clients()
    credentials.forget_cached()
    try:
        base = dataclasses.replace(
            settings,
            wechat_api_base=sandbox.official_url,
            wecom_api_base=sandbox.wecom_url,
            extra={**settings.extra, **FAST},
        )
        official = create_app("wechat_official", settings=base)
        miniprogram = create_app("miniprogram", settings=base)
        # Their internal routes feed the message center's audiences (fans and tags; members).
        urls = {"wechat_official": serve(official), "miniprogram": serve(miniprogram)}
        site_settings = dataclasses.replace(base, service_urls={**base.service_urls, **urls})
        site_apps = {name: create_app(name, settings=site_settings) for name in ("user_center", "message_center")}
        site_apps["wechat_official"] = official
        appid = sandbox.world.demo.official.appid
        with official.app_context():
            seed_official(site_settings)
            db.session.commit()
            account_id = db.session.execute(select(Account.id).where(Account.appid == appid)).scalar_one()
            official_services.sync_tags(account_id)
        seed_fans(official, sandbox, appid)
        store_members(miniprogram, sandbox, sandbox.world.demo.miniprogram.appid)
        with site_apps["message_center"].app_context():
            seed_messages(site_settings)
        users = sandbox.world.accounts[appid].users
        tagged = [o for i, o in enumerate(users.openids) if users.is_subscribed(i) and TAG_ID in users.tags_of(i)]
        url = serve(FrontDoor(site_apps))
        celery = build_worker_app("message_center", settings=site_settings)
        with run_worker(celery, queues=["message_center", "wechat_push"], pool="threads", concurrency=4) as worker:
            transport = getattr(getattr(worker.consumer, "connection", None), "transport", None)
            if transport is not None and getattr(transport, "polling_interval", None):
                transport.polling_interval = 0.05  # the embedded (SQLite) broker; no effect on Redis
            # `celery worker` announces itself with worker_ready (its heartbeat starts then); the
            # testing worker does not, so announce it here as celery.apps.worker does.
            worker_ready.send(sender=worker.consumer)
            yield MessageSite(
                url=url,
                control=SandboxControl(sandbox.official_url),
                appid=appid,
                tagged=tagged,
                official=official,
                message_center=site_apps["message_center"],
            )
    finally:
        sandbox.stop()
        reset_clients()
        credentials.forget_cached()


def choose(page, select_test_id, option):
    page.locator(f'[data-test="{select_test_id}"]').click()
    page.locator(".el-select-dropdown:visible").get_by_role("option").filter(has_text=option).first.click()


def test_a_campaign_to_a_tag_runs_to_completion_with_failures_and_their_reasons(page, message_site):
    site = message_site
    assert len(site.tagged) >= 6, site.tagged
    sign_in(page, site.url)
    page.locator('[data-test="current-user"]').wait_for()

    # 消息模板: the Official Account's templates come from WeChat; a preview renders sample data.
    page.locator('[data-test="menu-message-templates"]').click()
    page.locator('[data-test="templates-sync"]').click()
    table = page.locator('[data-test="templates-table"]')
    table.get_by_text("积分变动提醒").wait_for()
    row = table.locator("tr", has_text="积分变动提醒")
    assert "keyword1" in row.inner_text() and "微信同步" in row.inner_text()
    row.get_by_role("button", name="预览").click()
    preview = page.locator('[data-test="template-preview"]')
    preview.locator('[data-test="preview-result"]').wait_for()
    preview.locator('[data-test="preview-var-keyword1"]').fill("")
    preview.locator('[data-test="preview-render"]').click()
    # A required variable left empty is named next to its input.
    preview.locator(".el-form-item", has=page.locator('[data-test="preview-var-keyword1"]')).get_by_text(
        "必填"
    ).wait_for()
    preview.locator('[data-test="preview-var-keyword1"]').fill("+100")
    preview.locator('[data-test="preview-var-keyword2"]').fill("1380")
    preview.locator('[data-test="preview-render"]').click()
    preview.locator('[data-test="preview-result"]').get_by_text("变动积分：+100").wait_for()
    assert "当前积分：1380" in preview.locator('[data-test="preview-result"]').inner_text()
    page.keyboard.press("Escape")

    # WeChat's side of the story: two tagged fans unfollow (43004), and WeChat is busy twice (-1).
    gone = {site.tagged[1], site.tagged[4]}
    for openid in gone:
        site.control.act("unfollow", appid=site.appid, openid=openid)
    site.control.fault(TEMPLATE_SEND, errcode=-1, times=2)

    # 群发活动 wizard: a tag audience, its size shown before anything is sent.
    page.locator('[data-test="menu-message-campaigns"]').click()
    page.locator('[data-test="campaigns-create"]').click()
    page.locator('[data-test="campaign-name"]').fill("VIP 积分提醒")
    page.locator('[data-test="campaign-audience-kind"]').get_by_text("按标签").click()
    choose(page, "campaign-tag", TAG_NAME)
    count = page.locator('[data-test="campaign-estimate-count"]')
    count.wait_for()
    assert count.inner_text() == str(len(site.tagged))
    page.locator('[data-test="wizard-next"]').click()
    choose(page, "campaign-template", "积分变动提醒")
    page.locator('[data-test="campaign-var-keyword1"]').fill("+100" * 60)  # 240 characters: too long
    page.locator('[data-test="campaign-var-keyword2"]').fill("1380")
    assert "当前积分：1380" in page.locator('[data-test="campaign-preview"]').inner_text()
    page.locator('[data-test="wizard-next"]').click()
    assert str(len(site.tagged)) in page.locator('[data-test="campaign-summary"]').inner_text()
    page.locator('[data-test="campaign-submit"]').click()
    # The API refuses it before queuing anything; the wizard goes back to the field and says why.
    keyword1 = page.locator(".el-form-item", has=page.locator('[data-test="campaign-var-keyword1"]'))
    keyword1.get_by_text(re.compile(r"过长（240 个字符，最多 200 个）")).wait_for()
    assert page.locator('[data-test="wizard-step-content"]').is_visible()
    page.locator('[data-test="campaign-var-keyword1"]').fill("+100")
    page.locator('[data-test="wizard-next"]').click()
    page.locator('[data-test="campaign-submit"]').click()

    # Campaign detail: the progress bar reaches 100 % as the worker sends.
    page.wait_for_url(re.compile(r".*/message/campaigns/\d+$"))
    campaign_id = int(page.url.rsplit("/", 1)[1])
    page.locator('[data-test="campaign-audience"]', has_text=f"标签「{TAG_NAME}」").wait_for()  # the tag by its name
    status = page.locator('[data-test="campaign-detail-status"]')
    status.get_by_text("已完成").wait_for(timeout=60_000)
    bar = page.locator('[data-test="campaign-progress-bar"]')
    bar.get_by_text("100%").wait_for()
    assert page.locator('[data-test="count-sent"]').inner_text().startswith(str(len(site.tagged) - len(gone)))
    assert page.locator('[data-test="count-failed_final"]').inner_text().startswith(str(len(gone)))
    assert f"已完成 {len(site.tagged)} / {len(site.tagged)}" in page.locator('[data-test="campaign-done"]').inner_text()

    # Failures with WeChat's reason, summarised and per recipient.
    failures = page.locator('[data-test="campaign-failures"]')
    reason = failures.locator("tr", has_text="43004")
    assert "用户未关注公众号" in reason.inner_text()
    assert reason.locator('[data-test="failure-count"]').inner_text() == str(len(gone))
    choose(page, "recipients-status", "最终失败")
    page.locator('[data-test="recipients-search"]').click()
    recipients = page.locator('[data-test="recipients-table"]')
    page.wait_for_function(
        'document.querySelectorAll(\'[data-test="recipients-table"] [data-test="recipient-status"]\').length === 2',
        polling=100,
        timeout=10_000,
    )
    text = recipients.inner_text()
    assert all(openid in text for openid in gone) and "用户未关注公众号" in text
    assert not any(openid in text for openid in set(site.tagged) - gone)

    # The export holds every recipient's result.
    with page.expect_download() as download:
        page.locator('[data-test="campaign-export"]').click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert sorted(r["target"] for r in rows) == sorted(site.tagged)
    assert {r["target"]: r["status"] for r in rows if r["status"] != "sent"} == dict.fromkeys(gone, "failed_final")
    assert {r["errcode"] for r in rows if r["target"] in gone} == {"43004"}

    # WeChat delivered to every tagged fan still following, once each; nothing to the two who left.
    outbox = site.control.outbox(channel="template")["counts"]
    assert outbox == {openid: 1 for openid in site.tagged if openid not in gone}
    assert site.control.faults() == []  # both busy answers were met, and retried

    # 发送记录: the failed recipient is found by openid, with WeChat's reason.
    page.locator('[data-test="menu-message-sends"]').click()
    lost = sorted(gone)[0]
    page.locator('[data-test="sends-search-q"]').fill(lost)
    page.locator('[data-test="sends-search-submit"]').click()
    page.wait_for_function(
        "document.querySelectorAll('[data-test=\"send-target\"]').length === 1", polling=100, timeout=10_000
    )
    sends = page.locator('[data-test="sends-table"]')
    assert lost in sends.inner_text() and "43004" in sends.inner_text() and "活动「VIP 积分提醒」" in sends.inner_text()
    assert (
        sends.get_by_role("link", name="活动「VIP 积分提醒」").get_attribute("href")
        == f"/message/campaigns/{campaign_id}"
    )

    # 任务队列: every queue of the platform, with the worker of this test alive on the push queue.
    page.locator('[data-test="menu-message-workers"]').click()
    queues = page.locator('[data-test="queues-table"]')
    push = queues.locator("tr", has_text="wechat_push")
    push.wait_for()
    assert re.match(r"^[1-9]\d* / ", push.locator('[data-test="queue-alive"]').inner_text())


def test_the_wizard_counts_mini_program_members_by_filter_before_sending(page, message_site):
    site = message_site
    sign_in(page, site.url)
    page.locator('[data-test="current-user"]').wait_for()
    page.goto(site.url + "/message/campaigns/new")
    page.locator('[data-test="campaign-channel"]').get_by_text("小程序订阅消息").click()
    kinds = page.locator('[data-test="campaign-audience-kind"]')
    kinds.get_by_text("按会员筛选").wait_for()
    assert "按标签" not in kinds.inner_text()  # fans and tags are the Official Account's
    count = page.locator('[data-test="campaign-estimate-count"]')
    count.get_by_text("5", exact=True).wait_for()  # the active members of the six stored
    page.locator('[data-test="campaign-member-phone"]').get_by_text("未绑定").click()
    count.get_by_text("3", exact=True).wait_for()
    page.locator('[data-test="campaign-member-status"]').get_by_text("已停用").click()
    count.get_by_text("1", exact=True).wait_for()
