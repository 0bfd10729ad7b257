"""Earning: the subscribe bonus (once per member ever), daily sign-in with streaks, rules; who may call what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wedraw.core.db import utcnow
from wedraw.points_mall import ledger
from wedraw.points_mall.tasks import AWARD_SUBSCRIBE_TASK


@pytest.fixture
def points_celery(settings, apps):
    from workers.bootstrap import build_worker_app

    return build_worker_app("points_mall", settings=settings)


def _award(points_celery, **event):
    event.setdefault("event_id", f"wechat_official:wxdemo:{event.get('openid')}:{utcnow().timestamp()}")
    event.setdefault("appid", "wxoademo0000000001")
    return points_celery.tasks[AWARD_SUBSCRIBE_TASK].apply(kwargs={"event": event}).get()


def test_the_subscribe_bonus_is_paid_once_per_member_ever(points, make_member, points_celery, admin_api):
    member = make_member()
    unionid = member.key.removeprefix("unionid:")
    # The member used the Mini Program first: their account exists under their unionid.
    account_id = points.get("/api/points/me", headers=member.headers).get_json()["account_id"]
    assert _award(points_celery, openid="oFanOpenid00001", unionid=unionid) == "awarded"
    # Unfollow and follow again (a new event id), or a redelivered event: no second bonus.
    assert _award(points_celery, openid="oFanOpenid00001", unionid=unionid) == "already awarded"
    me = points.get("/api/points/me", headers=member.headers).get_json()
    assert (me["account_id"], me["balance"]) == (account_id, 100)
    # A fan WeChat gives no unionid for is known by the Official Account's openid alone.
    assert _award(points_celery, openid="oLonelyFan00001") == "awarded"
    listed = admin_api.get("/api/points/accounts?q=oLonelyFan00001").get_json()["items"]
    assert [(a["member_key"], a["balance"]) for a in listed] == [("oa:wxoademo0000000001:oLonelyFan00001", 100)]
    # Switched off in the rules: nothing is paid.
    admin_api.patch("/api/points/rules", json={"subscribe_bonus": {"enabled": False, "points": 100}})
    assert _award(points_celery, openid="oAnotherFan0001", unionid="oUnionNew000000000000000001") == "disabled"
    assert _award(points_celery, openid="", unionid=None).startswith("ignored")


def test_daily_sign_in_builds_a_streak_and_pays_its_bonus(points, admin_api, make_member, monkeypatch):
    admin_api.patch(
        "/api/points/rules",
        json={
            "sign_in": {
                "enabled": True,
                "daily_points": 10,
                "streak_bonuses": [{"days": 3, "points": 5}, {"days": 2, "points": 1, "repeat": True}],
            }
        },
    )
    member = make_member()
    start = utcnow() - timedelta(days=3)
    results = []
    for day in range(4):
        when = start + timedelta(days=day)
        monkeypatch.setattr(ledger, "clock", lambda when=when: when)
        if day == 2:
            continue  # a missed day breaks the streak
        response = points.post("/api/points/me/sign-ins", headers=member.headers)
        assert response.status_code == 201, response.get_json()
        results.append((response.get_json()["streak"], response.get_json()["bonus"]))
        assert points.post("/api/points/me/sign-ins", headers=member.headers).get_json()["code"] == "already_signed_in"
    assert results == [(1, 0), (2, 1), (1, 0)]
    monkeypatch.setattr(ledger, "clock", lambda: start + timedelta(days=4))
    assert points.post("/api/points/me/sign-ins", headers=member.headers).get_json()["streak"] == 2
    calendar = points.get("/api/points/me/sign-ins", headers=member.headers).get_json()
    assert calendar["signed_in_today"] and calendar["streak"] == 2
    assert calendar["next_bonus"] == {"streak": 3, "points": 5, "in_days": 1}
    me = points.get("/api/points/me", headers=member.headers).get_json()
    assert me["balance"] == 10 * 4 + 1 + 1
    types = [
        e["business_type"] for e in points.get("/api/points/me/ledger", headers=member.headers).get_json()["items"]
    ]
    assert types.count("sign_in") == 4 and types.count("streak_bonus") == 2
    bad_month = points.get("/api/points/me/sign-ins?month=2026-13", headers=member.headers)
    assert bad_month.status_code == 422


def test_rules_are_validated_and_versioned(admin_api):
    first = admin_api.get("/api/points/rules").get_json()
    assert first["rules"]["expiry"] == {"enabled": False, "days": 365}  # off by default
    incomplete = admin_api.patch("/api/points/rules", json={"notifications": {"shipped": {"enabled": True}}})
    assert incomplete.status_code == 422
    duplicate = admin_api.patch(
        "/api/points/rules",
        json={"sign_in": {"enabled": True, "daily_points": 5, "streak_bonuses": [{"days": 3, "points": 1}] * 2}},
    )
    assert duplicate.status_code == 422
    unknown_field = admin_api.patch(
        "/api/points/rules",
        json={
            "notifications": {
                "shipped": {
                    "enabled": True,
                    "message_template_id": 3,
                    "wechat_template_id": "TPL_shipped",
                    "data": {"thing2": "{carrier_name}"},
                }
            }
        },
    )
    assert unknown_field.status_code == 422
    saved = admin_api.patch(
        "/api/points/rules",
        json={
            "notifications": {
                "shipped": {
                    "enabled": True,
                    "message_template_id": 3,
                    "wechat_template_id": "TPL_shipped",
                    "data": {"character_string1": "{order_no}", "thing2": "{carrier}", "time3": "{time}"},
                }
            }
        },
    )
    assert saved.status_code == 200, saved.get_json()
    body = saved.get_json()
    assert body["version"] == first["version"] + 1 and body["updated_by"] == "admin"
    assert body["rules"]["notifications"]["shipped"]["enabled"] is True
    assert body["rules"]["notifications"]["redeemed"]["enabled"] is False  # the other events kept


def test_member_and_admin_tokens_open_only_their_own_routes(points, admin, make_member, apps):
    member = make_member()
    member_routes = [("GET", "/api/points/me"), ("POST", "/api/points/me/sign-ins"), ("GET", "/api/points/me/orders")]
    admin_routes = [
        ("GET", "/api/points/accounts"),
        ("GET", "/api/points/orders"),
        ("PATCH", "/api/points/rules"),
        ("POST", "/api/points/products"),
    ]
    for method, path in admin_routes:
        refused = points.open(path, method=method, json={}, headers=member.headers)
        assert (refused.status_code, refused.get_json()["code"]) == (403, "forbidden"), path
    for method, path in member_routes:
        refused = points.open(path, method=method, headers=admin.headers)
        assert (refused.status_code, refused.get_json()["code"]) == (403, "forbidden"), path
        assert points.open(path, method=method).status_code == 401
    redeem = points.post(
        "/api/points/orders", json={"product_id": 1}, headers={**admin.headers, "Idempotency-Key": "k" * 10}
    )
    assert redeem.status_code == 403
    # Other services' admin routes refuse a member token too.
    assert apps["user_center"].test_client().get("/api/users", headers=member.headers).status_code == 403
    assert apps["miniprogram"].test_client().get("/api/miniprogram/members", headers=member.headers).status_code == 403
    forged = points.get("/api/points/me", headers={"Authorization": "Bearer " + member.token[:-4] + "AAAA"})
    assert forged.status_code == 401
