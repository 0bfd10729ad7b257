"""Services report their facts by named task only: the points mall's ledger entries, sign-ins and orders."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token

from wedraw.core.auth import MEMBER, MEMBER_AUDIENCE


@pytest.fixture
def reported(apps, monkeypatch):
    """What the points mall, message center and WeCom services send to data analysis, caught at send_task."""
    sent: list[tuple[str, dict, str]] = []
    for name in ("points_mall", "message_center", "wecom"):
        celery = apps[name].extensions["celery"]
        original = celery.send_task

        def send_task(task, args=None, kwargs=None, queue=None, _original=original, **options):
            if task.startswith("data_analysis."):
                sent.append((task, kwargs, queue))
                return None
            return _original(task, args=args, kwargs=kwargs, queue=queue, **options)

        monkeypatch.setattr(celery, "send_task", send_task)
    return sent


def _facts(reported) -> list[dict]:
    out = []
    for task, kwargs, queue in reported:
        assert queue == "analytics"
        out.extend(kwargs["facts"] if task == "data_analysis.record_facts" else [kwargs["fact"]])
    return out


def _member(apps):
    unionid = f"oUnion{uuid.uuid4().hex[:22]}"
    claims = {
        "kind": MEMBER,
        "aud": MEMBER_AUDIENCE,
        "mkey": f"unionid:{unionid}",
        "sid": "member-77-1",
        "appid": "wxtestmp0000000001",
        "openid": f"o{uuid.uuid4().hex[:27]}",
        "unionid": unionid,
    }
    with apps["points_mall"].app_context():
        token = create_access_token(identity="77", additional_claims=claims)
    return {"Authorization": f"Bearer {token}"}


def test_points_mall_reports_entries_sign_ins_and_orders_after_commit(apps, admin, reported, record, rollup, da):
    points = apps["points_mall"].test_client()
    points.patch("/api/points/rules", json={"sign_in": {"enabled": True, "daily_points": 10}}, headers=admin.headers)
    member = _member(apps)
    assert points.post("/api/points/me/sign-ins", headers=member).status_code == 201
    account_id = points.get("/api/points/me", headers=member).get_json()["account_id"]
    grant = points.post(
        f"/api/points/accounts/{account_id}/grants", json={"amount": 500, "reason": "测试"}, headers=admin.headers
    )
    assert grant.status_code == 201, grant.get_json()
    product = points.post(
        "/api/points/products",
        json={"name": "保温杯", "points_price": 200, "stock": 5, "on_shelf": True, "needs_address": False},
        headers=admin.headers,
    ).get_json()
    order = points.post(
        "/api/points/orders",
        json={"product_id": product["id"], "quantity": 2},
        headers={**member, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert order.status_code == 201, order.get_json()
    # Refused (not enough points): rolled back, so nothing is reported for it.
    refused = points.post(
        "/api/points/orders",
        json={"product_id": product["id"], "quantity": 1},
        headers={**member, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert refused.status_code == 409

    facts = _facts(reported)
    kinds = sorted(f["kind"] for f in facts)
    assert kinds == ["points.credit", "points.credit", "points.debit", "points.order"]
    by_kind = {f["kind"]: f for f in facts}
    assert by_kind["points.order"]["data"]["points_total"] == 400
    assert by_kind["points.order"]["data"]["product_name"] == "保温杯"
    assert by_kind["points.debit"]["data"]["amount"] == -400
    assert {f["data"]["business_type"] for f in facts if f["kind"] == "points.credit"} == {"sign_in", "admin_grant"}
    assert len({f["event_id"] for f in facts}) == 4

    record(*facts)
    from wedraw.data_analysis.facts import local_day, parse_time

    day = local_day(parse_time(facts[0]["occurred_at"]))
    rollup(day - timedelta(days=1), day + timedelta(days=1))
    rng = {"from": day, "to": day}
    kpis = da.get("/api/analytics/dashboard/kpis", query_string=rng, headers=admin.headers).get_json()
    values = {i["metric"]: i["value"] for i in kpis["items"]}
    assert values["sign_ins"] == 1
    assert values["points_earned"] == 510
    assert values["points_spent"] == 400
    assert values["orders"] == 1 and values["order_points"] == 400
    top = da.get("/api/analytics/dashboard/top-products", query_string=rng, headers=admin.headers).get_json()
    assert top == [{"product_id": str(product["id"]), "name": "保温杯", "orders": 1, "points": 400}]
