"""The fans' web pages (frontend/wechat-h5 at /h5/wechat/) and their API (/api/wechat/h5/...).

A fan follows in the sandbox, opens the page, logs in through the sandbox's OAuth page
(the real redirect round trip, in Chromium) and sees their own profile. The API checks
around it: a fan token opens no admin route, redirects and JS-SDK URLs stay on this
site, a login code works once, and the JS-SDK signature is WeChat's algorithm.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import require_tier
from wedraw.frontdoor import H5_APPS

H5 = "/h5/wechat/"
API = "/api/wechat/h5"
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN"
)


@pytest.fixture
def h5_built():
    if not (H5_APPS[H5] / "index.html").is_file():
        require_tier("wechat-h5 is not built (make test builds it: cd frontend/wechat-h5 && npm ci && npm run build)")


def sandbox_user(site, openid):
    listing = site.control.users(site.demo.appid, 0, 1000)["users"]
    return next(u for u in listing if u["openid"] == openid)


def login_via_sandbox(site, scope="snsapi_base", openid=None) -> dict:
    """The browser's round trip as plain HTTP: authorize URL → sandbox page → redirect with a code."""
    state = "teststate0123456789"
    answer = requests.get(
        site.url + API + "/oauth/authorize-url",
        params={"scope": scope, "redirect_uri": site.url + H5 + "oauth/callback", "state": state},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    back = requests.get(
        answer.json()["url"], params={"openid": openid} if openid else None, allow_redirects=False, timeout=10
    )
    assert back.status_code == 302
    query = parse_qs(urlsplit(back.headers["Location"]).query)
    assert query["state"] == [state]
    return {"code": query["code"][0]}


# ---------------------------------------------------------------- in the browser


@pytest.mark.browser
def test_c_fan_logs_in_through_wechat_and_sees_their_profile(page, wechat_site, h5_built):
    site = wechat_site
    openid = site.control.act("follow", appid=site.demo.appid)["from"]
    fan = sandbox_user(site, openid)
    # The sandbox's authorize page logs in the user its `openid` names (its extension of WeChat's page).
    page.route(
        re.compile(r".*/connect/oauth2/authorize\?.*"),
        lambda route: route.continue_(url=route.request.url.split("#")[0] + f"&openid={openid}"),
    )

    page.goto(f"{site.url}{H5}?appid={site.demo.appid}")
    page.wait_for_url(re.compile(r".*/h5/wechat/login.*"))
    page.locator('[data-test="h5-account-name"]').get_by_text("WeDraw 演示公众号").wait_for()
    with page.expect_request(re.compile(r".*/connect/oauth2/authorize\?.*")) as authorize:
        page.locator('[data-test="h5-login-userinfo"]').click()
    query = parse_qs(urlsplit(authorize.value.url).query)
    assert query["appid"] == [site.demo.appid] and query["scope"] == ["snsapi_userinfo"]
    assert query["redirect_uri"] == [f"{site.url}{H5}oauth/callback"]

    page.locator('[data-test="h5-profile"]').wait_for()
    assert urlsplit(page.url).path == H5
    assert page.locator('[data-test="h5-nickname"]').inner_text() == fan["nickname"]
    assert page.locator('[data-test="h5-openid"]').inner_text().endswith(openid)
    assert page.locator('[data-test="h5-unionid"]').inner_text() == fan["unionid"]
    assert page.locator('[data-test="h5-follow-state"]').inner_text().strip() == "已关注"
    assert "头像昵称授权" in page.locator('[data-test="h5-scope"]').inner_text()

    # Logged in: a reload stays on the profile; logging out returns to the login page.
    page.reload()
    page.locator('[data-test="h5-profile"]').wait_for()
    page.locator('[data-test="h5-logout"]').click()
    page.wait_for_url(re.compile(r".*/h5/wechat/login.*"))


@pytest.mark.browser
def test_c_inside_wechat_the_silent_login_runs_and_the_page_signs_its_js_sdk_config(page, wechat_site, h5_built):
    site = wechat_site
    context = page.context.browser.new_context(
        locale="zh-CN", user_agent=WECHAT_UA, viewport={"width": 390, "height": 844}
    )
    inside = context.new_page()
    inside.set_default_timeout(15_000)
    with inside.expect_response(re.compile(r".*/api/wechat/h5/jssdk-config\?.*")) as signed:
        inside.goto(f"{site.url}{H5}?appid={site.demo.appid}")  # no click: WeChat pages log in silently
        inside.locator('[data-test="h5-profile"]').wait_for()
    assert "静默授权" in inside.locator('[data-test="h5-scope"]').inner_text()
    first_follower = next(u for u in site.control.users(site.demo.appid, 0, 50)["users"] if u["subscribed"])
    assert inside.locator('[data-test="h5-openid"]').inner_text().endswith(first_follower["openid"])

    config = signed.value.json()
    page_url = parse_qs(urlsplit(signed.value.url).query)["url"][0]
    assert page_url == inside.url.split("#")[0]
    ticket = site.sandbox.world.accounts[site.demo.appid].jsapi_tickets["jsapi"][0]
    plain = f"jsapi_ticket={ticket}&noncestr={config['nonceStr']}&timestamp={config['timestamp']}&url={page_url}"
    assert config["appId"] == site.demo.appid
    assert config["signature"] == hashlib.sha1(plain.encode(), usedforsecurity=False).hexdigest()
    inside.locator('[data-test="h5-jssdk-status"]').wait_for()
    context.close()


# ---------------------------------------------------------------- the API around it


def test_fan_token_reads_the_fans_own_profile_and_opens_no_admin_route(wechat_site, login):
    site = wechat_site
    openid = site.control.act("follow", appid=site.demo.appid)["from"]
    code = login_via_sandbox(site, openid=openid)["code"]
    answer = requests.post(site.url + API + "/oauth/login", json={"code": code}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["openid"] == openid and body["scope"] == "snsapi_base" and body["appid"] == site.demo.appid
    fan_headers = {"Authorization": f"Bearer {body['token']}"}

    me = requests.get(site.url + API + "/me", headers=fan_headers, timeout=10).json()
    assert me["openid"] == openid and me["fan"]["subscribed"] is True and me["profile"] is None
    assert "remark" not in me["fan"] and "tag_ids" not in me["fan"]  # the operators' notes stay theirs

    # Not an admin token: every admin route refuses it.
    for path in ("/api/wechat/accounts", f"/api/wechat/accounts/{site.account_id}/fans", "/api/auth/me"):
        refused = requests.get(site.url + path, headers=fan_headers, timeout=10)
        assert refused.status_code in (401, 403), (path, refused.status_code)
    # And an admin token is not a fan token.
    admin = login()
    assert requests.get(site.url + API + "/me", headers=admin.headers, timeout=10).status_code == 401
    assert requests.get(site.url + API + "/me", timeout=10).status_code == 401
    tampered = body["token"][:-4] + ("AAAA" if not body["token"].endswith("AAAA") else "BBBB")
    assert (
        requests.get(site.url + API + "/me", headers={"Authorization": f"Bearer {tampered}"}, timeout=10).status_code
        == 401
    )

    # A login code works once (WeChat's 40163).
    again = requests.post(site.url + API + "/oauth/login", json={"code": code}, timeout=10)
    assert again.status_code == 400 and again.json()["code"] == "oauth_code"


def test_redirects_and_signed_urls_stay_on_this_site(wechat_site):
    site = wechat_site
    for redirect_uri in ("https://evil.example/h5/wechat/oauth/callback", site.url + "/console/steal"):
        refused = requests.get(
            site.url + API + "/oauth/authorize-url",
            params={"redirect_uri": redirect_uri, "state": "abcdefgh1"},
            timeout=10,
        )
        assert refused.status_code == 422, refused.text
    refused = requests.get(
        site.url + API + "/jssdk-config", params={"url": "https://evil.example/h5/wechat/"}, timeout=10
    )
    assert refused.status_code == 422
    unknown = requests.get(site.url + API + "/account", params={"appid": "wx0000000000000000"}, timeout=10)
    assert unknown.status_code == 404


def test_js_sdk_signature_is_wechats_algorithm_and_the_ticket_is_shared(wechat_site):
    site = wechat_site
    url = site.url + H5 + "?appid=" + site.demo.appid
    first = requests.get(site.url + API + "/jssdk-config", params={"url": url + "#top"}, timeout=10).json()
    second = requests.get(site.url + API + "/jssdk-config", params={"url": url}, timeout=10).json()
    ticket = site.sandbox.world.accounts[site.demo.appid].jsapi_tickets["jsapi"][0]
    for config in (first, second):
        fields = {"noncestr": config["nonceStr"], "jsapi_ticket": ticket, "timestamp": config["timestamp"], "url": url}
        plain = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
        assert config["signature"] == hashlib.sha1(plain.encode(), usedforsecurity=False).hexdigest()
    assert first["nonceStr"] != second["nonceStr"]
    # One jsapi_ticket serves both: it is cached (shared store) for its 7200 s, as WeChat asks.
    assert site.control.stats()["calls"]["official /cgi-bin/ticket/getticket"] == 1
