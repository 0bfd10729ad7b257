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


def test_wecom_reports_member_and_group_counts_after_a_sync(apps, reported, record, rollup, da, admin):
    from wedraw.wecom import facts
    from wedraw.wecom.models import Corp, CustomerGroup, Member, SyncJob, db

    with apps["wecom"].app_context():
        corp = Corp(corp_id="wwfactscorp000001", name="测试企业")
        db.session.add(corp)
        db.session.flush()
        db.session.add_all([Member(corp_ref=corp.id, userid=f"u{n}", name=f"成员{n}") for n in range(3)])
        db.session.add_all([CustomerGroup(corp_ref=corp.id, chat_id=f"wr{n}") for n in range(2)])
        job = SyncJob(corp_ref=corp.id, kind="contacts")
        db.session.add(job)
        db.session.commit()
        facts.report_count(job, corp, "members")
        facts.report_count(job, corp, "groups")
        facts.report_count(job, corp, "members")  # a repeated report of the same sync
    sent = _facts(reported)
    assert [(f["kind"], f["data"]["count"], f["appid"]) for f in sent] == [
        ("wecom.members", 3, "wwfactscorp000001"),
        ("wecom.groups", 2, "wwfactscorp000001"),
        ("wecom.members", 3, "wwfactscorp000001"),
    ]
    assert record(*sent)["stored"] == 2  # the repeat is one fact

    from wedraw.data_analysis.facts import local_day, parse_time

    day = local_day(parse_time(sent[0]["occurred_at"]))
    rollup(day)
    kpis = da.get("/api/analytics/dashboard/kpis", query_string={"from": day, "to": day}, headers=admin.headers)
    values = {i["metric"]: i["value"] for i in kpis.get_json()["items"]}
    assert (values["wecom_members"], values["wecom_groups"]) == (3, 2)


def test_message_center_reports_final_outcomes_and_campaign_size(apps, reported, record, rollup, da, admin):
    from wedraw.message_center import facts
    from wedraw.message_center.models import Campaign, Delivery, Sender, db

    with apps["message_center"].app_context():
        sender = Sender(kind="official_account", name="演示公众号", app_key="wxfactsapp0000001")
        db.session.add(sender)
        db.session.flush()
        campaign = Campaign(
            uid="factscampaign",
            name="十月活动",
            channel="template",
            sender_id=sender.id,
            message_json="{}",
            audience_json="{}",
            status="completed",
            total=4,
        )
        db.session.add(campaign)
        db.session.flush()
        rows = [
            Delivery(campaign_id=campaign.id, channel="template", sender_id=sender.id, target="o1", status="sent"),
            Delivery(campaign_id=campaign.id, channel="template", sender_id=sender.id, target="o2", status="sent"),
            Delivery(
                campaign_id=campaign.id,
                channel="template",
                sender_id=sender.id,
                target="o3",
                status="failed_final",
                category="user",
                errcode=43004,
            ),
            Delivery(
                campaign_id=campaign.id, channel="template", sender_id=sender.id, target="o4", status="failed_retrying"
            ),  # not final: not reported
        ]
        db.session.add_all(rows)
        db.session.commit()
        ids = [r.id for r in rows]
        facts.report_outcomes(ids)
        facts.report_campaign(campaign.id)
        campaign_id = campaign.id
    sent = _facts(reported)
    outcomes = sorted((f["data"]["outcome"], f["data"]["reason"]) for f in sent if f["kind"] == "message.send")
    assert outcomes == [("failed", "user"), ("sent", None), ("sent", None)]
    assert all(f["appid"] == "wxfactsapp0000001" for f in sent if f["kind"] == "message.send")
    assert record(*sent)["stored"] == 4

    from wedraw.data_analysis.facts import local_day, parse_time

    day = local_day(parse_time(sent[0]["occurred_at"]))
    rollup(day)
    funnels = da.get(
        "/api/analytics/dashboard/campaigns", query_string={"from": day, "to": day}, headers=admin.headers
    ).get_json()
    assert funnels == [
        {
            "campaign_id": str(campaign_id),
            "name": "十月活动",
            "channel": "template",
            "targeted": 4,
            "sent": 2,
            "failed": 1,
            "failed_by_reason": [{"reason": "user", "count": 1}],
        }
    ]
