"""The sandbox's wire protocol itself, seen raw: what any WeChat SDK would see."""

from __future__ import annotations

import requests


def get(sandbox, path, host="official", **params):
    base = sandbox.handle.official_url if host == "official" else sandbox.handle.wecom_url
    return requests.get(base + path, params=params, timeout=5)


def token(sandbox) -> str:
    demo = sandbox.demo.official
    return get(sandbox, "/cgi-bin/token", grant_type="client_credential", appid=demo.appid, secret=demo.secret).json()[
        "access_token"
    ]


def test_errors_are_http_200_with_errcode_and_a_request_id(sandbox):
    missing = get(sandbox, "/cgi-bin/user/get")
    assert missing.status_code == 200 and missing.headers["Content-Type"].startswith("application/json")
    body = missing.json()
    assert body["errcode"] == 41001 and body["errmsg"].startswith("access_token missing rid: ")
    assert get(sandbox, "/cgi-bin/user/get", access_token="bogus").json()["errcode"] == 40014


def test_wecom_errors_carry_a_hint_and_a_link(sandbox):
    body = get(sandbox, "/cgi-bin/user/get", host="wecom", access_token="bogus").json()
    assert body["errcode"] == 40014 and "hint: [" in body["errmsg"]
    assert body["errmsg"].endswith("more info at https://open.work.weixin.qq.com/devtool/query?e=40014")


def test_tokens_belong_to_one_host(sandbox):
    assert get(sandbox, "/cgi-bin/user/get", host="wecom", access_token=token(sandbox)).json()["errcode"] == 40014


def test_token_endpoint_rules(sandbox):
    demo = sandbox.demo.official
    assert get(sandbox, "/cgi-bin/token", appid=demo.appid, secret=demo.secret).json()["errcode"] == 40002
    assert get(sandbox, "/cgi-bin/token", grant_type="client_credential", secret="x").json()["errcode"] == 41002
    assert get(sandbox, "/cgi-bin/token", grant_type="client_credential", appid=demo.appid).json()["errcode"] == 41004
    first, second = token(sandbox), token(sandbox)
    assert first != second  # every fetch issues a new token


def test_wrong_method_and_bad_json(sandbox):
    access_token = token(sandbox)
    wrong = requests.get(
        sandbox.handle.official_url + "/cgi-bin/tags/create", params={"access_token": access_token}, timeout=5
    )
    assert wrong.json()["errcode"] == 43002
    bad = requests.post(
        sandbox.handle.official_url + "/cgi-bin/tags/create",
        params={"access_token": access_token},
        data=b"{not json",
        timeout=5,
    )
    assert bad.json()["errcode"] == 47001


def test_unknown_paths_and_health(sandbox):
    assert get(sandbox, "/cgi-bin/no/such/api").status_code == 404
    assert get(sandbox, "/health").json() == {"status": "ok", "service": "sandbox", "host": "official"}
    assert get(sandbox, "/health", host="wecom").json()["host"] == "wecom"


def test_json_is_utf8_not_escaped(sandbox):
    raw = get(sandbox, "/cgi-bin/tags/get", access_token=token(sandbox)).content.decode()
    assert "星标组" in raw


def test_showqrcode_needs_a_live_ticket(sandbox):
    assert get(sandbox, "/cgi-bin/showqrcode", ticket="nope").status_code == 404


def test_authorize_page_validates_its_query(sandbox):
    page = requests.get(
        sandbox.handle.official_url + "/connect/oauth2/authorize",
        params={"appid": sandbox.demo.official.appid},
        allow_redirects=False,
        timeout=5,
    )
    assert page.json()["errcode"] == 40035
    unknown = requests.get(
        sandbox.handle.official_url + "/connect/oauth2/authorize",
        allow_redirects=False,
        params={"appid": "wxnobody", "redirect_uri": "https://x/cb", "response_type": "code"},
        timeout=5,
    )
    assert unknown.json()["errcode"] == 40013


def test_a_chinese_file_name_comes_back_in_rfc_5987_form(sandbox):
    access_token = token(sandbox)
    uploaded = requests.post(
        sandbox.handle.official_url + "/cgi-bin/media/upload",
        params={"access_token": access_token, "type": "image"},
        files={"media": ("欢迎图 1.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")},
        timeout=5,
    ).json()
    fetched = get(sandbox, "/cgi-bin/media/get", access_token=access_token, media_id=uploaded["media_id"])
    assert fetched.status_code == 200
    disposition = fetched.headers["Content-Disposition"]
    assert disposition == "attachment; filename=\"___ 1.png\"; filename*=UTF-8''%E6%AC%A2%E8%BF%8E%E5%9B%BE%201.png"
    ascii_only = requests.post(
        sandbox.handle.official_url + "/cgi-bin/media/upload",
        params={"access_token": access_token, "type": "image"},
        files={"media": ("welcome.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")},
        timeout=5,
    ).json()
    plain = get(sandbox, "/cgi-bin/media/get", access_token=access_token, media_id=ascii_only["media_id"])
    assert plain.headers["Content-Disposition"] == 'attachment; filename="welcome.png"'
