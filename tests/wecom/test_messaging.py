"""Group robots, app messages and app chats: every message goes out through the message center."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from tests.wecom.conftest import ROBOT_WINDOW_SECONDS, wait_for
from wedraw.message_center.models import Delivery
from wedraw.message_center.models import db as mc_db

ROBOTS = "/api/wecom/robots"


def _robot(api, key, name="告警"):
    response = api.post(ROBOTS, json={"name": name, "key": key})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _mc_count(message_center) -> int:
    with message_center.app.app_context():
        return mc_db.session.execute(select(func.count()).select_from(Delivery)).scalar_one()


def _messages(api, robot_id):
    return api.get(f"{ROBOTS}/{robot_id}/messages", query_string={"page_size": 100}).get_json()["items"]


def test_robot_registration_test_send_and_a_text_over_2048_bytes(mc_api, sandbox, demo, message_center):
    by_url = mc_api.post(
        ROBOTS,
        json={"name": "告警", "webhook_url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={demo.robot_key}"},
    )
    assert by_url.status_code == 201
    robot = by_url.get_json()
    assert robot["key_hint"] == "****" + demo.robot_key[-4:] and demo.robot_key not in str(robot)
    assert mc_api.post(ROBOTS, json={"name": "again", "key": demo.robot_key}).status_code == 409

    test = mc_api.post(f"{ROBOTS}/{robot['id']}/test")
    assert test.status_code == 202 and test.get_json()["test"] is True
    label = f"robot:{demo.robot_key}"
    wait_for(lambda: sandbox.control.outbox(app=label)["total"] == 1)
    sent = wait_for(lambda: (m := _messages(mc_api, robot["id"])[0])["status"] == "sent" and m)
    assert sent["delivery_id"] and sent["sent_at"]
    assert "已连接" in sandbox.control.outbox(app=label)["messages"][0]["payload"]["text"]["content"]

    before = _mc_count(message_center)
    too_long = mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "text", "content": "告" * 683})
    assert too_long.status_code == 422  # 2,049 bytes of UTF-8
    assert "2048 bytes" in too_long.get_json()["message"]
    assert _mc_count(message_center) == before and len(_messages(mc_api, robot["id"])) == 1
    fits = mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "text", "content": "a" * 2048})
    assert fits.status_code == 202

    markdown = mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "markdown", "content": "**部署完成**"})
    news = mc_api.post(
        f"{ROBOTS}/{robot['id']}/messages",
        json={"msgtype": "news", "articles": [{"title": "周报", "url": "https://wedraw.example/r/1"}]},
    )
    image = mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "image", "image_base64": "iVBORw0KGgo="})
    assert (markdown.status_code, news.status_code, image.status_code) == (202, 202, 202)
    wait_for(lambda: sandbox.control.outbox(app=label)["total"] == 5)
    kinds = sorted(m["msgtype"] for m in sandbox.control.outbox(app=label)["messages"])
    assert kinds == ["image", "markdown", "news", "text", "text"]


def test_25_robot_messages_in_a_minute_are_all_delivered_the_last_five_after_the_window(
    mc_api, sandbox, demo, message_center
):
    robot = _robot(mc_api, demo.robot_key)
    for n in range(25):
        response = mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "text", "content": f"告警 #{n}"})
        assert response.status_code == 202, response.get_json()
    label = f"robot:{demo.robot_key}"
    wait_for(lambda: sandbox.control.outbox(app=label)["total"] == 20, 15)
    # WeCom has the 20th a moment before the worker records it as sent.
    wait_for(lambda: sum(m["status"] == "sent" for m in _messages(mc_api, robot["id"])) == 20, 10)
    waiting = [m for m in _messages(mc_api, robot["id"]) if m["status"] != "sent"]
    assert len(waiting) == 5 and {m["status"] for m in waiting} == {"queued"}  # waiting, not dropped
    sandbox.control.advance_clock(60)  # WeCom's minute passes on WeCom's side
    wait_for(lambda: sandbox.control.outbox(app=label)["total"] == 25, ROBOT_WINDOW_SECONDS + 20)
    messages = wait_for(
        lambda: (rows := _messages(mc_api, robot["id"])) and all(m["status"] == "sent" for m in rows) and rows, 10
    )
    times = sorted(datetime.fromisoformat(m["sent_at"]) for m in messages)
    # The window: ROBOT_WINDOW_SECONDS in tests, WeCom's minute in production.
    assert (times[20] - times[0]).total_seconds() >= ROBOT_WINDOW_SECONDS - 0.1
    assert all(m["errcode"] is None for m in messages)
    contents = sorted(m["payload"]["text"]["content"] for m in sandbox.control.outbox(app=label)["messages"])
    assert contents == sorted(f"告警 #{n}" for n in range(25))


def test_a_key_wecom_rejects_marks_the_robot_broken(mc_api, sandbox, demo, message_center):
    robot = _robot(mc_api, "no-such-robot-key")
    assert mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "text", "content": "hi"}).status_code == 202
    broken = wait_for(lambda: (r := mc_api.get(f"{ROBOTS}/{robot['id']}").get_json())["status"] == "broken" and r)
    assert "93000" in broken["broken_reason"]
    assert _messages(mc_api, robot["id"])[0]["status"] == "failed"
    refused = mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "text", "content": "again"})
    assert refused.status_code == 409 and refused.get_json()["code"] == "robot_broken"

    fixed = mc_api.patch(f"{ROBOTS}/{robot['id']}", json={"key": demo.robot_key})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "active"
    assert mc_api.post(f"{ROBOTS}/{robot['id']}/messages", json={"msgtype": "text", "content": "ok"}).status_code == 202
    wait_for(lambda: sandbox.control.outbox(app=f"robot:{demo.robot_key}")["total"] == 1)


def test_app_messages_show_the_recipients_wecom_reports_invalid(mc_api, corp, sandbox, demo, message_center):
    base = f"/api/wecom/corps/{corp['id']}/app-messages"
    sent = mc_api.post(
        base,
        json={
            "msgtype": "text",
            "content": "周五下午茶",
            "touser": ["user00001", "ghost"],
            "toparty": [3, 99],
            "totag": [7],
        },
    )
    assert sent.status_code == 201, sent.get_json()
    row = sent.get_json()
    assert row["status"] == "sent" and row["msgid"]
    assert (row["invalid_users"], row["invalid_parties"], row["invalid_tags"]) == (["ghost"], ["99"], ["7"])
    world = sandbox.world.corps[demo.corp_id]
    expected = {"user00001"} | {m.userid for m in world.members.values() if m.active and set(m.department) & {3, 6}}
    outbox = sandbox.control.outbox(app=f"{demo.corp_id}/{demo.agent_id}", channel="wecom")
    assert set(outbox["counts"]) == expected and set(outbox["counts"].values()) == {1}

    nobody = mc_api.post(base, json={"msgtype": "markdown", "content": "**x**", "touser": ["ghost1", "ghost2"]})
    failed = nobody.get_json()
    assert failed["status"] == "failed" and failed["errcode"] == 81013
    assert failed["invalid_users"] == ["ghost1", "ghost2"]
    too_long = mc_api.post(base, json={"msgtype": "text", "content": "x" * 2049, "touser": ["user00001"]})
    assert too_long.status_code == 422
    listing = mc_api.get(base).get_json()
    assert [m["status"] for m in listing["items"]] == ["failed", "sent"]
    with message_center.app.app_context():  # the message center's send log has both
        logged = mc_db.session.execute(select(Delivery).order_by(Delivery.id)).scalars().all()
        assert [(d.channel, d.status) for d in logged] == [("wecom_app", "sent"), ("wecom_app", "failed_final")]


def test_app_chats_created_changed_and_messaged(mc_api, corp, sandbox, demo, message_center):
    base = f"/api/wecom/corps/{corp['id']}/app-chats"
    created = mc_api.post(base, json={"name": "项目群", "userids": ["user00001", "user00002", "user00003"]})
    assert created.status_code == 201, created.get_json()
    chat = created.get_json()
    world_chat = sandbox.world.corps[demo.corp_id].appchats[chat["chatid"]]
    assert (world_chat.name, world_chat.owner, world_chat.userlist) == ("项目群", "user00001", chat["userids"])

    changed = mc_api.patch(
        f"{base}/{chat['id']}", json={"add_userids": ["user00004"], "remove_userids": ["user00002"], "name": "新项目群"}
    )
    assert changed.status_code == 200
    assert changed.get_json()["userids"] == ["user00001", "user00003", "user00004"]
    assert world_chat.userlist == ["user00001", "user00003", "user00004"] and world_chat.name == "新项目群"
    bad = mc_api.patch(f"{base}/{chat['id']}", json={"add_userids": ["nobody"]})
    assert bad.status_code == 409 and bad.get_json()["code"] == "wecom_86216"

    sent = mc_api.post(f"{base}/{chat['id']}/messages", json={"msgtype": "markdown", "content": "**上线了**"})
    assert sent.status_code == 201 and sent.get_json()["status"] == "sent"
    outbox = sandbox.control.outbox(channel="appchat")
    assert set(outbox["counts"]) == {"user00001", "user00003", "user00004"}
    history = mc_api.get(f"{base}/{chat['id']}/messages").get_json()
    assert history["total"] == 1 and history["items"][0]["kind"] == "appchat"
    assert mc_api.post(f"{base}/{chat['id']}/messages", json={"msgtype": "image"}).status_code == 422


def test_other_services_post_robot_alerts_by_named_task_once_per_key(
    mc_api, wc_settings, sandbox, demo, message_center
):
    import dataclasses

    from workers.bootstrap import build_worker_app

    robot = _robot(mc_api, demo.robot_key, name="运维告警")
    settings = dataclasses.replace(
        wc_settings, service_urls={**wc_settings.service_urls, "message_center": message_center.url}
    )
    task = build_worker_app("wecom", settings=settings).tasks["wecom.send_robot_message"]
    alert = {"msgtype": "markdown", "content": "**磁盘告警** 90%"}
    first = task.apply(kwargs={"robot": "运维告警", "message": alert, "idempotency_key": "disk-90"}).get()
    again = task.apply(kwargs={"robot": robot["id"], "message": alert, "idempotency_key": "disk-90"}).get()
    assert first["message_id"] == again["message_id"] and first["status"] in ("queued", "sent")
    wait_for(lambda: sandbox.control.outbox(app=f"robot:{demo.robot_key}")["total"] == 1)
    bad = task.apply(kwargs={"robot": robot["id"], "message": {"msgtype": "text", "content": "x" * 2049}}).get()
    assert bad["status"] == "rejected" and bad["code"] == "invalid_message"
    unknown = task.apply(kwargs={"robot": "nobody", "message": alert}).get()
    assert unknown["status"] == "rejected" and unknown["code"] == "not_found"
    assert len(_messages(mc_api, robot["id"])) == 1
