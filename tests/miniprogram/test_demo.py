"""The embedded demo: the seeded Mini Program, mall and demo member can be walked through (journey 3)."""

from __future__ import annotations

import uuid

from tests.miniprogram.conftest import LOGIN, bearer
from wedraw.core.factory import create_app


def test_the_demo_member_signs_in_redeems_and_sees_the_order(apps, mp_app, mp_settings, sandbox, admin, audit):
    import wedraw.miniprogram as miniprogram
    import wedraw.points_mall as points_mall

    points_app = create_app("points_mall", settings=mp_settings, audit_sink=audit.append)
    said = []
    for module, app in ((miniprogram, mp_app), (points_mall, points_app)):
        with app.app_context():
            module.seed(app, said.append)
            module.seed(app, said.append)  # idempotent: the second run adds nothing
    assert len(said) == 2 and "500 points for the demo member" in said[1]

    mp, points = mp_app.test_client(), points_app.test_client()
    code = mp.post("/api/miniprogram/sandbox/wxlogin", json={}).get_json()["code"]  # the first sandbox user
    login = mp.post(LOGIN, json={"code": code})
    assert login.status_code == 200, login.get_json()
    token = bearer(login.get_json()["token"])
    assert points.get("/api/points/me", headers=token).get_json()["balance"] == 500

    signed = points.post("/api/points/me/sign-ins", headers=token)
    assert signed.status_code == 201 and signed.get_json()["balance"] == 510
    catalog = points.get("/api/points/catalog/products?page_size=50").get_json()
    assert catalog["total"] == 6 and all(p["cover"] for p in catalog["items"])
    cup = next(p for p in catalog["items"] if p["name"] == "定制保温杯")
    assert points.get(cup["cover"]).status_code == 200
    order = points.post(
        "/api/points/orders",
        json={
            "product_id": cup["id"],
            "address": {"name": "演示会员", "phone": "13800000000", "address": "上海市浦东新区演示路 1 号"},
        },
        headers={**token, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert order.status_code == 201, order.get_json()
    mine = points.get("/api/points/me/orders", headers=token).get_json()
    assert [o["product_name"] for o in mine["items"]] == ["定制保温杯"]
    shipped = points.post(
        f"/api/points/orders/{order.get_json()['id']}/ship",
        json={"carrier": "顺丰速运", "tracking_no": "SF1000000001"},
        headers=admin.headers,
    )
    assert shipped.status_code == 200
    seen = points.get(f"/api/points/me/orders/{order.get_json()['id']}", headers=token).get_json()
    assert (seen["status"], seen["tracking_no"]) == ("shipped", "SF1000000001")
    sold_out = next(p for p in catalog["items"] if p["stock"] == 0)
    refused = points.post(
        "/api/points/orders",
        json={"product_id": sold_out["id"]},
        headers={**token, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert refused.get_json()["code"] == "insufficient_stock"
