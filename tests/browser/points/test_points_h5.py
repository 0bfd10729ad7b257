"""The points mall end to end: an operator adds a product in the console; a member logs in to the
points H5 through the Mini Program login (sandbox wx.login), signs in, redeems it and sees the order;
the operator ships it; the member sees it shipped, with the carrier and tracking number."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.browser.points.conftest import H5, h5_login, member_page, open_console
from tests.browser.points.test_points_console import pick_option
from wedraw.points_mall.models import LedgerEntry, Order, Product, db
from wedraw.points_mall.models import PointsAccount as Account

pytestmark = pytest.mark.browser


def add_product(page, name, price, stock, limit):
    page.locator('[data-test="products-create"]').click()
    dialog = page.locator('[data-test="product-dialog"]')
    dialog.locator('[data-test="product-form-name"]').fill(name)
    pick_option(page, "product-form-category", "数码好物")
    dialog.locator('[data-test="product-form-price"] input').fill(str(price))
    dialog.locator('[data-test="product-form-stock"] input').fill(str(stock))
    dialog.locator('[data-test="product-form-limit"] input').fill(str(limit))
    dialog.locator('[data-test="product-form-description"]').fill("蓝色款，容量 350ml。")
    dialog.locator('[data-test="product-form-on-shelf"]').click()
    dialog.locator('[data-test="product-form-submit"]').click()
    dialog.wait_for(state="hidden")


def ledger_matches_balances(site) -> None:
    with site.apps["points_mall"].app_context():
        for account in db.session.execute(select(Account)).scalars():
            total = db.session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == account.id)
            ).scalar_one()
            assert account.balance == total >= 0


def test_operator_adds_member_redeems_operator_ships_member_sees_it_shipped(page, points_site):
    site = points_site
    open_console(page, site, "points-products")
    page.locator('[data-test="products-table"]').get_by_text("定制保温杯").wait_for()
    add_product(page, "WeDraw 随行杯", price=120, stock=3, limit=1)
    page.locator('[data-test="products-table"]').get_by_text("WeDraw 随行杯").wait_for()
    with site.apps["points_mall"].app_context():
        product_id = db.session.execute(select(Product.id).where(Product.name == "WeDraw 随行杯")).scalar_one()

    # The member: Mini Program login against the sandbox; the seeded demo member holds 500 points.
    member = member_page(page)
    h5_login(member, site)
    assert member.locator('[data-test="h5-balance"]').inner_text() == "500"

    # Daily sign-in: once a day, the calendar marks today.
    member.locator('[data-test="h5-tab-sign-in"]').click()
    member.locator('[data-test="h5-sign-in"]').click()
    member.locator('[data-test="h5-sign-in-result"]').get_by_text("当前余额 510").wait_for()
    member.locator('[data-test="h5-sign-in"]').get_by_text("今日已签到").wait_for()
    assert member.locator('[data-test="h5-day-signed"]').count() == 1
    assert member.locator('[data-test="h5-streak"]').inner_text() == "1"

    # Redeem the new product: details, address, confirmation, then the order.
    member.locator('[data-test="h5-tab-mall"]').click()
    member.locator(f'[data-test="h5-product-{product_id}"]').click()
    member.locator('[data-test="h5-detail-name"]').get_by_text("WeDraw 随行杯").wait_for()
    assert "库存 3" in member.locator('[data-test="h5-detail-stock"]').inner_text()
    member.locator('[data-test="h5-address-name"] input').fill("张三")
    member.locator('[data-test="h5-address-phone"] input').fill("13800138000")
    member.locator('[data-test="h5-address-detail"] textarea').fill("上海市浦东新区世纪大道 100 号")
    with member.expect_request(lambda r: r.url.endswith("/api/points/orders") and r.method == "POST") as sent:
        member.locator('[data-test="h5-redeem"]').click()
        member.locator(".van-dialog").get_by_text("使用 120 积分兑换「WeDraw 随行杯」× 1").wait_for()
        member.locator(".van-dialog").get_by_role("button", name="确认兑换").click()
    assert len(sent.value.headers.get("idempotency-key", "")) >= 8
    order_card = member.locator('[data-test="h5-order"]').first
    order_card.locator('[data-test="h5-order-product"]').get_by_text("WeDraw 随行杯").wait_for()
    assert order_card.locator('[data-test="h5-order-status"]').inner_text() == "待发货"
    with site.apps["points_mall"].app_context():
        order = db.session.execute(select(Order).where(Order.product_id == product_id)).scalar_one()
        assert (order.status, order.points_total) == ("pending_shipment", 120)
        assert db.session.get(Product, product_id).stock == 2
        order_no, order_id = order.order_no, order.id

    # Over the per-member limit: refused in plain Chinese, nothing taken.
    member.locator('[data-test="h5-tab-mall"]').click()
    member.locator(f'[data-test="h5-product-{product_id}"]').click()
    member.locator('[data-test="h5-redeem"]').click()
    member.locator(".van-dialog").get_by_role("button", name="确认兑换").click()
    error = member.locator('[data-test="h5-redeem-error"]')
    error.wait_for()
    assert "超出限兑数量" in error.inner_text() and "每人限兑 1 件" in error.inner_text()
    member.locator(".van-nav-bar__left").click()  # back to the mall
    member.locator('[data-test="h5-tab-me"]').click()
    member.locator('[data-test="h5-balance"]').get_by_text("390", exact=True).wait_for()
    member.locator('[data-test="h5-ledger-entry"]').first.get_by_text("积分兑换").wait_for()

    # The operator ships it.
    page.locator('[data-test="menu-points-orders"]').click()
    orders = page.locator('[data-test="orders-table"]')
    orders.get_by_text(order_no).wait_for()
    page.locator(f'[data-test="order-ship-{order_id}"]').click()
    ship = page.locator('[data-test="ship-dialog"]')
    pick_option(page, "ship-carrier", "顺丰速运")
    ship.locator('[data-test="ship-tracking-no"]').fill("SF1234567890")
    ship.locator('[data-test="ship-submit"]').click()
    ship.wait_for(state="hidden")
    orders.locator('[data-test="order-tracking"]').get_by_text("顺丰速运 SF1234567890").wait_for()
    assert orders.locator('[data-test="order-status"]').first.inner_text() == "已发货"

    # The member sees it shipped, with the carrier and tracking number.
    member.locator('[data-test="h5-tab-orders"]').click()
    card = member.locator('[data-test="h5-order"]').first
    card.locator('[data-test="h5-order-status"]').get_by_text("已发货").wait_for()
    assert card.locator('[data-test="h5-order-tracking"]').inner_text() == "SF1234567890"
    assert "顺丰速运" in card.locator('[data-test="h5-order-shipping"]').inner_text()
    ledger_matches_balances(site)
    member.context.close()


def test_a_new_member_without_points_is_told_in_chinese(page, points_site):
    site = points_site
    member = page  # the member alone: a phone-sized page is not needed
    h5_login(member, site, new_user=True)
    assert member.locator('[data-test="h5-balance"]').inner_text() == "0"
    with site.apps["points_mall"].app_context():
        cup = db.session.execute(select(Product.id).where(Product.name == "帆布袋")).scalar_one()
    member.goto(f"{site.url}{H5}products/{cup}")
    redeem = member.locator('[data-test="h5-redeem"]')
    redeem.get_by_text("积分不足").wait_for()
    assert redeem.is_disabled()
    # Today's sign-in twice: the second is refused and the balance moves once.
    member.locator('[data-test="h5-tab-sign-in"]').wait_for(state="detached")
    member.goto(f"{site.url}{H5}sign-in")
    member.locator('[data-test="h5-sign-in"]').click()
    member.locator('[data-test="h5-sign-in-result"]').get_by_text("当前余额 10").wait_for()
    ledger_matches_balances(site)
