"""The 公众号 console pages as an operator uses them, against the sandbox WeChat.

A follow in the sandbox goes through WeChat's signed, encrypted callback to the served
front door; the fan then shows in 粉丝管理 and the welcome reply in the fan's history and
the message log. The menu editor builds a menu, is refused by WeChat's rules next to the
offending button, publishes, and reads the live menu back from WeChat.
"""

from __future__ import annotations

import base64
import re

import pytest

from tests.browser.test_console import sign_in
from wedraw.wechat_official.seed import WELCOME

pytestmark = pytest.mark.browser


def open_page(page, site, menu_test_id):
    sign_in(page, site.url)
    page.locator('[data-test="current-user"]').wait_for()
    page.locator(f'[data-test="menu-{menu_test_id}"]').click()
    page.locator('[data-test="wechat-account-scope"]').wait_for()


def confirm(page, button_name):
    page.locator(".el-message-box").get_by_role("button", name=button_name).click()


def test_a_follow_in_wechat_shows_the_fan_and_the_welcome_reply(page, wechat_site):
    site = wechat_site
    open_page(page, site, "wechat-fans")
    assert site.demo.appid in page.locator('[data-test="wechat-account-bar"]').inner_text()
    table = page.locator('[data-test="fans-table"]')
    table.get_by_text("暂无数据").wait_for()

    followed = site.control.act("follow", appid=site.demo.appid)
    openid = followed["from"]
    # WeChat's side: the callback was answered in time with the welcome text.
    assert followed["push"]["status"] == "replied", followed["push"]
    assert WELCOME in (followed["push"]["reply"] or {}).get("Content", "")

    page.locator('[data-test="fans-search-submit"]').click()
    table.get_by_text(openid).wait_for()
    assert "已关注" in table.inner_text()

    # Search by openid narrows the list to this fan.
    site.control.act("follow", appid=site.demo.appid)
    page.locator('[data-test="fans-search-submit"]').click()
    page.locator('[data-test="fan-openid"]').nth(1).wait_for()
    page.locator('[data-test="fans-search-q"]').fill(openid)
    page.locator('[data-test="fans-search-submit"]').click()
    page.wait_for_function(
        "document.querySelectorAll('[data-test=\"fan-openid\"]').length === 1", polling=100, timeout=10_000
    )
    assert page.locator('[data-test="fan-openid"]').inner_text() == openid

    # The fan's history: the follow, and the automatic welcome reply next to it.
    table.get_by_role("button", name="详情").click()
    drawer = page.locator('[data-test="fan-detail"]')
    drawer.locator('[data-test="fan-detail-openid"]').get_by_text(openid).wait_for()
    history = drawer.locator('[data-test="fan-history"]')
    history.get_by_text("关注", exact=True).wait_for()
    assert WELCOME in history.locator('[data-test="fan-message-reply"]').inner_text()

    # A customer-service message inside the 48-hour window reaches the fan's WeChat.
    drawer.locator('[data-test="cs-content"]').fill("您好，欢迎来到 WeDraw！")
    drawer.locator('[data-test="cs-send"]').click()
    history.get_by_text("您好，欢迎来到 WeDraw！").wait_for()
    delivered = site.control.outbox(app=site.demo.appid, to=openid)
    assert "您好，欢迎来到 WeDraw！" in str(delivered)

    # Two days later WeChat refuses (45015): the composer says why, in plain words.
    site.control.advance_clock(49 * 3600)
    drawer.locator('[data-test="cs-content"]').fill("还在吗？")
    drawer.locator('[data-test="cs-send"]').click()
    refusal = drawer.locator('[data-test="cs-window-error"]')
    refusal.wait_for()
    assert "48 小时" in refusal.inner_text() and "45015" in refusal.inner_text()
    page.keyboard.press("Escape")

    # The message log records the follow with the reply that answered it.
    page.locator('[data-test="menu-wechat-messages"]').click()
    log = page.locator('[data-test="messages-table"]')
    log.get_by_text(openid).first.wait_for()
    row = log.locator("tr", has_text="关注").filter(has_text=openid).first
    assert WELCOME in row.locator('[data-test="message-reply"]').inner_text()


def choose(page, select_test_id, option):
    page.locator(f'[data-test="{select_test_id}"]').click()
    page.locator(".el-select-dropdown:visible").get_by_role("option", name=option, exact=True).click()


def choose_account(page, appid):
    page.locator('[data-test="wechat-account-select"]').click()
    page.locator(".el-select-dropdown:visible").get_by_role("option").filter(has_text=appid).click()


def test_b_menu_editor_validates_previews_publishes_and_reads_back(page, wechat_site):
    site = wechat_site
    open_page(page, site, "wechat-menus")
    preview = page.locator('[data-test="menu-preview"]')
    # The seeded demo draft is loaded into the editor and its phone preview.
    preview.get_by_text("积分商城").wait_for()

    page.locator('[data-test="menu-new"]').click()
    page.locator('[data-test="menu-name"]').fill("会员菜单")
    name = page.locator('[data-test="menu-button-name"]')
    name.fill("会员中心欢迎你的到来")  # 30 bytes: WeChat allows 16 for a top-level button
    choose(page, "menu-button-type", "跳转网页")
    page.locator('[data-test="menu-button-url"]').fill("https://wedraw.example/member")
    page.locator('[data-test="menu-add-button"]').click()
    name.fill("活动")
    page.locator('[data-test="menu-add-sub-1"]').click()
    name.fill("今日签到")
    page.locator('[data-test="menu-button-key"]').fill("SIGN_IN")

    # The preview follows the editor: two buttons, the second with its sub-menu open.
    assert page.locator('[data-test="menu-preview-button-0"]').inner_text().strip() == "会员中心欢迎你的到来"
    assert page.locator('[data-test="menu-preview-sub-1-0"]').inner_text().strip() == "今日签到"

    # WeChat's rule, checked by the server (422), is shown next to the offending button.
    page.locator('[data-test="menu-save"]').click()
    errors = page.locator('[data-test="menu-button-errors"]')
    errors.wait_for()
    assert "16 字节" in errors.inner_text()
    assert "error" in (page.locator('[data-test="menu-preview-button-0"]').get_attribute("class") or "")
    assert name.input_value() == "会员中心欢迎你的到来"  # the offending button is the one selected
    assert not site.sandbox.world.accounts[site.demo.appid].menu  # nothing reached WeChat

    name.fill("会员中心")
    page.locator('[data-test="menu-save"]').click()
    page.get_by_text("草稿已保存").wait_for()
    assert errors.count() == 0

    page.locator('[data-test="menu-publish"]').click()
    confirm(page, "发布")
    page.get_by_text("菜单已发布到微信").wait_for()
    assert "已发布" in page.locator('[data-test="menu-status"]').inner_text()
    live = site.sandbox.world.accounts[site.demo.appid].menu
    assert [b["name"] for b in live["button"]] == ["会员中心", "活动"]

    # Read the live menu back from WeChat.
    page.locator('[data-test="menu-read-live"]').click()
    dialog = page.locator('[data-test="menu-live"]')
    live_preview = dialog.locator('[data-test="menu-live-preview"]')
    live_preview.get_by_text("会员中心").wait_for()
    dialog.locator('[data-test="menu-live-preview-button-1"]').click()
    assert dialog.locator('[data-test="menu-live-preview-sub-1-0"]').inner_text().strip() == "今日签到"
    dialog.get_by_role("button", name="关闭", exact=True).click()

    # A fan clicks 今日签到: the click statistics count it.
    fan = site.control.act("follow", appid=site.demo.appid)["from"]
    site.control.act("click", appid=site.demo.appid, openid=fan, key="SIGN_IN")
    stats = page.locator('[data-test="menu-stats-table"]')
    page.get_by_role("button", name="刷新").click()
    row = stats.locator("tr", has_text="SIGN_IN")
    row.wait_for()
    assert re.search(r"点击菜单\s+SIGN_IN\s*（今日签到）\s+1\s+1", row.inner_text())


def test_full_sync_shows_its_progress_until_every_follower_is_listed(page, wechat_site, wechat_worker):
    site = wechat_site
    followers = site.control.users(site.demo.appid)["subscribed"]
    open_page(page, site, "wechat-fans")
    page.locator('[data-test="fans-table"]').get_by_text("暂无数据").wait_for()

    page.locator('[data-test="fan-sync-full"]').click()
    page.locator('[data-test="fan-sync-progress"]').wait_for()
    assert page.locator('[data-test="fan-sync-full"]').is_disabled()  # one sync at a time
    state = page.locator('[data-test="fan-sync-state"]')
    state.get_by_text("已完成").wait_for(timeout=60_000)
    assert page.locator('[data-test="fan-sync-progress"]').get_attribute("aria-valuenow") == "100"
    assert f"新增 {followers}" in page.locator('[data-test="fan-sync-status"]').inner_text()
    # The list reloads when the job finishes: every follower, with the profile WeChat gave.
    page.locator(".el-pagination__total").get_by_text(f"共 {followers} 条").wait_for()
    assert "（未获取昵称）" not in page.locator('[data-test="fans-table"]').inner_text()
    assert page.locator('[data-test="fan-sync-full"]').is_enabled()

    # Blacklist the first fan: WeChat's blacklist holds them, the list marks them and filters on it.
    openid = page.locator('[data-test="fan-openid"]').first.inner_text()
    page.locator('[data-test="fans-table"] .el-table__body .el-checkbox').first.click()
    page.locator('[data-test="fans-blacklist"]').click()
    confirm(page, "拉黑")
    page.locator(".el-message--success").get_by_text("拉黑成功：1 位粉丝").wait_for()
    page.locator('[data-test="fan-blacklisted"]').wait_for()
    users = site.control.users(site.demo.appid, 0, 1000)["users"]
    assert [u["openid"] for u in users if u["blacklisted"]] == [openid]
    page.locator('[data-test="fans-search-blacklisted"]').click()
    page.locator(".el-select-dropdown__item", has_text="已拉黑").click()
    page.locator('[data-test="fans-search-submit"]').click()
    page.locator(".el-pagination__total").get_by_text("共 1 条").wait_for()
    assert page.locator('[data-test="fan-openid"]').inner_text() == openid


def test_accounts_are_masked_checked_against_wechat_and_chosen_in_the_account_bar(page, wechat_site):
    site = wechat_site
    sign_in(page, site.url)
    page.locator('[data-test="current-user"]').wait_for()
    page.locator('[data-test="menu-wechat-accounts"]').click()
    table = page.locator('[data-test="wechat-accounts-table"]')
    table.get_by_text(site.demo.appid, exact=True).wait_for()
    assert site.demo.secret[-4:] in table.inner_text() and site.demo.secret not in page.content()
    assert site.demo.token not in page.content() and site.demo.aes_key not in page.content()

    page.locator(f'[data-test="wechat-account-check-{site.account_id}"]').click()
    result = page.locator(f'[data-test="wechat-account-check-result-{site.account_id}"]')
    result.get_by_text("凭据有效").wait_for()

    # A second account, whose credentials WeChat does not know: the check says so.
    page.locator('[data-test="wechat-accounts-create"]').click()
    dialog = page.locator('[data-test="wechat-account-dialog"]')
    dialog.locator('[data-test="wechat-account-form-appid"]').fill("wx00000000000000b2")
    dialog.locator('[data-test="wechat-account-form-name"]').fill("第二个公众号")
    dialog.locator('[data-test="wechat-account-form-secret"]').fill("0123456789abcdef0123456789abcdef")
    dialog.locator('[data-test="wechat-account-form-token"]').fill("secondtoken")
    dialog.locator('[data-test="wechat-account-form-aes-key"]').fill("A" * 43)
    dialog.locator('[data-test="wechat-account-form-submit"]').click()
    row = table.locator("tr", has_text="wx00000000000000b2")
    row.wait_for()
    assert "****cdef" in row.inner_text() and "0123456789abcdef0123456789abcdef" not in page.content()
    row.get_by_role("button", name="检测").click()
    row.get_by_text("检测失败").wait_for()

    # With two accounts, the account-scoped pages offer a choice; each shows that account's data.
    page.locator('[data-test="menu-wechat-replies"]').click()
    page.locator('[data-test="replies-table"]').get_by_text("关注欢迎语").wait_for()
    choose_account(page, "wx00000000000000b2")
    page.locator('[data-test="replies-table"]').get_by_text("暂无数据").wait_for()
    choose_account(page, site.demo.appid)
    page.locator('[data-test="replies-table"]').get_by_text("关注欢迎语").wait_for()


# A 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_replies_qr_codes_and_materials_work_against_wechat(page, wechat_site, wechat_worker, tmp_path):
    site = wechat_site
    open_page(page, site, "wechat-replies")

    # A keyword rule, previewed, then disabled: the preview no longer matches.
    page.locator('[data-test="replies-create"]').click()
    dialog = page.locator('[data-test="reply-dialog"]')
    dialog.locator('[data-test="reply-form-name"]').fill("签到回复")
    dialog.locator('[data-test="reply-form-keywords"]').click()
    page.keyboard.type("签到")
    page.keyboard.press("Enter")
    dialog.locator('[data-test="reply-form-content"]').fill("签到成功，积分 +10！")
    dialog.locator('[data-test="reply-form-submit"]').click()
    rule = page.locator('[data-test="replies-table"] tr', has_text="签到回复")
    rule.wait_for()
    assert "完全匹配" in rule.inner_text()

    page.locator('[data-test="replies-preview"]').click()
    preview = page.locator('[data-test="reply-preview"]')
    preview.locator('[data-test="reply-preview-text"]').fill("签到")
    preview.locator('[data-test="reply-preview-run"]').click()
    assert preview.locator('[data-test="reply-preview-summary"]').inner_text() == "签到成功，积分 +10！"
    preview.get_by_role("button", name="关闭此对话框").click()

    rule.locator(".el-switch").click()
    page.get_by_text("已停用「签到回复」").wait_for()
    page.locator('[data-test="replies-preview"]').click()
    preview.locator('[data-test="reply-preview-run"]').click()
    preview.get_by_text("没有规则匹配").wait_for()
    preview.get_by_role("button", name="关闭此对话框").click()

    # A temporary QR code: its image comes from WeChat; a new follower scanning it is counted.
    page.locator('[data-test="menu-wechat-qrcodes"]').click()
    page.locator('[data-test="qrcodes-create"]').click()
    dialog = page.locator('[data-test="qrcode-dialog"]')
    dialog.locator('[data-test="qrcode-form-name"]').fill("门店海报")
    dialog.locator('[data-test="qrcode-form-channel"]').fill("线下门店")
    dialog.locator('[data-test="qrcode-form-scene"]').fill("store_sh_01")
    dialog.locator('[data-test="qrcode-form-submit"]').click()
    row = page.locator('[data-test="qrcodes-table"] tr', has_text="门店海报")
    row.wait_for()
    row.get_by_role("button", name="预览").click()
    image = page.locator('[data-test="qrcode-preview-image"]')
    image.wait_for()
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())
    page.locator('[data-test="qrcode-preview"]').get_by_role("button", name="关闭", exact=True).click()

    account = site.sandbox.world.accounts[site.demo.appid]
    ticket = next(t for t, code in account.qrcodes.items() if code.scene == "store_sh_01")
    newcomer = site.control.act("follow", appid=site.demo.appid)["from"]
    site.control.act("unfollow", appid=site.demo.appid, openid=newcomer)
    site.control.act("scan", appid=site.demo.appid, openid=newcomer, ticket=ticket)
    scans = row.locator('[data-test^="qrcode-scans-"]')
    for _ in range(50):
        page.get_by_role("button", name="查询").click()
        if scans.inner_text() == "1":
            break
        page.wait_for_timeout(200)
    assert scans.inner_text() == "1"
    assert row.locator('[data-test^="qrcode-subscribes-"]').inner_text() == "1"

    # An image material: uploaded to WeChat, listed, previewed from WeChat's copy.
    picture = tmp_path / "poster.png"
    picture.write_bytes(PIXEL)
    page.locator('[data-test="menu-wechat-materials"]').click()
    page.locator('[data-test="materials-upload"]').click()
    dialog = page.locator('[data-test="material-upload-dialog"]')
    dialog.locator('input[type="file"]').set_input_files(str(picture))
    dialog.locator('[data-test="material-upload-submit"]').click()
    row = page.locator('[data-test="materials-table"] tr', has_text="poster.png")
    row.wait_for()
    (media_id,) = account.materials  # the one material WeChat now holds is the one listed
    assert media_id in row.inner_text()
    row.get_by_role("button", name="预览").click()
    shown = page.locator('[data-test="material-preview-image"]')
    shown.wait_for()
    page.wait_for_function("el => el.complete && el.naturalWidth === 1", arg=shown.element_handle())
