"""OAuth web login (Official Account and WeCom).

The browser's part (following the authorize URL to the redirect) is plain HTTP, as a
browser would do it; every server-side call goes through the client layer.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from wedraw.wechat import Final


def browse(url: str, **extra: str) -> dict[str, str]:
    """What the browser ends up with: the query of the redirect back to our site."""
    response = requests.get(url, params=extra or None, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "wedraw.example"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def test_official_account_web_login_with_userinfo(sandbox, oa):
    fan = sandbox.control.users(sandbox.demo.official.appid, 4, 1)["users"][0]
    url = oa.oauth_authorize_url("https://wedraw.example/h5/login?next=/points", "snsapi_userinfo", "s-1")
    assert url.startswith(sandbox.handle.official_url + "/connect/oauth2/authorize?appid=")
    back = browse(url, openid=fan["openid"])  # sandbox extension: who is logging in
    assert back["state"] == "s-1" and back["next"] == "/points"
    login = oa.oauth_login(back["code"])
    assert login.ok and login.data["openid"] == fan["openid"] and login.data["unionid"] == fan["unionid"]
    profile = oa.oauth_userinfo(login.data["access_token"], fan["openid"])
    assert profile.ok and profile.data["nickname"] == fan["nickname"]
    reused = oa.oauth_login(back["code"])
    assert isinstance(reused, Final) and reused.errcode == 40163


def test_base_scope_cannot_read_the_profile(sandbox, oa):
    back = browse(oa.oauth_authorize_url("https://wedraw.example/cb"))
    login = oa.oauth_login(back["code"]).data
    assert login["scope"] == "snsapi_base" and "unionid" not in login
    refused = oa.oauth_userinfo(login["access_token"], login["openid"])
    assert isinstance(refused, Final) and refused.errcode == 48001


def test_user_token_errors_are_final_not_an_app_token_refresh(sandbox, oa):
    before = sandbox.control.token_calls(sandbox.demo.official.appid)
    result = oa.oauth_userinfo("not-a-user-token", "o" + "a" * 27)
    assert isinstance(result, Final) and (result.errcode, result.category) == (40001, "token")
    assert sandbox.control.token_calls(sandbox.demo.official.appid) == before
    assert oa.oauth_login("bogus").errcode == 40029


def test_wecom_web_login(sandbox, corp):
    url = corp.oauth_authorize_url("https://wedraw.example/wecom/cb", state="w")
    assert url.startswith(sandbox.handle.official_url + "/connect/oauth2/authorize?appid=" + sandbox.demo.wecom.corp_id)
    back = browse(url, userid="user00003")
    member = corp.call(corp.api.user_by_code, back["code"])
    assert member.ok and member.data["userid"] == "user00003"
    assert corp.call(corp.api.user_by_code, back["code"]).errcode == 40029  # single use
    legacy_code = sandbox.control.oauth_code(sandbox.demo.wecom.corp_id, "user00002")["code"]
    assert corp.call(corp.api.oauth.get_user_info, legacy_code).data["UserId"] == "user00002"
