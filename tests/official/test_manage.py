"""Accounts (secrets at rest), auto-replies, menus, QR codes and materials through the API."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from wedraw.core.crypto import DataCipher, DecryptionError
from wedraw.wechat_official.models import Account, db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


# ---------------------------------------------------------------- accounts


def test_secrets_are_encrypted_at_rest_and_never_returned(api, account, demo, oa_app):
    shown = api.get(f"/api/wechat/accounts/{account['id']}").get_data(as_text=True)
    listed = api.get("/api/wechat/accounts").get_data(as_text=True)
    for secret in (demo.secret, demo.token, demo.aes_key):
        assert secret not in shown and secret not in listed
    assert account["secret_hint"] == "****" + demo.secret[-4:]
    assert account["callback_path"] == f"/api/wechat/callback/{demo.appid}"
    with oa_app.app_context():
        row = db.session.execute(select(Account)).scalar_one()
        stored = " ".join([row.secret_enc, row.token_enc, row.aes_key_enc])
        assert demo.secret not in stored and demo.token not in stored and demo.aes_key not in stored
        cipher = DataCipher(oa_app.config["WEDRAW_SETTINGS"].data_key)
        assert cipher.decrypt(row.secret_enc) == demo.secret
        with pytest.raises(DecryptionError):
            DataCipher("another-key-entirely").decrypt(row.secret_enc)


def test_key_rotation_keeps_old_values_readable():
    old = DataCipher("old-key").encrypt("s3cret")
    rotated = DataCipher("new-key", previous=["old-key"])
    assert rotated.decrypt(old) == "s3cret"
    assert DataCipher("new-key").decrypt(rotated.rotate(old)) == "s3cret"


def test_account_validation_check_and_update(api, account, sandbox, demo):
    base = f"/api/wechat/accounts/{account['id']}"
    duplicate = api.post(
        "/api/wechat/accounts",
        json={"appid": demo.appid, "name": "x", "secret": demo.secret, "token": demo.token, "aes_key": demo.aes_key},
    )
    assert duplicate.status_code == 409
    no_key = api.post(
        "/api/wechat/accounts",
        json={
            "appid": "wx1234567890abcdef",
            "name": "x",
            "secret": "a" * 32,
            "token": "tok123",
            "message_mode": "safe",
        },
    )
    assert no_key.status_code == 422 and "aes_key" in no_key.get_json()["errors"]
    assert api.post("/api/wechat/accounts", json={"appid": "bad"}).status_code == 422

    checked = api.post(f"{base}/check").get_json()
    assert checked["last_check_ok"] is True and checked["last_check_error"] is None
    assert api.patch(base, json={"secret": "0" * 32}).status_code == 200
    failed = api.post(f"{base}/check").get_json()
    assert failed["last_check_ok"] is False and failed["last_check_error"].startswith("40125")
    assert api.patch(base, json={"message_mode": "plain", "aes_key": None}).get_json()["aes_key_hint"] is None
    assert api.patch(base, json={"message_mode": "safe"}).status_code == 422  # safe needs the key back
    assert api.patch(base, json={"enabled": False}).get_json()["enabled"] is False
    assert api.get("/api/wechat/accounts?enabled=false").get_json()["total"] == 1


# ---------------------------------------------------------------- auto-replies


def test_auto_reply_priority_match_types_default_and_preview(api, base):
    def rule(**body):
        response = api.post(f"{base}/auto-replies", json={"reply_type": "text", **body})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    rule(name="welcome", trigger="subscribe", content="欢迎")
    rule(name="default", trigger="default", content="没听懂")
    contains = rule(
        name="contains", trigger="keyword", match_type="contains", keywords=["积分"], content="积分", priority=1
    )
    exact = rule(name="exact", trigger="keyword", match_type="exact", keywords=["积分规则"], content="规则", priority=5)
    rule(name="regex", trigger="keyword", match_type="regex", keywords=[r"^订单\s*\d{6}$"], content="查订单")
    news = rule(
        name="news",
        trigger="keyword",
        match_type="exact",
        keywords=["新闻"],
        reply_type="news",
        articles=[{"title": "A", "url": "https://e.example/a"}, {"title": "B"}],
    )

    def preview(kind, text=None):
        body = {"kind": kind} if text is None else {"kind": kind, "text": text}
        return api.get(f"{base}/auto-replies/preview", query_string=body).get_json()

    assert preview("subscribe")["summary"] == "欢迎"
    assert preview("text", "积分规则")["rule"]["id"] == exact["id"]  # higher priority wins
    assert preview("text", "我的积分")["rule"]["id"] == contains["id"]
    assert preview("text", "订单 123456")["summary"] == "查订单"
    assert preview("text", "随便说说")["summary"] == "没听懂"
    answer = preview("text", "新闻")
    assert answer["rule"]["id"] == news["id"] and answer["xml"].count("<item>") == 1  # one article to a message
    assert preview("click", "新闻")["xml"].count("<item>") == 2  # up to 8 for events

    assert api.patch(f"{base}/auto-replies/{exact['id']}", json={"enabled": False}).status_code == 200
    assert preview("text", "积分规则")["rule"]["id"] == contains["id"]
    bad = api.post(
        f"{base}/auto-replies",
        json={
            "name": "x",
            "trigger": "keyword",
            "match_type": "regex",
            "keywords": ["(unclosed"],
            "reply_type": "text",
            "content": "x",
        },
    )
    assert bad.status_code == 422 and "keywords" in bad.get_json()["errors"]
    assert (
        api.post(
            f"{base}/auto-replies", json={"name": "x", "trigger": "keyword", "reply_type": "text", "content": "x"}
        ).status_code
        == 422
    )
    assert (
        api.post(f"{base}/auto-replies", json={"name": "x", "trigger": "default", "reply_type": "image"}).status_code
        == 422
    )
    listed = api.get(f"{base}/auto-replies?trigger=keyword").get_json()
    assert listed["total"] == 4
    assert api.delete(f"{base}/auto-replies/{news['id']}").status_code == 204
    assert api.get(f"{base}/auto-replies/{news['id']}").status_code == 404


# ---------------------------------------------------------------- menus

VALID = [
    {"name": "商城", "type": "view", "url": "https://wedraw.example/mall"},
    {
        "name": "活动",
        "sub_button": [
            {"name": "签到", "type": "click", "key": "SIGN"},
            {
                "name": "小程序",
                "type": "miniprogram",
                "url": "https://wedraw.example",
                "appid": "wxd3a0de3000000002",
                "pagepath": "pages/index/index",
            },
            {"name": "扫码", "type": "scancode_waitmsg", "key": "SCAN"},
            {"name": "位置", "type": "location_select", "key": "LOC"},
        ],
    },
]


@pytest.mark.parametrize(
    ("buttons", "path", "words"),
    [
        ([{"name": f"b{i}", "type": "click", "key": "k"} for i in range(4)], "button", "1 to 3 top-level"),
        ([{"name": "一二三四五六", "type": "click", "key": "k"}], "button[0].name", "16 bytes"),
        (
            [{"name": "m", "sub_button": [{"name": f"s{i}", "type": "click", "key": "k"} for i in range(6)]}],
            "button[0].sub_button",
            "at most 5 sub-buttons",
        ),
        ([{"name": "m", "sub_button": [{"name": "s", "type": "click"}]}], "button[0].sub_button[0].key", "needs a key"),
        ([{"name": "m", "type": "view", "url": "ftp://x"}], "button[0].url", "http://"),
        ([{"name": "m", "type": "miniprogram", "url": "https://x"}], "button[0].appid", "needs appid"),
        (
            [{"name": "m", "sub_button": [{"name": "长" * 21, "type": "click", "key": "k"}]}],
            "button[0].sub_button[0].name",
            "60 bytes",
        ),
    ],
)
def test_an_invalid_menu_is_422_naming_the_rule_and_nothing_is_sent(api, base, sandbox, buttons, path, words):
    sandbox.control.clear_stats()
    response = api.post(f"{base}/menus", json={"name": "bad", "buttons": buttons})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "invalid_menu" and path in body["errors"] and words in body["message"]
    assert api.post(f"{base}/menus/validate", json={"buttons": buttons}).status_code == 422
    assert not any("menu" in call for call in sandbox.control.stats()["calls"])


def test_menu_draft_publish_live_and_delete(api, base, sandbox, demo):
    assert api.get(f"{base}/menus/live").get_json() == {"exists": False, "buttons": []}
    assert api.post(f"{base}/menus/validate", json={"buttons": VALID}).get_json() == {"valid": True}
    draft = api.post(f"{base}/menus", json={"name": "春季", "buttons": VALID})
    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    menu_id = draft.get_json()["id"]
    published = api.post(f"{base}/menus/{menu_id}/publish").get_json()
    assert published["status"] == "published" and published["published_at"]
    live = api.get(f"{base}/menus/live").get_json()
    assert live["exists"] and live["buttons"] == VALID
    edited = api.patch(f"{base}/menus/{menu_id}", json={"buttons": VALID[:1]}).get_json()
    assert edited["status"] == "draft"
    assert api.patch(f"{base}/menus/{menu_id}", json={"buttons": []}).status_code == 422
    assert api.delete(f"{base}/menus/live").status_code == 204
    assert api.get(f"{base}/menus/live").get_json()["exists"] is False
    assert api.get(f"{base}/menus").get_json()["total"] == 1


# ---------------------------------------------------------------- QR codes and materials


def test_qrcodes_create_image_counts_and_errors(api, base):
    temp = api.post(
        f"{base}/qrcodes",
        json={"name": "海报", "channel": "poster", "kind": "temporary", "scene": "poster-9", "expire_seconds": 3600},
    )
    assert temp.status_code == 201, temp.get_json()
    code = temp.get_json()
    assert (
        code["expire_seconds"] == 3600
        and code["expires_at"]
        and (code["scan_count"], code["subscribe_count"]) == (0, 0)
    )
    image = api.get(f"{base}/qrcodes/{code['id']}/image")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
    assert (
        api.post(f"{base}/qrcodes", json={"name": "again", "kind": "permanent", "scene": "poster-9"}).status_code == 409
    )
    assert api.post(f"{base}/qrcodes", json={"name": "x", "kind": "temporary", "scene": "a b"}).status_code == 422
    assert api.get(f"{base}/qrcodes?channel=poster").get_json()["total"] == 1
    assert api.patch(f"{base}/qrcodes/{code['id']}", json={"name": "新海报"}).get_json()["name"] == "新海报"
    assert api.delete(f"{base}/qrcodes/{code['id']}").status_code == 204


def test_materials_upload_list_preview_delete(api, base, sandbox, demo):
    upload = api.post(
        f"{base}/materials",
        data={"type": "image", "file": (io.BytesIO(PNG), "logo.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    material = upload.get_json()
    assert (material["type"], material["name"], material["size"]) == ("image", "logo.png", len(PNG))
    preview = api.get(f"{base}/materials/{material['id']}/content")
    assert preview.status_code == 200 and preview.data == PNG
    assert api.get(f"{base}/materials?type=image").get_json()["total"] == 1
    thumb_too_big = api.post(
        f"{base}/materials",
        data={"type": "thumb", "file": (io.BytesIO(b"x" * 70_000), "t.jpg")},
        content_type="multipart/form-data",
    )
    assert thumb_too_big.status_code == 413
    video = api.post(
        f"{base}/materials",
        data={"type": "video", "file": (io.BytesIO(b"v" * 100), "v.mp4")},
        content_type="multipart/form-data",
    )
    assert video.status_code == 422 and "title" in video.get_json()["errors"]
    missing = api.post(f"{base}/materials", data={"type": "image"}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "file" in missing.get_json()["errors"]
    assert api.delete(f"{base}/materials/{material['id']}").status_code == 204
    assert api.get(f"{base}/materials").get_json()["total"] == 0


def test_wechat_unreachable_is_a_clear_424(api, base, sandbox):
    sandbox.control.fault("/cgi-bin/qrcode/create", errcode=-1, times=5)
    response = api.post(f"{base}/qrcodes", json={"name": "x", "kind": "permanent", "scene": "busy"})
    assert response.status_code == 424 and response.get_json()["code"] == "wechat_unavailable"
