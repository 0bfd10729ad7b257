"""Redeeming, the order's life (ship, complete, cancel, refund), and bad input that changes nothing."""

from __future__ import annotations

import csv
import io

from tests.points.conftest import assert_books_balance, ledger_state, redeem

ADDRESS = {"name": "张三", "phone": "13812345678", "address": "上海市浦东新区世纪大道 100 号"}


def test_redeem_takes_points_and_stock_in_one_go_and_ships(points, admin_api, make_member, product, fund, apps, audit):
    member = make_member()
    fund(member, 500)
    item = product(price=120, stock=5, needs_address=True)
    created = redeem(points, member, item["id"], 2, address=ADDRESS, remark="周末送")
    assert created.status_code == 201, created.get_json()
    order = created.get_json()
    assert (order["status"], order["points_total"], order["quantity"]) == ("pending_shipment", 240, 2)
    assert order["address"] == ADDRESS  # the member sees their own address

    me = points.get("/api/points/me", headers=member.headers).get_json()
    assert me["balance"] == 260 and me["total_spent"] == 240 and me["orders_pending_shipment"] == 1
    stock = admin_api.get(f"/api/points/products/{item['id']}").get_json()
    assert (stock["stock"], stock["sold"]) == (3, 2)
    logs = admin_api.get(f"/api/points/products/{item['id']}/stock-logs").get_json()["items"]
    assert [(x["reason"], x["change"], x["stock_after"]) for x in logs] == [("redemption", -2, 3), ("initial", 5, 5)]
    ledger = points.get("/api/points/me/ledger", headers=member.headers).get_json()["items"]
    assert [(e["business_type"], e["amount"], e["balance_after"]) for e in ledger][:1] == [("redemption", -240, 260)]

    shipped = admin_api.post(
        f"/api/points/orders/{order['id']}/ship", json={"carrier": "顺丰", "tracking_no": "SF123456"}
    )
    assert shipped.status_code == 200, shipped.get_json()
    detail = shipped.get_json()
    assert (detail["status"], detail["carrier"], detail["tracking_no"]) == ("shipped", "顺丰", "SF123456")
    assert detail["address"]["phone"] == "13812345678"  # super_admin holds pii:personal:read
    assert [n["event"] for n in detail["notifications"]] == ["redeemed", "shipped"]
    assert (
        admin_api.post(
            f"/api/points/orders/{order['id']}/ship", json={"carrier": "x", "tracking_no": "YT9999"}
        ).status_code
        == 409
    )

    audited = [(r["action"], r["target"], r["outcome"]) for r in audit if r["service"] == "points_mall"]
    assert ("points-accounts.grant_points", f"points_account:{me['account_id']}", "success") in audited
    assert ("points-orders.ship_order", f"points_order:{order['id']}", "success") in audited
    assert ("points-orders.ship_order", f"points_order:{order['id']}", "failure") in audited  # the second try
    assert not any(r["action"] == "points-orders.redeem" for r in audit)  # members are not admins

    mine = points.get(f"/api/points/me/orders/{order['id']}", headers=member.headers).get_json()
    assert mine["status"] == "shipped" and mine["tracking_no"] == "SF123456"
    confirmed = points.post(f"/api/points/me/orders/{order['id']}/confirm", headers=member.headers)
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "completed"
    assert_books_balance(apps)


def test_bad_input_changes_nothing(points, admin_api, make_member, product, fund, apps):
    member = make_member()
    fund(member, 100)
    cheap = product(price=30, stock=1, limit=1)
    dear = product(price=500, stock=10)
    empty = product(price=10, stock=0)
    hidden = product(price=10, stock=5, on_shelf=False)
    shipped_goods = product(price=10, stock=5, needs_address=True)
    before = ledger_state(apps)

    refused = redeem(points, member, dear["id"])
    assert (refused.status_code, refused.get_json()["code"]) == (409, "insufficient_points")
    assert "balance is 100" in refused.get_json()["message"]
    refused = redeem(points, member, empty["id"])
    assert (refused.status_code, refused.get_json()["code"]) == (409, "insufficient_stock")
    assert (redeem(points, member, cheap["id"], 2).get_json()["code"]) in (
        "insufficient_stock",
        "purchase_limit_exceeded",
    )
    for missing in (hidden["id"], 999_999):
        refused = redeem(points, member, missing)
        assert (refused.status_code, refused.get_json()["code"]) == (404, "product_not_found")
    for quantity in (0, -1):
        assert redeem(points, member, cheap["id"], quantity).status_code == 422
    assert redeem(points, member, shipped_goods["id"]).status_code == 422  # no address for shipped goods
    no_key = points.post("/api/points/orders", json={"product_id": cheap["id"]}, headers=member.headers)
    assert no_key.status_code == 422
    account_id = points.get("/api/points/me", headers=member.headers).get_json()["account_id"]
    for amount in (0, -5):
        for kind in ("grants", "deductions"):
            response = admin_api.post(
                f"/api/points/accounts/{account_id}/{kind}", json={"amount": amount, "reason": "x"}
            )
            assert response.status_code == 422
    over = admin_api.post(f"/api/points/accounts/{account_id}/deductions", json={"amount": 101, "reason": "too much"})
    assert (over.status_code, over.get_json()["code"]) == (409, "insufficient_points")
    assert admin_api.post(f"/api/points/products/{empty['id']}/stock", json={"change": -1}).status_code == 409
    assert admin_api.post(f"/api/points/products/{empty['id']}/stock", json={"change": 0}).status_code == 422
    assert ledger_state(apps) == before

    # Within the limit it works; beyond it, 409 naming the limit (and still nothing changes).
    assert redeem(points, member, cheap["id"]).status_code == 201
    admin_api.post(f"/api/points/products/{cheap['id']}/stock", json={"change": 5, "note": "补货"})
    after_first = ledger_state(apps)
    refused = redeem(points, member, cheap["id"])
    assert (refused.status_code, refused.get_json()["code"]) == (409, "purchase_limit_exceeded")
    assert ledger_state(apps) == after_first


def test_same_key_replays_the_order_and_a_different_body_is_409(points, make_member, product, fund, apps):
    member = make_member()
    fund(member, 1000)
    item = product(price=100, stock=10)
    first = redeem(points, member, item["id"], 1, key="retry-key-0001")
    again = redeem(points, member, item["id"], 1, key="retry-key-0001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["order_no"] == again.get_json()["order_no"]
    changed = redeem(points, member, item["id"], 2, key="retry-key-0001")
    assert (changed.status_code, changed.get_json()["code"]) == (409, "idempotency_key_reused")
    assert points.get("/api/points/me", headers=member.headers).get_json()["balance"] == 900
    # Keys are per member: another member's same key is their own order.
    other = make_member()
    fund(other, 100)
    assert redeem(points, other, item["id"], 1, key="retry-key-0001").status_code == 201
    assert_books_balance(apps)


def test_a_refund_requested_twice_returns_points_once(points, admin_api, make_member, product, fund, apps):
    member = make_member()
    fund(member, 300)
    item = product(price=100, stock=3)
    order = redeem(points, member, item["id"], 2).get_json()
    admin_api.post(f"/api/points/orders/{order['id']}/ship", json={"carrier": "EMS", "tracking_no": "EMS0001"})
    first = admin_api.post(f"/api/points/orders/{order['id']}/refund", json={"reason": "质量问题"})
    second = admin_api.post(f"/api/points/orders/{order['id']}/refund", json={"reason": "质量问题"})
    assert first.status_code == 200 and first.get_json()["status"] == "refunded"
    assert (second.status_code, second.get_json()["code"]) == (409, "order_refunded")
    assert points.get("/api/points/me", headers=member.headers).get_json()["balance"] == 300
    assert admin_api.get(f"/api/points/products/{item['id']}").get_json()["stock"] == 3
    entries = first.get_json()["entries"]
    assert [(e["business_type"], e["amount"]) for e in entries] == [("redemption", -200), ("redemption_refund", 200)]
    # Cancelling a refunded order is refused too; nothing moves.
    assert admin_api.post(f"/api/points/orders/{order['id']}/cancel", json={}).status_code == 409
    assert_books_balance(apps)


def test_member_cancels_before_shipment_and_points_come_back_into_their_lots(points, make_member, product, fund, apps):
    member = make_member()
    fund(member, 50)
    fund(member, 70)
    item = product(price=100, stock=1)
    order = redeem(points, member, item["id"]).get_json()
    cancelled = points.post(
        f"/api/points/me/orders/{order['id']}/cancel", json={"reason": "不想要了"}, headers=member.headers
    )
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert points.post(f"/api/points/me/orders/{order['id']}/cancel", headers=member.headers).status_code == 409
    other = make_member()
    assert points.post(f"/api/points/me/orders/{order['id']}/cancel", headers=other.headers).status_code == 404
    state = assert_books_balance(apps)
    assert state["products"][item["id"]] == (1, 0)
    from wedraw.points_mall.models import PointsLot, db

    with apps["points_mall"].app_context():
        lots = [(lot.amount, lot.remaining) for lot in db.session.query(PointsLot).order_by(PointsLot.id)]
    assert lots == [(50, 50), (70, 70)]  # the 100 taken (50 + 50 oldest first) went back where it came from


def test_admin_lists_filters_and_exports_orders(points, admin_api, make_member, product, fund, make_user, login):
    member = make_member()
    fund(member, 1000)
    item = product(price=10, stock=10, needs_address=True, name="帆布袋")
    orders = [redeem(points, member, item["id"], address=ADDRESS).get_json() for _ in range(3)]
    admin_api.post(f"/api/points/orders/{orders[0]['id']}/ship", json={"carrier": "中通", "tracking_no": "ZT0001"})
    listed = admin_api.get("/api/points/orders?status=pending_shipment&page_size=2").get_json()
    assert listed["total"] == 2 and len(listed["items"]) == 2
    by_no = admin_api.get(f"/api/points/orders?q={orders[1]['order_no']}").get_json()["items"]
    assert [o["id"] for o in by_no] == [orders[1]["id"]]

    _, password = make_user("viewer", roles=("read_only",))
    viewer = login("viewer", password)
    export = points.get(f"/api/points/orders/export?product_id={item['id']}", headers=viewer.headers)
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["order_no", "status", "created_at"] and len(rows) == 4
    shipped = next(r for r in rows if r[0] == orders[0]["order_no"])
    assert shipped[1] == "已发货" and shipped[11] == "ZT0001"
    assert shipped[8] == "138****5678" and shipped[7] == "张*"  # read_only has no pii:personal:read
    masked = points.get(f"/api/points/orders/{orders[0]['id']}", headers=viewer.headers).get_json()
    assert masked["address"]["phone"] == "138****5678"


def test_catalog_is_public_and_shows_only_the_shelf(points, admin_api, product):
    category = admin_api.post("/api/points/categories", json={"name": "生活"}).get_json()
    hidden_category = admin_api.post("/api/points/categories", json={"name": "下架类", "enabled": False}).get_json()
    shown = product(price=10, stock=3, category_id=category["id"], sort_order=2)
    product(price=10, stock=3, on_shelf=False)
    product(price=10, stock=3, category_id=hidden_category["id"])
    listed = points.get("/api/points/catalog/products").get_json()
    assert [p["id"] for p in listed["items"]] == [shown["id"]]
    assert points.get(f"/api/points/catalog/products/{shown['id']}").status_code == 200
    assert [c["name"] for c in points.get("/api/points/catalog/categories").get_json()["items"]] == ["生活"]
    assert points.get("/api/points/catalog/rules").get_json()["sign_in"]["daily_points"] == 10
    # Operators take it off the shelf: members get 404 from then on.
    admin_api.patch(f"/api/points/products/{shown['id']}", json={"on_shelf": False})
    assert points.get(f"/api/points/catalog/products/{shown['id']}").status_code == 404
    assert admin_api.delete(f"/api/points/categories/{category['id']}").status_code == 409


def test_images_upload_and_serve(points, admin_api, product):
    from wedraw.points_mall.demo import demo_png

    png = demo_png((10, 120, 200), size=16)
    uploaded = admin_api.post(
        "/api/points/images", data={"file": (io.BytesIO(png), "cup.png")}, content_type="multipart/form-data"
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    image = uploaded.get_json()
    served = points.get(image["url"])
    assert served.status_code == 200 and served.data == png and served.mimetype == "image/png"
    item = product(images=[image["name"]])
    assert item["cover"] == image["url"] and item["image_names"] == [image["name"]]
    bogus = admin_api.post(
        "/api/points/images", data={"file": (io.BytesIO(b"not an image"), "x.png")}, content_type="multipart/form-data"
    )
    assert bogus.status_code == 422
    assert (
        admin_api.post(
            "/api/points/products", json={"name": "x", "points_price": 1, "images": ["0" * 32 + ".png"]}
        ).status_code
        == 422
    )
    assert points.get("/api/points/images/" + "0" * 32 + ".png").status_code == 404


def test_an_order_number_already_taken_is_drawn_again_and_nothing_is_charged_twice(
    points, make_member, product, fund, apps, monkeypatch
):
    from wedraw.points_mall import orders

    item = product(price=100, stock=5)
    first, second = make_member(), make_member()
    fund(first, 500)
    fund(second, 500)
    draws = iter(["P202611280000000000000001", "P202611280000000000000001", "P202611280000000000000002"])
    monkeypatch.setattr(orders, "_new_order_no", lambda: next(draws))
    assert redeem(points, first, item["id"]).status_code == 201
    again = redeem(points, second, item["id"])  # draws the first order's number, then a free one
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["order_no"] == "P202611280000000000000002"
    state = assert_books_balance(apps)
    assert sorted(a["balance"] for a in state["accounts"].values()) == [400, 400]
    assert list(state["products"].values()) == [(3, 2)] and state["entries"] == 4  # 2 fundings, 2 debits

    monkeypatch.setattr(orders, "_new_order_no", lambda: "P202611280000000000000002")  # never free
    refused = redeem(points, second, item["id"])
    assert refused.status_code == 503 and refused.get_json()["code"] == "order_no_unavailable"
    assert ledger_state(apps) == state  # nothing taken
