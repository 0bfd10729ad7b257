"""The 积分商城 console pages as an operator uses them: products with pictures, accounts and the ledger."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from tests.browser.points.conftest import open_console
from wedraw.points_mall.demo import demo_png
from wedraw.points_mall.models import Product, StockLog, db

pytestmark = pytest.mark.browser


def pick_option(page, select_test_id, text):
    page.locator(f'[data-test="{select_test_id}"]').click()
    page.locator(".el-select-dropdown__item:visible").get_by_text(text, exact=True).click()


def test_operator_adds_a_product_with_a_picture_and_adjusts_its_stock(page, points_site, tmp_path):
    site = points_site
    picture = tmp_path / "mug.png"
    picture.write_bytes(demo_png((0x12, 0x34, 0x56), size=64))

    open_console(page, site, "points-products")
    table = page.locator('[data-test="products-table"]')
    table.get_by_text("定制保温杯").wait_for()  # the seeded mall

    page.locator('[data-test="products-create"]').click()
    dialog = page.locator('[data-test="product-dialog"]')
    dialog.locator('[data-test="product-form-name"]').fill("WeDraw 马克杯")
    pick_option(page, "product-form-category", "生活家居")
    dialog.locator('[data-test="product-form-upload"] input[type=file]').set_input_files(str(picture))
    dialog.locator('[data-test="product-form-images"] .el-image img').wait_for()
    dialog.locator('[data-test="product-form-price"] input').fill("150")
    dialog.locator('[data-test="product-form-stock"] input').fill("5")
    dialog.locator('[data-test="product-form-limit"] input').fill("2")
    dialog.locator('[data-test="product-form-on-shelf"]').click()
    dialog.locator('[data-test="product-form-submit"]').click()
    dialog.wait_for(state="hidden")
    page.locator('[data-test="products-search-q"]').fill("马克杯")
    page.locator('[data-test="products-search-submit"]').click()
    page.wait_for_function(
        "document.querySelectorAll('[data-test=\"product-name\"]').length === 1", polling=100, timeout=10_000
    )
    assert page.locator('[data-test="product-name"]').inner_text() == "WeDraw 马克杯"

    with site.apps["points_mall"].app_context():
        product = db.session.execute(select(Product).where(Product.name == "WeDraw 马克杯")).scalar_one()
        assert (product.points_price, product.stock, product.per_member_limit, product.on_shelf) == (150, 5, 2, True)
        assert len(product.images) == 1
        image_name, product_id = product.images[0], product.id
    # The uploaded picture is the one served to members, byte for byte.
    served = requests.get(f"{site.url}/api/points/images/{image_name}", timeout=10)
    assert served.status_code == 200 and served.content == picture.read_bytes()
    catalog = requests.get(f"{site.url}/api/points/catalog/products/{product_id}", timeout=10).json()
    assert catalog["cover"].endswith(image_name)

    # Stock: taking away more than there is is refused in Chinese and changes nothing.
    page.locator(f'[data-test="product-stock-{product_id}"]').click()
    stock = page.locator('[data-test="stock-dialog"]')
    stock.locator('[data-test="stock-change"] input').fill("-9")
    stock.locator('[data-test="stock-submit"]').click()
    page.locator(".el-message--error").get_by_text("库存不足").wait_for()
    stock.locator('[data-test="stock-change"] input').fill("7")
    stock.locator('[data-test="stock-submit"]').click()
    stock.locator('[data-test="stock-current"]').get_by_text("12", exact=True).wait_for()
    stock.locator('[data-test="stock-logs"]').get_by_text("手工调整").wait_for()
    with site.apps["points_mall"].app_context():
        logs = db.session.execute(select(StockLog.change).where(StockLog.product_id == product_id)).scalars().all()
        assert sorted(logs) == [5, 7]

    # Off the shelf from the list: members no longer see it.
    page.keyboard.press("Escape")
    stock.wait_for(state="hidden")
    page.locator(f'[data-test="product-shelf-{product_id}"]').click()
    page.locator(".el-message--success").get_by_text("已下架").wait_for()
    assert requests.get(f"{site.url}/api/points/catalog/products/{product_id}", timeout=10).status_code == 404


def test_operator_grants_and_deducts_points_with_a_reason(page, points_site):
    site = points_site
    # The demo member's account exists from the seed (keyed by the sandbox user's unionid), 500 points.
    open_console(page, site, "points-accounts")
    table = page.locator('[data-test="accounts-table"]')
    table.locator('[data-test="account-balance"]').get_by_text("500", exact=True).wait_for()
    row = table.locator("tbody tr").first
    account_id = int(row.locator("td").first.inner_text())

    row.get_by_role("button", name="扣减").click()
    dialog = page.locator('[data-test="adjust-dialog"]')
    dialog.locator('[data-test="adjust-amount"] input').fill("800")
    dialog.locator('[data-test="adjust-reason"]').fill("误发冲正")
    dialog.locator('[data-test="adjust-submit"]').click()
    page.locator(".el-message--error").get_by_text("积分余额不足").wait_for()  # never below zero
    dialog.locator('[data-test="adjust-amount"] input').fill("120")
    dialog.locator('[data-test="adjust-submit"]').click()
    dialog.wait_for(state="hidden")
    table.locator('[data-test="account-balance"]').get_by_text("380", exact=True).wait_for()

    row.get_by_role("button", name="发放").click()
    dialog.locator('[data-test="adjust-amount"] input').fill("20")
    dialog.locator('[data-test="adjust-submit"]').click()
    dialog.locator(".el-form-item__error").get_by_text("请填写原因").wait_for()  # a reason is required
    dialog.locator('[data-test="adjust-reason"]').fill("活动补偿")
    dialog.locator('[data-test="adjust-submit"]').click()
    dialog.wait_for(state="hidden")
    table.locator('[data-test="account-balance"]').get_by_text("400", exact=True).wait_for()

    # The account's ledger, newest first, with the reasons.
    page.locator(f'[data-test="account-ledger-{account_id}"]').click()
    drawer = page.locator('[data-test="account-ledger-drawer"]')
    ledger = drawer.locator('[data-test="account-ledger-table"]')
    ledger.get_by_text("活动补偿").wait_for()
    text = ledger.inner_text()
    assert "误发冲正" in text and "后台扣减" in text and "后台发放" in text
    assert text.index("活动补偿") < text.index("误发冲正")
    page.keyboard.press("Escape")

    # 积分流水: search by type.
    page.locator('[data-test="menu-points-ledger"]').click()
    pick_option(page, "ledger-search-type", "后台扣减")
    page.locator('[data-test="ledger-search-submit"]').click()
    page.wait_for_function(
        "document.querySelectorAll('[data-test=\"ledger-type\"]').length === 1", polling=100, timeout=10_000
    )
    assert page.locator('[data-test="ledger-table"]').get_by_text("-120").is_visible()
    # Every grant and deduction is audited, the refused one as a failure.
    outcomes = [r["outcome"] for r in site.audit if str(r.get("target", "")).startswith("points_account:")]
    assert sorted(outcomes) == ["failure", "success", "success"]


def test_operator_changes_the_sign_in_rule(page, points_site):
    site = points_site
    open_console(page, site, "points-rules")
    card = page.locator('[data-test="rules-card"]')
    card.locator('[data-test="rules-signin-points"] input').wait_for()
    card.locator('[data-test="rules-signin-points"] input').fill("15")
    card.locator('[data-test="rules-add-bonus"]').click()
    card.locator('[data-test="rules-save"]').click()
    page.locator(".el-message--success").get_by_text("积分规则已保存").wait_for()
    rules = requests.get(f"{site.url}/api/points/catalog/rules", timeout=10).json()
    assert rules["sign_in"]["daily_points"] == 15
    assert [b["days"] for b in rules["sign_in"]["streak_bonuses"]] == [3, 7, 14]


def test_operator_finds_a_member_and_disabling_ends_their_session(page, points_site):
    site = points_site
    code = requests.post(f"{site.url}/api/miniprogram/sandbox/wxlogin", json={}, timeout=10).json()["code"]
    login = requests.post(f"{site.url}/api/miniprogram/login", json={"code": code}, timeout=10).json()
    token = {"Authorization": f"Bearer {login['token']}"}
    assert requests.get(f"{site.url}/api/points/me", headers=token, timeout=10).status_code == 200

    open_console(page, site, "miniprogram-members")
    table = page.locator('[data-test="members-table"]')
    table.get_by_text(login["member"]["member_key"]).wait_for()
    page.locator(f'[data-test="member-detail-{login["member"]["id"]}"]').click()
    drawer = page.locator('[data-test="member-detail"]')
    drawer.get_by_text(login["member"]["openid"]).wait_for()
    drawer.locator('[data-test="member-toggle-status"]').click()
    page.locator(".el-message-box").get_by_role("button", name="停用").click()
    drawer.locator('[data-test="member-toggle-status"]').get_by_text("启用会员").wait_for()
    table.get_by_text("已停用").wait_for()
    refused = requests.get(f"{site.url}/api/points/me", headers=token, timeout=10)
    assert refused.status_code in (401, 403) and refused.json()["code"] in ("member_disabled", "unauthorized")
