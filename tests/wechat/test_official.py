"""Official Account endpoints, driven through the client layer against the sandbox."""

from __future__ import annotations

import io

import pytest

from wedraw.wechat import Final, OfficialAccountConfig, Ok, Retryable, official_account


def fans(sandbox, offset=0, limit=60):
    return sandbox.control.users(sandbox.demo.official.appid, offset, limit)["users"]


def text(content):
    return {"msgtype": "text", "text": {"content": content}}


# --------------------------------------------------------------------------- token and users


def test_wrong_secret_is_a_final_configuration_error(sandbox, policy):
    config = OfficialAccountConfig(sandbox.demo.official.appid, "not-the-secret")
    oa = official_account(sandbox.settings, config, policy=policy)
    result = oa.call(oa.api.user.get_followers)
    assert isinstance(result, Final)
    assert (result.errcode, result.category) == (40125, "config")


def test_unknown_appid_is_final(sandbox, policy):
    oa = official_account(sandbox.settings, OfficialAccountConfig("wx00000000000000ff", "x"), policy=policy)
    assert oa.call(oa.api.user.get_followers).errcode == 40013


def test_followers_page_by_10000_and_end_with_an_empty_page(sandbox, policy):
    sandbox.control.register_account("wxbig0000000000001", "big-secret", fans=10_005)
    oa = official_account(sandbox.settings, OfficialAccountConfig("wxbig0000000000001", "big-secret"), policy=policy)
    first = oa.call(oa.api.user.get_followers)
    assert first.data["total"] == 10_005 and first.data["count"] == 10_000
    last = oa.call(oa.api.user.get_followers, first.data["next_openid"])
    assert last.data["count"] == 5
    empty = oa.call(oa.api.user.get_followers, last.data["next_openid"])
    assert empty.data["count"] == 0 and "data" not in empty.data
    everyone = oa.followers()
    assert isinstance(everyone, Ok) and len(everyone.data) == len(set(everyone.data)) == 10_005
    assert list(oa.api.iter_followers()) == everyone.data


def test_user_info_for_follower_ex_follower_and_stranger(sandbox, oa):
    follower, ex_follower = fans(sandbox)[0], fans(sandbox, offset=60, limit=1)[0]
    info = oa.call(oa.api.user.get, follower["openid"]).data
    assert info["subscribe"] == 1 and info["unionid"] == follower["unionid"] and info["nickname"]
    gone = oa.call(oa.api.user.get, ex_follower["openid"]).data
    assert gone == {"subscribe": 0, "openid": ex_follower["openid"], "unionid": ex_follower["unionid"]}
    assert oa.call(oa.api.user.get, "o" + "x" * 27).errcode == 40003


def test_batchget_takes_at_most_100(sandbox, oa):
    openids = [f["openid"] for f in fans(sandbox)[:3]]
    assert [u["openid"] for u in oa.call(oa.api.user.get_batch, openids).data] == openids
    result = oa.call(oa.api.user.get_batch, openids * 34)
    assert isinstance(result, Final) and result.errcode == 40032


# --------------------------------------------------------------------------- tags


def test_tag_lifecycle(sandbox, oa):
    openids = [f["openid"] for f in fans(sandbox)[:4]]
    tag = oa.call(oa.api.tag.create, "活跃粉丝").data
    assert oa.call(oa.api.tag.create, "活跃粉丝").errcode == 45157
    assert oa.call(oa.api.tag.create, "x" * 31).errcode == 45158
    assert oa.call(oa.api.tag.update, 2, "renamed").errcode == 45058
    assert oa.call(oa.api.tag.tag_user, tag["id"], openids).ok
    assert oa.call(oa.api.tag.tag_user, tag["id"], openids * 13).errcode == 40032
    assert tag["id"] in oa.call(oa.api.tag.get_user_tag, openids[0]).data
    assert sorted(oa.call(oa.api.tag.get_tag_users, tag["id"]).data["data"]["openid"]) == sorted(openids)
    assert oa.call(oa.api.tag.untag_user, tag["id"], openids[:1]).ok
    assert sorted(oa.api.tag.iter_tag_users(tag["id"])) == sorted(openids[1:])
    assert oa.call(oa.api.tag.update, tag["id"], "铁粉").ok
    listed = {t["id"]: t for t in oa.call(oa.api.tag.get).data}
    assert listed[tag["id"]] == {"id": tag["id"], "name": "铁粉", "count": 3}
    assert oa.call(oa.api.tag.delete, tag["id"]).ok
    assert oa.call(oa.api.tag.delete, tag["id"]).errcode == 45159
    assert tag["id"] not in oa.call(oa.api.tag.get_user_tag, openids[1]).data


def test_seeded_tags_are_deletable_from_every_fan(sandbox, oa):
    tags = {t["name"]: t for t in oa.call(oa.api.tag.get).data}
    vip = tags["VIP"]
    assert vip["count"] > 0
    assert oa.call(oa.api.tag.delete, vip["id"]).ok
    assert all(vip["id"] not in f["tags"] for f in fans(sandbox))


# --------------------------------------------------------------------------- menu


MENU = {
    "button": [
        {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
        {
            "name": "菜单",
            "sub_button": [
                {"type": "view", "name": "搜索", "url": "https://www.example.com/"},
                {"type": "click", "name": "赞一下我们", "key": "V1001_GOOD"},
            ],
        },
    ]
}


def test_menu_create_get_delete(oa):
    assert oa.call(oa.api.menu.get) == Ok(None)  # wechatpy turns 46003 into None itself
    assert oa.call(oa.api.get, "menu/get") == Ok(None, errcode=46003)  # the policy: "no menu" is empty
    assert oa.call(oa.api.menu.create, MENU).ok
    assert oa.call(oa.api.menu.get).data["menu"]["button"] == MENU["button"]
    assert oa.call(oa.api.menu.delete).ok
    assert oa.call(oa.api.get, "menu/get").data is None


@pytest.mark.parametrize(
    ("menu", "errcode"),
    [
        ({"button": [{"type": "click", "name": "a", "key": "k"}] * 4}, 40016),
        ({"button": [{"type": "teleport", "name": "a", "key": "k"}]}, 40017),
        ({"button": [{"type": "click", "name": "太长的菜单名字啊", "key": "k"}]}, 40018),
        ({"button": [{"type": "click", "name": "a", "key": ""}]}, 40019),
        ({"button": [{"name": "m", "sub_button": [{"type": "click", "name": "s", "key": "k"}] * 6}]}, 40023),
        ({"button": [{"name": "m", "sub_button": [{"type": "teleport", "name": "s"}]}]}, 40024),
        ({"button": [{"type": "view", "name": "a", "url": "ftp://example.com"}]}, 40055),
    ],
)
def test_menu_validation(oa, menu, errcode):
    result = oa.call(oa.api.menu.create, menu)
    assert isinstance(result, Final) and result.errcode == errcode


# --------------------------------------------------------------------------- messages


def test_custom_message_48_hour_window_and_count(sandbox, oa):
    inside, outside = fans(sandbox)[0]["openid"], fans(sandbox)[1]["openid"]
    for _ in range(20):
        assert oa.call(oa.api.message.send_text, inside, "hello").ok
    over = oa.call(oa.api.message.send_text, inside, "one too many")
    assert (over.errcode, over.category) == (45047, "recipient")
    late = oa.call(oa.api.message.send_text, outside, "hello")
    assert isinstance(late, Final) and late.errcode == 45015
    sandbox.control.act("text", openid=outside, content="在吗")  # the fan writes: a fresh window
    assert oa.call(oa.api.message.send_text, outside, "now it works").ok
    assert sandbox.control.outbox(channel="custom")["counts"] == {inside: 20, outside: 1}


def test_custom_message_to_an_unfollower(sandbox, oa):
    openid = fans(sandbox)[0]["openid"]
    sandbox.control.act("unfollow", openid=openid)
    assert oa.call(oa.api.message.send_text, openid, "hi").errcode == 43004


def test_mass_send_limits_and_idempotency(sandbox, oa):
    openids = [f["openid"] for f in fans(sandbox)[:2]]
    assert oa.call(oa.api.message.send_mass_text, openids[:1], "one").errcode == 40130
    first = oa.call(oa.api.message.send_mass_text, openids, "周末活动", client_msg_id="campaign-1")
    assert first.ok and first.data["msg_id"]
    again = oa.call(oa.api.message.send_mass_text, openids, "周末活动", client_msg_id="campaign-1")
    assert isinstance(again, Ok) and again.errcode == 45065 and again.data["msg_id"] == first.data["msg_id"]
    for n in range(4):
        assert oa.call(oa.api.message.send_mass_text, openids, f"more {n}").ok
    # a fan receives at most 4 mass messages a month
    assert sandbox.control.outbox(channel="mass")["counts"] == dict.fromkeys(openids, 4)
    status = oa.call(oa.api.message.get_mass, first.data["msg_id"]).data
    assert status["msg_status"] == "SEND_SUCCESS"
    assert oa.call(oa.api.message.delete_mass, first.data["msg_id"]).ok
    assert oa.call(oa.api.message.get_mass, first.data["msg_id"]).data["msg_status"] == "DELETE"


def test_mass_sendall_by_tag_or_to_everyone(sandbox, oa):
    tagged = [f["openid"] for f in fans(sandbox) if 100 in f["tags"]]
    by_tag = oa.call(oa.api.send_mass, text("tagged"), tag_id=100)
    assert by_tag.ok
    assert sorted(sandbox.control.outbox(channel="mass")["counts"]) == sorted(tagged)
    assert oa.call(oa.api.send_mass, text("all"), is_to_all=True).ok
    assert sandbox.control.outbox(channel="mass")["total"] == len(tagged) + 60
    # wechatpy's int form posts the retired filter.group_id
    assert oa.call(oa.api.message.send_mass_text, 100, "legacy").errcode == 40035
    assert oa.call(oa.api.send_mass, text("x"), tag_id=999).errcode == 45159


def test_template_messages(sandbox, oa, mp):
    templates = oa.call(oa.api.template.get_all_private_template).data["template_list"]
    order = next(t for t in templates if t["title"] == "订单状态通知")
    assert "{{keyword1.DATA}}" in order["content"]
    data = {"first": {"value": "您的订单已发货"}, "keyword1": {"value": "P001"}, "keyword2": {"value": "已发货"}}
    follower, ex_follower = fans(sandbox)[0]["openid"], fans(sandbox, offset=60, limit=1)[0]["openid"]
    sent = oa.call(oa.api.message.send_template, follower, order["template_id"], data)
    assert sent.ok and sent.data["msgid"]
    assert oa.call(oa.api.message.send_template, ex_follower, order["template_id"], data).errcode == 43004
    assert oa.call(oa.api.message.send_template, "o" + "z" * 27, order["template_id"], data).errcode == 40003
    assert oa.call(oa.api.message.send_template, follower, "no-such-template", data).errcode == 40037
    incomplete = oa.call(oa.api.message.send_template, follower, order["template_id"], {"keyword1": {"value": "x"}})
    assert (incomplete.errcode, incomplete.category) == (47003, "content")
    bad_page = oa.call(
        oa.api.message.send_template,
        follower,
        order["template_id"],
        data,
        mini_program={"appid": sandbox.demo.miniprogram.appid, "pagepath": "pages/nowhere"},
    )
    assert bad_page.errcode == 41030
    good_page = oa.call(
        oa.api.message.send_template,
        follower,
        order["template_id"],
        data,
        mini_program={"appid": sandbox.demo.miniprogram.appid, "pagepath": "pages/orders/detail?id=1"},
    )
    assert good_page.ok
    assert sandbox.control.outbox(channel="template")["counts"] == {follower: 2}


def test_template_daily_quota_stops_without_retry(sandbox, policy, pauses):
    sandbox.control.register_account("wxquota00000000001", "s", fans=3, template_daily_quota=1)
    oa = official_account(sandbox.settings, OfficialAccountConfig("wxquota00000000001", "s"), policy=policy)
    template_id = oa.call(oa.api.template.get_all_private_template).data["template_list"][0]["template_id"]
    openid = oa.call(oa.api.user.get_followers).data["data"]["openid"][0]
    data = {"keyword1": {"value": "a"}, "keyword2": {"value": "b"}}
    assert oa.call(oa.api.message.send_template, openid, template_id, data).ok
    stopped = oa.call(oa.api.message.send_template, openid, template_id, data)
    assert isinstance(stopped, Retryable) and stopped.errcode == 45009 and stopped.attempts == 1
    assert pauses.pauses == []


# --------------------------------------------------------------------------- media and materials


def test_temporary_media_upload_and_download(sandbox, oa):
    image = b"\xff\xd8\xff" + b"jpeg bytes" * 10
    uploaded = oa.call(oa.api.media.upload, "image", ("photo.jpg", io.BytesIO(image), "image/jpeg")).data
    downloaded = oa.call(oa.api.media.download, uploaded["media_id"]).data
    assert downloaded.content == image and downloaded.headers["Content-Type"] == "image/jpeg"
    assert oa.call(oa.api.media.upload, "sticker", ("a.bin", io.BytesIO(b"x"))).errcode == 40004
    sandbox.control.advance_clock(3 * 86400 + 1)  # temporary media lives three days
    assert oa.call(oa.api.media.download, uploaded["media_id"]).errcode == 40007


def test_permanent_materials(oa):
    image = oa.call(oa.api.material.add, "image", ("cover.png", io.BytesIO(b"\x89PNG cover"), "image/png")).data
    assert image["url"]
    video = oa.call(oa.api.material.add, "video", ("clip.mp4", io.BytesIO(b"mp4"), "video/mp4"), "片头", "介绍").data
    news = oa.call(
        oa.api.material.add_articles,
        [{"thumb_media_id": image["media_id"], "title": "春季上新", "content": "<p>hi</p>"}],
    ).data
    assert oa.call(oa.api.material.get, image["media_id"]).data.content == b"\x89PNG cover"
    assert oa.call(oa.api.material.get, video["media_id"]).data["title"] == "片头"
    assert oa.call(oa.api.material.get, news["media_id"]).data[0]["title"] == "春季上新"
    counts = oa.call(oa.api.material.get_count).data
    assert counts == {"voice_count": 0, "video_count": 1, "image_count": 1, "news_count": 1}
    listed = oa.call(oa.api.material.batchget, "image").data
    assert listed["total_count"] == 1 and listed["item"][0]["media_id"] == image["media_id"]
    assert oa.call(oa.api.material.batchget, "news").data["item"][0]["content"]["news_item"][0]["title"] == "春季上新"
    assert oa.call(oa.api.material.batchget, "image", count=21).errcode == 40035
    assert oa.call(oa.api.material.delete, video["media_id"]).ok
    assert oa.call(oa.api.material.get, video["media_id"]).errcode == 40007


def test_mass_send_of_an_article_needs_a_real_news_material(sandbox, oa):
    openids = [f["openid"] for f in fans(sandbox)[:2]]
    assert oa.call(oa.api.message.send_mass_article, openids, "no-such-news").errcode == 40007


# --------------------------------------------------------------------------- QR codes and JS-SDK


def test_qrcode_create_and_show(sandbox, oa):
    temporary = oa.call(
        oa.api.qrcode.create,
        {"expire_seconds": 60, "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "invite:42"}}},
    ).data
    permanent = oa.call(
        oa.api.qrcode.create, {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 7}}}
    ).data
    assert temporary["expire_seconds"] == 60 and "expire_seconds" not in permanent
    png = oa.call(oa.api.qrcode_image, temporary).data
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png != oa.call(oa.api.qrcode_image, permanent).data
    assert oa.qrcode_url(temporary).startswith(sandbox.handle.official_url + "/cgi-bin/showqrcode?ticket=")
    assert (
        oa.call(
            oa.api.qrcode.create, {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100_001}}}
        ).errcode
        == 40035
    )
    sandbox.control.advance_clock(61)
    expired = oa.call(oa.api.qrcode_image, temporary)
    assert isinstance(expired, Final) and expired.meaning == "HTTP 404"


def test_jsapi_ticket_is_stable_and_cached_in_the_shared_store(oa):
    first = oa.call(oa.api.jsapi.get_ticket).data
    assert first["ticket"] == oa.call(oa.api.jsapi.get_ticket).data["ticket"]
    assert oa.call(oa.api.jsapi.get_jsapi_ticket).data == first["ticket"]
    assert oa.api.session.get(f"{oa.api.appid}_jsapi_ticket") == first["ticket"]
    assert oa.call(oa.api.jsapi.get_ticket, "bogus").errcode == 40035


def test_mini_program_token_cannot_call_official_account_apis(mp):
    result = mp.call(mp.api.user.get_followers)
    assert isinstance(result, Final) and result.errcode == 48001
