"""The 企业微信 console pages as an operator uses them, against the sandbox WeCom.

The operator syncs the contacts from the sandbox, finds a member in the department tree,
sends a group-robot message that lands in the sandbox's outbox (through the message center
and its worker), sees a robot with a bad key marked broken, reads the corp check in plain
words, and sends an app message whose invalid recipients are listed. The demo corp, seeded
as `make run` seeds it, shows its organisation without anyone pressing sync.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.browser.conftest import CONSOLE_DIST
from tests.browser.test_console import sign_in
from tests.conftest import free_port, require_tier, run_worker
from tests.wecom.conftest import wait_for
from wedraw.core.config import Settings
from wedraw.core.factory import create_app
from wedraw.frontdoor import FrontDoor
from wedraw.message_center import credentials
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.demo import DemoWeComCorp
from wedraw.sandbox.server import SandboxHandle, start_sandbox
from wedraw.wechat import reset_clients
from wedraw.wecom import messaging, services
from wedraw.wecom.demo import seed_demo
from wedraw.wecom.models import Corp, Robot, db

pytestmark = pytest.mark.browser

WORLD = {"fans": 4, "members": 30, "departments": 6}


@dataclass
class WeComSite:
    """The console and wecom-h5 behind a served front door, the WeCom service and the message
    center pointed at a sandbox WeCom, with real workers on both services' queues."""

    url: str
    sandbox: SandboxHandle
    control: SandboxControl
    demo: DemoWeComCorp
    settings: Settings
    apps: dict
    workers: contextlib.ExitStack

    def start_worker(self, service: str) -> None:
        """A real Celery worker (in a thread) on the service's queues, stopped after the test.

        One per test: a worker thread runs tasks with Celery's current app (the last one built).
        """
        from workers.bootstrap import build_worker_app

        queues = {"wecom": ["wecom"], "message_center": ["message_center", "wechat_push"]}[service]
        celery = build_worker_app(service, settings=self.settings)
        _purge(celery, queues)
        self.workers.callback(_purge, celery, queues)
        self.workers.enter_context(run_worker(celery, queues=queues, pool="threads", concurrency=2))

    def world_corp(self):
        return self.sandbox.world.corps[self.demo.corp_id]

    def register_corp(self) -> int:
        """The sandbox's corp registered as an operator would, with no sync run yet; its robot too."""
        with self.apps["wecom"].app_context():
            corp = services.create_corp(
                {
                    "corp_id": self.demo.corp_id,
                    "name": "演示企业",
                    "apps": [
                        {
                            "agent_id": self.demo.agent_id,
                            "name": "助手",
                            "secret": self.demo.secret,
                            "token": self.demo.token,
                            "aes_key": self.demo.aes_key,
                        }
                    ],
                }
            )
            messaging.create_robot({"name": "告警机器人", "key": self.demo.robot_key, "corp_id": corp.id})
            return corp.id

    def seed_demo(self) -> int:
        with self.apps["wecom"].app_context():
            seed_demo(self.settings)
            return db.session.execute(select(Corp.id).where(Corp.demo.is_(True))).scalar_one()

    def robot_id(self, name: str) -> int:
        with self.apps["wecom"].app_context():
            return db.session.execute(select(Robot.id).where(Robot.name == name)).scalar_one()


def _purge(celery, queues) -> None:
    with celery.connection_for_write() as conn:
        for queue in queues:
            with contextlib.suppress(Exception):  # a queue that does not exist yet holds nothing
                conn.default_channel.queue_purge(queue)


@pytest.fixture
def wecom_site(apps, settings, serve):
    if not (CONSOLE_DIST / "index.html").is_file():
        require_tier("the console is not built (make test builds it: cd frontend/admin && npm ci && npm run build)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(settings, official_port=0, wecom_port=0, callback_base=url, **WORLD)
    reset_clients()
    credentials.forget_cached()
    try:
        pointed = dataclasses.replace(settings, wechat_api_base=sandbox.official_url, wecom_api_base=sandbox.wecom_url)
        mc_url = serve(create_app("message_center", settings=pointed))
        site_settings = dataclasses.replace(pointed, service_urls={**pointed.service_urls, "message_center": mc_url})
        site_apps = {name: create_app(name, settings=site_settings) for name in ("user_center", "wecom")}
        serve(FrontDoor(site_apps), port)
        with contextlib.ExitStack() as workers:
            yield WeComSite(
                url=url,
                sandbox=sandbox,
                control=SandboxControl(sandbox.official_url),
                demo=sandbox.world.demo.wecom,
                settings=site_settings,
                apps=site_apps,
                workers=workers,
            )
    finally:
        sandbox.stop()
        reset_clients()
        credentials.forget_cached()


def open_page(page, site, menu_test_id, scoped=True):
    sign_in(page, site.url)
    page.locator('[data-test="current-user"]').wait_for()
    page.locator('[data-test="menu-group-wecom"]').click()
    page.locator(f'[data-test="menu-{menu_test_id}"]').click()
    if scoped:
        page.locator('[data-test="wecom-corp-scope"]').wait_for()


def wait_for_rows(page, userids):
    """Until the members table lists exactly these userids (its second column)."""
    page.wait_for_function(
        """(expected) => {
            const table = document.querySelector('[data-test="wecom-members-table"]')
            const cells = table ? table.querySelectorAll('.el-table__body tr td:nth-child(2)') : []
            return JSON.stringify(Array.from(cells, (c) => c.innerText.trim()).sort()) === JSON.stringify(expected)
        }""",
        arg=sorted(userids),
        polling=100,
        timeout=15_000,
    )


def wait_for_sync(page, kind="contacts"):
    page.locator(f'[data-test="wecom-sync-state-{kind}"]').get_by_text("已完成").wait_for(timeout=60_000)


def test_a_sync_from_the_sandbox_then_find_a_member_in_the_tree(page, wecom_site):
    site = wecom_site
    site.register_corp()
    site.start_worker("wecom")
    world = site.world_corp()
    target = world.members["user00011"]
    department = world.departments[target.department[0]]
    assert department.id != 1

    open_page(page, site, "wecom-contacts")
    tree = page.locator('[data-test="wecom-department-tree"]')
    tree.get_by_text("暂无部门，请先同步通讯录").wait_for()

    page.locator('[data-test="wecom-sync-start-contacts"]').click()
    wait_for_sync(page)
    status = page.locator('[data-test="wecom-sync-contacts"]').inner_text()
    assert f"新增 {len(world.members)}" in status
    assert "tags not synced" not in status  # the sandbox answers tag/list and tag/get

    # The tree: the root (the corp) with every membership below it, searchable by department name.
    root = page.locator('[data-test="wecom-dept-1"]')
    root.wait_for()
    assert f"（{len(world.members)}）" in root.inner_text()
    page.locator('[data-test="wecom-tree-search"]').fill(department.name)
    node = page.locator(f'[data-test="wecom-dept-{department.id}"]')
    node.wait_for()
    assert page.locator('[data-test="wecom-dept-3"]').is_hidden() or department.id == 3
    node.click()
    assert page.locator('[data-test="wecom-members-title"]').inner_text() == department.name
    table = page.locator('[data-test="wecom-members-table"]')
    in_department = sorted(
        m.userid for m in world.members.values() if set(m.department) & set(world.subtree(department.id))
    )
    assert 1 < len(in_department) < len(world.members)
    wait_for_rows(page, in_department)

    # Search within the department by the member's name: the row, then the member's record.
    page.locator('[data-test="wecom-members-search-q"]').fill(target.name)
    page.locator('[data-test="wecom-members-search"]').click()
    wait_for_rows(page, [u for u in in_department if target.name in world.members[u].name])
    table.get_by_text(target.name).first.click()
    detail = page.locator('[data-test="wecom-member-detail"]')
    detail.get_by_text(target.userid, exact=True).wait_for()
    assert department.name in detail.inner_text() and target.position in detail.inner_text()


def test_b_a_robot_message_reaches_the_sandbox_and_a_bad_key_shows_broken(page, wecom_site):
    site = wecom_site
    site.register_corp()
    site.start_worker("message_center")
    robot_id = site.robot_id("告警机器人")
    open_page(page, site, "wecom-robots", scoped=False)
    table = page.locator('[data-test="wecom-robots-table"]')
    table.get_by_text("告警机器人").wait_for()
    assert site.demo.robot_key not in table.inner_text()
    assert "****" + site.demo.robot_key[-4:] in table.inner_text()

    # Test send: the message center's worker delivers it to the robot's group.
    page.locator(f'[data-test="wecom-robot-test-{robot_id}"]').click()
    page.get_by_text("测试消息已送达群聊").wait_for(timeout=30_000)
    delivered = site.control.outbox(app=f"robot:{site.demo.robot_key}")
    assert delivered["total"] == 1 and "WeDraw 测试消息" in str(delivered["messages"][0]["payload"])

    # A markdown message from the robot's drawer.
    page.locator(f'[data-test="wecom-robot-messages-{robot_id}"]').click()
    page.locator('[data-test="wecom-composer-msgtype"]').get_by_text("Markdown").click()
    page.locator('[data-test="wecom-composer-content"]').fill("**告警**：磁盘使用率 91%")
    page.locator('[data-test="wecom-robot-send"]').click()
    delivered = wait_for(lambda: (o := site.control.outbox(app=f"robot:{site.demo.robot_key}"))["total"] == 2 and o)
    last = delivered["messages"][-1]
    assert last["msgtype"] == "markdown" and last["payload"]["markdown"]["content"] == "**告警**：磁盘使用率 91%"
    page.locator('[data-test="wecom-robot-message-list"]').get_by_text("已发送").first.wait_for()
    page.keyboard.press("Escape")

    # A robot registered with a key WeCom does not know (93000) is marked broken after its test send.
    page.locator('[data-test="wecom-robots-create"]').click()
    page.locator('[data-test="wecom-robot-form-name"]').fill("旧群机器人")
    page.locator('[data-test="wecom-robot-form-key"]').fill(
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0000dead-0000-4000-8000-00000000beef"
    )
    page.locator('[data-test="wecom-robot-form-save"]').click()
    table.get_by_text("旧群机器人").wait_for()
    broken_id = site.robot_id("旧群机器人")
    assert "****beef" in table.inner_text()
    page.locator(f'[data-test="wecom-robot-test-{broken_id}"]').click()
    status = page.locator(f'[data-test="wecom-robot-status-{broken_id}"]')
    status.get_by_text("已失效").wait_for(timeout=30_000)
    assert "Webhook Key 无效" in status.inner_text()
    assert page.locator(f'[data-test="wecom-robot-test-{broken_id}"]').is_disabled()
    assert site.control.outbox(app="robot:0000dead-0000-4000-8000-00000000beef")["total"] == 0


def test_c_the_corp_check_reports_wecom_problems_in_plain_words(page, wecom_site):
    site = wecom_site
    corp_id = site.register_corp()
    open_page(page, site, "wecom-corps", scoped=False)
    page.locator('[data-test="wecom-corps-table"]').get_by_text(site.demo.corp_id).wait_for()

    page.locator(f'[data-test="wecom-corp-check-{corp_id}"]').click()
    report = page.locator('[data-test="wecom-corp-check-report"]')
    report.wait_for()
    assert "未通过" not in report.inner_text() and "通过" in report.inner_text()
    page.keyboard.press("Escape")

    # WeCom refuses this server's IP: the report says so, and what to change.
    site.control.fault("/cgi-bin/gettoken", errcode=60020, times=None)
    reset_clients()
    page.locator(f'[data-test="wecom-corp-check-{corp_id}"]').click()
    report.get_by_text("未通过").first.wait_for()
    text = report.inner_text()
    assert "服务器 IP 不在企业可信 IP 列表中" in text and "企业可信IP" in text and "60020" in text
    page.keyboard.press("Escape")
    result = page.locator(f'[data-test="wecom-corp-check-result-{corp_id}"]')
    assert "发现问题" in result.inner_text()


def test_d_an_app_message_lists_the_recipients_wecom_reports_invalid(page, wecom_site):
    site = wecom_site
    site.register_corp()
    site.start_worker("message_center")
    open_page(page, site, "wecom-app-messages")
    users = page.locator('[data-test="wecom-app-message-users"]')
    users.click()
    for userid in ("user00001", "ghost"):
        page.keyboard.type(userid)
        page.locator(".el-select-dropdown:visible").get_by_role("option").filter(
            has_text=re.compile(rf"^{userid}|（{userid}）")
        ).first.click()
    page.locator('[data-test="wecom-composer-content"]').fill("周五下午茶")
    page.locator('[data-test="wecom-app-message-send"]').click()
    invalid = page.locator('[data-test="wecom-app-message-invalid"]')
    invalid.wait_for(timeout=30_000)
    assert "成员：ghost" in invalid.inner_text()
    table = page.locator('[data-test="wecom-app-messages-table"]')
    table.get_by_text("周五下午茶").wait_for()
    assert "成员：ghost" in table.inner_text() and "已发送" in table.inner_text()
    delivered = site.control.outbox(app=f"{site.demo.corp_id}/{site.demo.agent_id}", channel="wecom")
    assert set(delivered["counts"]) == {"user00001"}


def test_e_the_demo_corp_shows_its_organisation_without_a_manual_sync(page, wecom_site):
    site = wecom_site
    site.start_worker("wecom")
    site.seed_demo()  # what `make run` does: the demo corp, its app and robot, a first sync queued
    world = site.world_corp()
    open_page(page, site, "wecom-contacts")
    assert site.demo.corp_id in page.locator('[data-test="wecom-corp-bar"]').inner_text()
    wait_for_sync(page)
    page.locator('[data-test="wecom-tree-all"]').click()
    root = page.locator('[data-test="wecom-dept-1"]')
    root.wait_for()
    assert world.departments[1].name in root.inner_text()
    for dept in world.departments.values():
        if dept.parentid == 1:  # the root's children show; deeper ones once their parent is opened
            assert world.departments[dept.id].name in page.locator(f'[data-test="wecom-dept-{dept.id}"]').inner_text()
    page.locator(".members").get_by_text(f"共 {len(world.members)} 人").wait_for()
    first_page = sorted(m.name for m in world.members.values())[0]
    page.locator('[data-test="wecom-members-table"]').get_by_text(first_page).first.wait_for()


def test_f_customer_groups_sync_and_show_their_members(page, wecom_site):
    site = wecom_site
    site.register_corp()
    site.start_worker("wecom")
    world = site.world_corp()
    chat = next(c for c in world.group_chats.values() if c.name == "客户群 1")
    open_page(page, site, "wecom-customers")
    page.locator('[data-test="wecom-sync-start-groups"]').click()
    wait_for_sync(page, "groups")
    table = page.locator('[data-test="wecom-groups-table"]')
    for group in world.group_chats.values():
        table.get_by_text(group.name, exact=True).wait_for()

    page.locator('[data-test="wecom-groups-search-q"]').fill("客户群 1")
    page.locator('[data-test="wecom-groups-search-q"]').press("Enter")
    page.wait_for_function(
        "document.querySelectorAll('[data-test=\"wecom-groups-table\"] .el-table__body tr').length === 1",
        polling=100,
        timeout=10_000,
    )
    table.get_by_text("客户群 1", exact=True).click()
    members = page.locator('[data-test="wecom-group-members"]')
    members.locator(".el-table__body tr").nth(len(chat.members) - 1).wait_for()
    assert members.locator(".el-table__body tr").count() == len(chat.members)
    customers = sum(1 for m in chat.members if m["type"] == 2)
    assert members.get_by_text("客户", exact=True).count() == customers


def test_g_an_app_chat_is_created_and_messaged(page, wecom_site):
    site = wecom_site
    site.register_corp()
    site.start_worker("message_center")
    open_page(page, site, "wecom-app-chats")
    page.locator('[data-test="wecom-chats-create"]').click()
    page.locator('[data-test="wecom-chat-create-name"]').fill("值班群")
    page.locator('[data-test="wecom-chat-create-members"]').click()
    for userid in ("user00001", "user00002"):
        page.keyboard.type(userid)
        page.locator(".el-select-dropdown:visible").get_by_role("option").filter(
            has_text=re.compile(rf"^{userid}|（{userid}）")
        ).first.click()
    page.locator('[data-test="wecom-chat-create-save"]').click()
    table = page.locator('[data-test="wecom-chats-table"]')
    table.get_by_text("值班群").wait_for()
    chat = next(c for c in site.world_corp().appchats.values() if c.name == "值班群")
    assert set(chat.userlist) == {"user00001", "user00002"}

    table.get_by_role("button", name="发消息").click()
    page.locator('[data-test="wecom-composer-content"]').fill("今晚 8 点发版")
    page.locator('[data-test="wecom-chat-send-submit"]').click()
    delivered = wait_for(
        lambda: (
            (o := site.control.outbox(app=f"{site.demo.corp_id}/{site.demo.agent_id}", channel="appchat"))["total"]
            and o
        )
    )
    assert set(delivered["counts"]) == {"user00001", "user00002"}
    assert delivered["messages"][0]["payload"]["text"]["content"] == "今晚 8 点发版"
