"""Members by filter as a campaign audience: the miniprogram service answers which members match,
the wizard's count comes from it, and a subscribe-message campaign reaches exactly those members."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.message.conftest import deliveries, wait_campaign

ESTIMATE = "/api/message/audiences/estimate"
JAN, MAR = datetime(2026, 1, 10), datetime(2026, 3, 10)

# (status, phone bound, joined): six members of the demo Mini Program
MEMBERS = [
    ("active", True, JAN),
    ("active", True, JAN),
    ("active", False, JAN),
    ("active", False, MAR),
    ("active", False, MAR),
    ("disabled", False, MAR),
]


def store_members(miniprogram_app, sandbox, appid: str) -> list[str]:
    """The Mini Program and six members (MEMBERS) with its openids, stored as logins would store them."""
    from wedraw.miniprogram.models import Member, MpApp, MpUser, db

    openids = sandbox.world.accounts[appid].users.openids[: len(MEMBERS)]
    with miniprogram_app.app_context():
        app = MpApp(appid=appid, name="积分商城", secret_enc="-", secret_hint="")
        db.session.add(app)
        db.session.flush()
        for i, ((status, phone, joined), openid) in enumerate(zip(MEMBERS, openids, strict=True)):
            member = Member(
                member_key=f"m-{i}",
                unionid=f"union-{i}",
                status=status,
                phone_hash=f"hash-{i}" if phone else None,
                created_at=joined,
                updated_at=joined,
            )
            db.session.add(member)
            db.session.flush()
            db.session.add(MpUser(member_id=member.id, app_id=app.id, openid=openid, created_at=joined))
        db.session.commit()
    return openids


@pytest.fixture
def members(miniprogram_app, sandbox, demo) -> list[str]:
    return store_members(miniprogram_app, sandbox, demo.miniprogram.appid)


def _estimate(api, sender_id: int, **params):
    return api.get(ESTIMATE, query_string={"sender_id": sender_id, "kind": "members", **params})


def test_the_member_filters_count_what_they_say(api, senders, members):
    mp = senders["mini_program"]["id"]
    assert _estimate(api, mp).get_json()["count"] == 5  # active members only, by default
    assert _estimate(api, mp, phone_bound="true").get_json()["count"] == 2
    assert _estimate(api, mp, phone_bound="false").get_json()["count"] == 3
    assert _estimate(api, mp, joined_after="2026-02-01T00:00:00+08:00").get_json()["count"] == 2
    assert _estimate(api, mp, joined_before="2026-02-01T00:00:00Z", phone_bound="false").get_json()["count"] == 1
    assert _estimate(api, mp, status="disabled").get_json()["count"] == 1
    backwards = _estimate(api, mp, joined_after="2026-03-01T00:00:00Z", joined_before="2026-02-01T00:00:00Z")
    assert backwards.status_code == 422 and "joined_before" in backwards.get_json()["errors"]
    # Members are people of a Mini Program: an Official Account sender cannot send to them.
    wrong = _estimate(api, senders["official_account"]["id"])
    assert wrong.status_code == 422 and wrong.get_json()["errors"] == {"kind": ["Not for a official_account sender."]}


def _subscribe_template(api, senders, sandbox, demo) -> tuple[dict, str]:
    mp = sandbox.world.accounts[demo.miniprogram.appid]
    wechat_template = next(t for t in mp.templates.values() if t.title == "兑换成功通知").template_id
    response = api.post(
        "/api/message/templates",
        json={
            "channel": "mp_subscribe",
            "sender_id": senders["mini_program"]["id"],
            "name": "兑换成功",
            "wechat_template_id": wechat_template,
            "content": "商品名称{{thing1.DATA}}\n消耗积分{{number2.DATA}}\n兑换时间{{time3.DATA}}",
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json(), wechat_template


DATA = {"thing1": "绑定手机", "number2": 50, "time3": "2026-01-31 15:01"}


def test_a_subscribe_campaign_to_members_by_filter_reaches_exactly_them(
    api, senders, members, sandbox, demo, mc_worker, mc_app
):
    template, wechat_template = _subscribe_template(api, senders, sandbox, demo)
    no_phone = members[2:5]  # active, no phone bound
    for openid in no_phone[:2]:  # the third never granted a subscription: WeChat answers 43101
        sandbox.control.grant_subscribe(openid, wechat_template, appid=demo.miniprogram.appid)
    response = api.post(
        "/api/message/campaigns",
        json={
            "name": "绑定手机提醒",
            "channel": "mp_subscribe",
            "sender_id": senders["mini_program"]["id"],
            "template_id": template["id"],
            "data": DATA,
            "audience": {"kind": "members", "filter": {"phone_bound": False}},
            "start": True,
        },
    )
    assert response.status_code == 201, response.get_json()
    campaign = response.get_json()
    assert campaign["audience"] == {"kind": "members", "filter": {"phone_bound": False, "status": "active"}}
    assert campaign["audience_estimate"] == 3
    progress = wait_campaign(api, campaign["id"])
    assert progress["counts"]["sent"] == 2 and progress["counts"]["failed_final"] == 1
    rows = {r.target: (r.status, r.errcode) for r in deliveries(mc_app, campaign_id=campaign["id"])}
    assert rows == {no_phone[0]: ("sent", None), no_phone[1]: ("sent", None), no_phone[2]: ("failed_final", 43101)}
    outbox = sandbox.control.outbox(app=demo.miniprogram.appid, channel="subscribe")
    assert outbox["counts"] == {no_phone[0]: 1, no_phone[1]: 1}


def test_an_empty_member_audience_is_refused_before_anything_is_queued(api, senders, members, sandbox, demo, mc_app):
    template, _ = _subscribe_template(api, senders, sandbox, demo)
    response = api.post(
        "/api/message/campaigns",
        json={
            "name": "无人",
            "channel": "mp_subscribe",
            "sender_id": senders["mini_program"]["id"],
            "template_id": template["id"],
            "data": DATA,
            "audience": {"kind": "members", "filter": {"status": "disabled", "phone_bound": True}},
            "start": True,
        },
    )
    assert response.status_code == 422 and response.get_json()["code"] == "empty_audience", response.get_json()
    assert deliveries(mc_app) == []
