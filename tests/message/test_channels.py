"""Every channel against the sandbox's outbox, through the API and a real worker."""

from __future__ import annotations

import base64
import hashlib

from tests.message.conftest import wait_send

SENDS = "/api/message/sends"


def _send(api, body: dict, status: int = 202) -> dict:
    response = api.post(SENDS, json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_official_account_template_message(api, senders, oa_templates, sandbox, demo, mc_worker):
    template = oa_templates["订单状态通知"]
    assert [v["name"] for v in template["variables"]] == ["first", "keyword1", "keyword2", "remark"]
    openid = sandbox.world.accounts[demo.official.appid].users.openids[0]
    sent = _send(
        api,
        {
            "channel": "oa_template",
            "sender_id": senders["official_account"]["id"],
            "to": openid,
            "template_id": template["id"],
            "data": {"first": "您的订单已发货", "keyword1": "P20260101001", "keyword2": "已发货"},
            "options": {"url": "https://wedraw.example/orders/1"},
        },
    )
    done = wait_send(api, sent["id"])
    assert done["status"] == "sent" and done["attempts"] == 1 and done["msgid"]
    outbox = sandbox.control.outbox(app=demo.official.appid, channel="template", to=openid)
    assert outbox["total"] == 1
    payload = outbox["messages"][0]["payload"]
    assert payload["template_id"] == template["wechat_template_id"]
    assert payload["data"]["keyword1"] == {"value": "P20260101001"}
    assert payload["url"] == "https://wedraw.example/orders/1"
    assert str(outbox["messages"][0]["msgid"]) == done["msgid"]


def test_customer_service_message_within_the_window_and_45015_outside(api, senders, sandbox, demo, mc_worker):
    users = sandbox.world.accounts[demo.official.appid].users
    inside, outside = users.openids[0], users.openids[1]  # the sandbox's fan 0 interacted 1 h ago, fan 1 72 h ago
    message = {"msgtype": "text", "text": {"content": "您好，您的问题已处理"}}
    ok = _send(
        api, {"channel": "oa_custom", "sender_id": senders["official_account"]["id"], "to": inside, "message": message}
    )
    late = _send(
        api, {"channel": "oa_custom", "sender_id": senders["official_account"]["id"], "to": outside, "message": message}
    )
    assert wait_send(api, ok["id"])["status"] == "sent"
    refused = wait_send(api, late["id"])
    assert refused["status"] == "failed_final" and refused["errcode"] == 45015
    assert "48-hour" in refused["errmsg"] and refused["attempts"] == 1
    outbox = sandbox.control.outbox(app=demo.official.appid, channel="custom")
    assert outbox["counts"] == {inside: 1}
    assert outbox["messages"][0]["payload"]["text"]["content"] == "您好，您的问题已处理"


def test_mini_program_subscribe_message_needs_a_grant(api, senders, sandbox, demo, mc_worker):
    mp = sandbox.world.accounts[demo.miniprogram.appid]
    template_id = next(t for t in mp.templates.values() if t.title == "兑换成功通知").template_id
    created = api.post(
        "/api/message/templates",
        json={
            "channel": "mp_subscribe",
            "sender_id": senders["mini_program"]["id"],
            "name": "兑换成功",
            "wechat_template_id": template_id,
            "content": "商品名称{{thing1.DATA}}\n消耗积分{{number2.DATA}}\n兑换时间{{time3.DATA}}",
            "options": {"page": "pages/orders/detail?id=1"},
        },
    )
    assert created.status_code == 201, created.get_json()
    template = created.get_json()
    assert [(v["name"], v["type"], v["max_length"]) for v in template["variables"]] == [
        ("thing1", "thing", 20),
        ("number2", "number", 32),
        ("time3", "time", 32),
    ]
    granted, ungranted = mp.users.openids[0], mp.users.openids[1]
    sandbox.control.grant_subscribe(granted, template_id, appid=demo.miniprogram.appid)
    body = {
        "channel": "mp_subscribe",
        "sender_id": senders["mini_program"]["id"],
        "template_id": template["id"],
        "data": {"thing1": "保温杯", "number2": 200, "time3": "2026-01-31 15:01"},
    }
    first = _send(api, {**body, "to": granted})
    second = _send(api, {**body, "to": ungranted})
    assert wait_send(api, first["id"])["status"] == "sent"
    no_grant = wait_send(api, second["id"])
    assert (no_grant["status"], no_grant["errcode"]) == ("failed_final", 43101)
    outbox = sandbox.control.outbox(app=demo.miniprogram.appid, channel="subscribe")
    assert outbox["counts"] == {granted: 1}
    payload = outbox["messages"][0]["payload"]
    assert payload["data"]["number2"] == {"value": "200"} and payload["page"] == "pages/orders/detail?id=1"
    assert payload["miniprogram_state"] == "formal"


def test_wecom_app_message_reports_invalid_users(api, senders, sandbox, demo, mc_worker):
    corp = sandbox.world.corps[demo.wecom.corp_id]
    members = [m.userid for m in corp.members.values() if m.active][:2]
    body = {
        "channel": "wecom_app",
        "sender_id": senders["wecom_app"]["id"],
        "message": {"msgtype": "markdown", "markdown": {"content": "**系统通知**：今晚 22:00 维护"}},
    }
    partial = _send(api, {**body, "to": f"{members[0]}|{members[1]}|nobody_here"})
    invalid = _send(api, {**body, "to": "ghost_user"})
    done = wait_send(api, partial["id"])
    assert done["status"] == "sent" and done["errmsg"] == "invaliduser: nobody_here"
    refused = wait_send(api, invalid["id"])
    assert refused["status"] == "failed_final" and refused["errcode"] == 81013
    outbox = sandbox.control.outbox(app=f"{demo.wecom.corp_id}/{demo.wecom.agent_id}", channel="wecom")
    assert outbox["counts"] == {members[0]: 1, members[1]: 1}
    assert outbox["messages"][0]["payload"]["markdown"]["content"].startswith("**系统通知**")


def test_group_robot_text_markdown_image_and_news(api, senders, sandbox, demo, mc_worker):
    robot = senders["group_robot"]["id"]
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    messages = [
        {"msgtype": "text", "text": {"content": "部署完成", "mentioned_list": ["@all"]}},
        {"msgtype": "markdown", "markdown": {"content": "# 告警\n> CPU 95%"}},
        {"msgtype": "image", "image": {"base64": base64.b64encode(image).decode()}},
        {
            "msgtype": "news",
            "news": {
                "articles": [
                    {"title": "周报", "url": "https://wedraw.example/w/1", "picurl": "https://wedraw.example/p.png"}
                ]
            },
        },
    ]
    ids = [_send(api, {"channel": "group_robot", "sender_id": robot, "message": m})["id"] for m in messages]
    assert all(wait_send(api, i)["status"] == "sent" for i in ids)
    outbox = sandbox.control.outbox(app=f"robot:{demo.wecom.robot_key}", channel="robot")
    assert sorted(m["msgtype"] for m in outbox["messages"]) == ["image", "markdown", "news", "text"]
    sent_image = next(m for m in outbox["messages"] if m["msgtype"] == "image")["payload"]["image"]
    assert sent_image["md5"] == hashlib.md5(image, usedforsecurity=False).hexdigest()


def test_robot_text_over_2048_bytes_is_refused_before_queueing(api, senders, sandbox, demo, mc_worker):
    too_long = "告" * 683  # 2049 bytes in UTF-8
    response = api.post(
        SENDS,
        json={
            "channel": "group_robot",
            "sender_id": senders["group_robot"]["id"],
            "message": {"msgtype": "text", "text": {"content": too_long}},
        },
    )
    assert response.status_code == 422
    assert "2048 bytes" in response.get_json()["message"]
    assert api.get(SENDS).get_json()["total"] == 0


def test_a_robot_key_wechat_rejects_marks_the_robot_broken(api, sandbox, demo, mc_worker, senders):
    dead = api.post("/api/message/senders", json={"kind": "group_robot", "name": "旧机器人", "key": "no-such-key"})
    assert dead.status_code == 201
    robot = dead.get_json()
    first = _send(
        api,
        {
            "channel": "group_robot",
            "sender_id": robot["id"],
            "message": {"msgtype": "text", "text": {"content": "hello"}},
        },
    )
    failed = wait_send(api, first["id"])
    assert (failed["status"], failed["errcode"], failed["category"]) == ("failed_final", 93000, "robot")
    broken = api.get(f"/api/message/senders/{robot['id']}").get_json()
    assert broken["status"] == "broken" and "93000" in broken["broken_reason"]
    again = api.post(
        SENDS,
        json={
            "channel": "group_robot",
            "sender_id": robot["id"],
            "message": {"msgtype": "text", "text": {"content": "hello"}},
        },
    )
    assert again.status_code == 409 and again.get_json()["code"] == "sender_broken"
    assert "broken" in again.get_json()["message"]
    # A working key repairs it.
    other_key = next(k for k in sandbox.world.robots if k != demo.wecom.robot_key)
    fixed = api.patch(f"/api/message/senders/{robot['id']}", json={"key": other_key})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "active"


def test_wecom_app_chat_message(api, senders, sandbox, demo, mc_worker, mc_settings):
    from wedraw.wechat import WeComAppConfig, wecom_app

    corp = sandbox.world.corps[demo.wecom.corp_id]
    members = [m.userid for m in corp.members.values() if m.active][:3]
    config = WeComAppConfig(demo.wecom.corp_id, demo.wecom.agent_id, demo.wecom.secret)
    app = wecom_app(mc_settings, config)
    created = app.call(
        app.api.post,
        "appchat/create",
        data={"name": "值班群", "owner": members[0], "userlist": members, "chatid": "ops1"},
    )
    assert created.ok, created
    sent = _send(
        api,
        {
            "channel": "wecom_appchat",
            "sender_id": senders["wecom_app"]["id"],
            "to": "ops1",
            "message": {"msgtype": "text", "text": {"content": "今晚值班：张三"}},
        },
    )
    assert wait_send(api, sent["id"])["status"] == "sent"
    missing = _send(
        api,
        {
            "channel": "wecom_appchat",
            "sender_id": senders["wecom_app"]["id"],
            "to": "nochat",
            "message": {"msgtype": "text", "text": {"content": "?"}},
        },
    )
    assert wait_send(api, missing["id"])["status"] == "failed_final"
    outbox = sandbox.control.outbox(app=f"{demo.wecom.corp_id}/{demo.wecom.agent_id}", channel="appchat")
    assert outbox["counts"] == dict.fromkeys(members, 1)
