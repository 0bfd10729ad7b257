"""Mini Program login against the sandbox: members made once, member tokens, WeChat's refusals as clear 4xx."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from flask_jwt_extended import decode_token
from sqlalchemy import func, select

from tests.miniprogram.conftest import LOGIN, bearer
from wedraw.core.crypto import cipher_for
from wedraw.miniprogram.models import Member, MpUser, db


def test_login_makes_a_member_once_and_keeps_the_session_key_encrypted(wx_login, mp_app, sandbox, demo, settings):
    first = wx_login()
    assert first["is_new_member"] is True and first["token_type"] == "Bearer" and first["expires_in"] == 7200
    member = first["member"]
    assert member["member_key"] == f"unionid:{first['sandbox_unionid']}"
    assert (member["openid"], member["appid"], member["phone_bound"]) == (first["sandbox_openid"], demo.appid, False)
    assert "session_key" not in str(first)
    with mp_app.app_context():
        claims = decode_token(first["token"])
        row = db.session.execute(select(MpUser).where(MpUser.openid == first["sandbox_openid"])).scalar_one()
        stored = row.session_key_enc
    assert (claims["kind"], claims["aud"], claims["mkey"], claims["sub"]) == (
        "member",
        "wedraw-member",
        member["member_key"],
        str(member["id"]),
    )
    issued = sandbox.world.accounts[demo.appid].users.find(first["sandbox_openid"]).session_key
    assert issued not in stored and cipher_for(settings).decrypt(stored) == issued

    again = wx_login(first["sandbox_openid"])
    assert again["is_new_member"] is False and again["member"]["id"] == member["id"]
    with mp_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Member)).scalar_one() == 1
        assert db.session.get(Member, member["id"]).login_count == 2


def test_wechat_refusals_are_clear_4xx(mp, sandbox, demo, mp_registered):
    code = sandbox.control.wxlogin()["code"]
    assert mp.post(LOGIN, json={"code": code}).status_code == 200
    reused = mp.post(LOGIN, json={"code": code})
    assert (reused.status_code, reused.get_json()["code"]) == (400, "wechat_40163")
    assert "wx.login" in reused.get_json()["message"]
    bad = mp.post(LOGIN, json={"code": "never-issued-code"})
    assert (bad.status_code, bad.get_json()["code"]) == (400, "wechat_40029")
    risky = mp.post(LOGIN, json={"code": sandbox.control.wxlogin(new=True, risky=True)["code"]})
    assert (risky.status_code, risky.get_json()["code"]) == (403, "wechat_40226")
    assert mp.post(LOGIN, json={"code": ""}).status_code == 422
    assert mp.post(LOGIN, json={"code": "x", "appid": "wx0000000000000000"}).status_code == 404

    sandbox.control.update_account(demo.appid, code2session_per_minute=1)
    for _ in range(2):  # one login a minute: at most the first of two (should a new minute begin) gets in
        throttled = mp.post(LOGIN, json={"code": sandbox.control.wxlogin()["code"]})
        if throttled.status_code == 429:
            break
    assert (throttled.status_code, throttled.get_json()["code"]) == (429, "wechat_45011")
    # WeChat's minute. Flask-Limiter (headers on) rewrites Retry-After from an absolute time truncated to the
    # second, so the header may say 59 when it was set to 60 a moment earlier.
    assert throttled.headers["Retry-After"] in ("59", "60")


def test_concurrent_first_logins_of_one_person_make_one_member(apps, serve, mp_app, sandbox, mp_registered):
    base = serve(mp_app)
    openid = sandbox.control.wxlogin()["openid"]
    codes = [sandbox.control.wxlogin(openid=openid)["code"] for _ in range(10)]
    barrier = threading.Barrier(len(codes))

    def login(code):
        barrier.wait(timeout=30)
        return requests.post(base + LOGIN, json={"code": code}, timeout=60).json()

    with ThreadPoolExecutor(max_workers=len(codes)) as pool:
        results = list(pool.map(login, codes))
    assert len({r["member"]["id"] for r in results}) == 1, results
    assert sum(r["is_new_member"] for r in results) == 1
    with mp_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Member)).scalar_one() == 1
        assert db.session.execute(select(func.count()).select_from(MpUser)).scalar_one() == 1


def test_member_and_admin_tokens_are_not_interchangeable(wx_login, mp, admin, apps):
    member = wx_login()
    token = bearer(member["token"])
    assert mp.get("/api/miniprogram/me", headers=token).get_json()["id"] == member["member"]["id"]
    for path in ("/api/miniprogram/members", "/api/miniprogram/apps"):
        refused = mp.get(path, headers=token)
        assert (refused.status_code, refused.get_json()["code"]) == (403, "forbidden")
    assert apps["points_mall"].test_client().get("/api/points/accounts", headers=token).status_code == 403
    assert apps["user_center"].test_client().get("/api/auth/me", headers=token).status_code == 403
    assert apps["points_mall"].test_client().get("/api/points/me", headers=token).status_code == 200
    admin_refused = mp.get("/api/miniprogram/me", headers=admin.headers)
    assert (admin_refused.status_code, admin_refused.get_json()["code"]) == (403, "forbidden")
    assert mp.get("/api/miniprogram/me").status_code == 401


def test_disabling_a_member_ends_their_sessions_everywhere(wx_login, mp, admin, apps):
    member = wx_login()
    token = bearer(member["token"])
    changed = mp.patch(
        f"/api/miniprogram/members/{member['member']['id']}", json={"status": "disabled"}, headers=admin.headers
    )
    assert changed.status_code == 200 and changed.get_json()["status"] == "disabled"
    assert mp.get("/api/miniprogram/me", headers=token).status_code == 401
    assert apps["points_mall"].test_client().get("/api/points/me", headers=token).status_code == 401
    refused = wx_login(member["sandbox_openid"], expect=403)
    assert refused["code"] == "member_disabled"
    mp.patch(f"/api/miniprogram/members/{member['member']['id']}", json={"status": "active"}, headers=admin.headers)
    assert wx_login(member["sandbox_openid"])["member"]["id"] == member["member"]["id"]


def test_the_sandbox_login_helper_mints_real_codes(mp, mp_registered, sandbox):
    config = mp.get("/api/miniprogram/config").get_json()
    assert config["sandbox"] is True and config["appid"] == mp_registered["appid"]
    minted = mp.post("/api/miniprogram/sandbox/wxlogin", json={})
    assert minted.status_code == 201, minted.get_json()
    logged_in = mp.post(LOGIN, json={"code": minted.get_json()["code"]})
    assert logged_in.status_code == 200
    assert logged_in.get_json()["member"]["openid"] == minted.get_json()["openid"]
    unknown = mp.post("/api/miniprogram/sandbox/wxlogin", json={"openid": "oNoSuchUser000000"})
    assert unknown.status_code == 404


def test_admins_find_members_and_secrets_never_leave(wx_login, mp, admin, mp_registered, make_user, login):
    member = wx_login()
    assert "secret" not in mp_registered and mp_registered["secret_hint"].startswith("****")
    found = mp.get(f"/api/miniprogram/members?q={member['sandbox_openid']}", headers=admin.headers).get_json()
    assert [m["id"] for m in found["items"]] == [member["member"]["id"]]
    assert found["items"][0]["identities"][0]["has_session"] is True
    by_key = mp.get(f"/api/miniprogram/members?member_key={member['member']['member_key']}", headers=admin.headers)
    assert by_key.get_json()["total"] == 1
    _, password = make_user("mp-viewer", roles=("read_only",))
    viewer = login("mp-viewer", password)
    assert mp.get("/api/miniprogram/members", headers=viewer.headers).status_code == 200
    assert (
        mp.patch(f"/api/miniprogram/members/{member['member']['id']}", json={}, headers=viewer.headers).status_code
        == 403
    )
    stats = mp.get("/api/miniprogram/members/stats", headers=admin.headers).get_json()
    assert stats == {"members": 1, "with_phone": 0, "logged_in_last_24h": 1}
