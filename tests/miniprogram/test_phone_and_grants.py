"""Phone binding (WeChat's encrypted data, AES-128-CBC with the session key) and subscribe-message grants."""

from __future__ import annotations

import pytest

from tests.miniprogram.conftest import bearer, phone_data
from wedraw.core.internal import service_token
from wedraw.miniprogram.identity import DecryptError, decrypt_wechat_data, member_key
from wedraw.points_mall.services import subscriber_key

# The worked example of WeChat's documentation ("加密数据解密算法"): an independent check of the algorithm.
DOC_APPID = "wx4f4bc4dec97d474b"
DOC_SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
DOC_IV = "r7BXXKkLb8qrSNn05n0qiA=="
DOC_ENCRYPTED = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETK"
    "UQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXw"
    "u0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2U"
    "IeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmY"
    "VoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)


def test_decryption_matches_wechats_documented_example():
    data = decrypt_wechat_data(DOC_SESSION_KEY, DOC_ENCRYPTED, DOC_IV, DOC_APPID)
    assert (data["nickName"], data["openId"], data["watermark"]["appid"]) == (
        "Band",
        "oGZUI0egBJY1zhBYw2KhdUfwVJJE",
        DOC_APPID,
    )
    with pytest.raises(DecryptError, match="watermark"):
        decrypt_wechat_data(DOC_SESSION_KEY, DOC_ENCRYPTED, DOC_IV, "wx0000000000000000")
    with pytest.raises(DecryptError):
        decrypt_wechat_data("AAAAAAAAAAAAAAAAAAAAAA==", DOC_ENCRYPTED, DOC_IV, DOC_APPID)


def test_the_points_mall_names_fans_by_the_same_member_key():
    assert (
        subscriber_key("oUnion123", "wxoa", "oFan")
        == member_key("oUnion123", "mp", "wxmp", "oMp")
        == "unionid:oUnion123"
    )
    assert subscriber_key(None, "wxoa", "oFan") == member_key(None, "oa", "wxoa", "oFan") == "oa:wxoa:oFan"


def test_phone_binding_decrypts_with_this_logins_session_key(wx_login, mp, sandbox, admin, make_user, login):
    member = wx_login()
    token = bearer(member["token"])
    data = phone_data(sandbox, member["sandbox_openid"], phone="13912345678")
    bound = mp.post(
        "/api/miniprogram/me/phone", json={"encrypted_data": data["encryptedData"], "iv": data["iv"]}, headers=token
    )
    assert bound.status_code == 200, bound.get_json()
    assert (bound.get_json()["phone_bound"], bound.get_json()["phone_masked"]) == (True, "139****5678")

    shown = mp.get(f"/api/miniprogram/members/{member['member']['id']}", headers=admin.headers).get_json()
    assert shown["phone"] == "13912345678"  # super_admin holds pii:personal:read
    _, password = make_user("phone-viewer", roles=("read_only",))
    viewer = login("phone-viewer", password)
    masked = mp.get(f"/api/miniprogram/members/{member['member']['id']}", headers=viewer.headers).get_json()
    assert masked["phone"] == "139****5678"
    assert mp.get("/api/miniprogram/members?q=13912345678", headers=admin.headers).get_json()["total"] == 1

    # A new wx.login gives a new session key: data encrypted under the old one no longer reads.
    old = phone_data(sandbox, member["sandbox_openid"], phone="13700000000")
    wx_login(member["sandbox_openid"])
    stale = mp.post(
        "/api/miniprogram/me/phone", json={"encrypted_data": old["encryptedData"], "iv": old["iv"]}, headers=token
    )
    assert (stale.status_code, stale.get_json()["code"]) == (409, "phone_data_unreadable")
    garbage = mp.post(
        "/api/miniprogram/me/phone", json={"encrypted_data": "not base64!", "iv": old["iv"]}, headers=token
    )
    assert garbage.status_code == 422


def _claim(mp, settings, **body):
    headers = {"Authorization": f"Bearer {service_token(settings, 'points_mall')}"}
    response = mp.post("/internal/miniprogram/grants/claim", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_subscribe_grants_are_recorded_and_used_once_per_key(wx_login, mp, settings, admin):
    member = wx_login()
    token = bearer(member["token"])
    for _ in range(2):
        recorded = mp.post(
            "/api/miniprogram/me/subscriptions",
            json={"results": {"TPL_redeemed": "accept", "TPL_shipped": "reject"}},
            headers=token,
        )
        assert recorded.status_code == 200, recorded.get_json()
    grants = {g["template_id"]: g for g in recorded.get_json()}
    assert (grants["TPL_redeemed"]["remaining"], grants["TPL_shipped"]["remaining"]) == (2, 0)
    assert grants["TPL_shipped"]["rejected_total"] == 2
    key = member["member"]["member_key"]

    first = _claim(mp, settings, member_key=key, template_id="TPL_redeemed", use_key="order-1-redeemed")
    assert first["granted"] and first["openid"] == member["sandbox_openid"]
    assert _claim(mp, settings, member_key=key, template_id="TPL_redeemed", use_key="order-1-redeemed") == first
    assert _claim(mp, settings, member_key=key, template_id="TPL_redeemed", use_key="order-2-redeemed")["granted"]
    assert (
        _claim(mp, settings, member_key=key, template_id="TPL_redeemed", use_key="order-3-redeemed")["outcome"]
        == "no_grant"
    )
    assert (
        _claim(mp, settings, member_key=key, template_id="TPL_shipped", use_key="order-1-shipped")["outcome"]
        == "no_grant"
    )
    assert (
        _claim(mp, settings, member_key="unionid:nobody", template_id="TPL_x", use_key="k-1")["outcome"] == "no_member"
    )
    mine = {g["template_id"]: g for g in mp.get("/api/miniprogram/me/subscriptions", headers=token).get_json()}
    assert (mine["TPL_redeemed"]["remaining"], mine["TPL_redeemed"]["used_total"]) == (0, 2)
    # Only services may claim; an admin token is refused.
    assert mp.post("/internal/miniprogram/grants/claim", json={}, headers=admin.headers).status_code == 403
    bad = mp.post("/api/miniprogram/me/subscriptions", json={"results": {"TPL": "maybe"}}, headers=token)
    assert bad.status_code == 422


def test_the_sandbox_helper_grants_in_wechat_and_records_here(wx_login, mp, sandbox, demo):
    member = wx_login()
    template = next(t for t in sandbox.world.accounts[demo.appid].templates.values() if t.title == "订单发货提醒")
    answered = mp.post(
        "/api/miniprogram/me/sandbox/request-subscribe",
        json={"results": {template.template_id: "accept"}},
        headers=bearer(member["token"]),
    )
    assert answered.status_code == 200, answered.get_json()
    assert [(g["template_id"], g["remaining"]) for g in answered.get_json()] == [(template.template_id, 1)]
    assert sandbox.world.accounts[demo.appid].users.find(member["sandbox_openid"]).grants[template.template_id] == 1
