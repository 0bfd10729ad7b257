"""WeCom endpoints and the group robot, through the client layer."""

from __future__ import annotations

from wedraw.wechat import Final, Ok, Retryable, WeComAppConfig, group_robot, invalid_recipients, wecom_app


def test_same_token_while_valid_and_bad_secret_is_final(sandbox, corp, policy):
    assert corp.call(corp.api.department.get).ok
    first = corp.api.shared_token.record().token
    corp.api.shared_token.forget()  # another process lost it: WeCom hands out the same token again
    assert corp.call(corp.api.department.get).ok
    assert corp.api.shared_token.record().token == first
    bad = wecom_app(sandbox.settings, WeComAppConfig(sandbox.demo.wecom.corp_id, 1000002, "wrong"), policy=policy)
    result = bad.call(bad.api.department.get)
    assert isinstance(result, Final) and (result.errcode, result.category) == (40001, "config")
    unknown = wecom_app(sandbox.settings, WeComAppConfig("ww00000000000000ff", 1, "x"), policy=policy)
    assert unknown.call(unknown.api.department.get).errcode == 40013


def test_departments_and_members(sandbox, corp):
    departments = corp.call(corp.api.department.get).data
    assert [d["id"] for d in departments] == [1, 2, 3, 4]
    assert [d["id"] for d in corp.call(corp.api.department.get, 2).data] == [2]
    everyone = corp.call(corp.api.user.list, 1, fetch_child=True).data
    assert len(everyone) == 30 and everyone[0]["userid"] == "user00001"
    root_only = corp.call(corp.api.user.list, 1, simple=True).data
    assert 0 < len(root_only) < 30 and set(root_only[0]) == {"userid", "name", "department", "open_userid"}
    assert corp.call(corp.api.user.list, 99).errcode == 60123
    member = corp.call(corp.api.user.get, "user00002").data
    assert member["userid"] == "user00002" and member["status"] == 1
    assert corp.call(corp.api.user.get, "ghost").errcode == 60111


def test_list_ids_by_cursor(corp):
    seen, cursor = [], None
    while True:
        page = corp.call(corp.api.list_user_ids, cursor, 8).data
        seen.extend(row["userid"] for row in page["dept_user"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 30
    assert corp.call(corp.api.list_user_ids, None, 10_001).errcode == 40058


def test_agent_message_reports_partial_failure(sandbox, corp):
    agent_id = corp.api.agent_id
    result = corp.call(
        corp.api.message.send_text,
        agent_id,
        ["user00001", "ghost", "user00002"],
        "会议改到三点",
        party_ids=["99"],
        tag_ids=["7"],
    )
    assert isinstance(result, Ok) and result.data["errcode"] == 0
    assert invalid_recipients(result.data) == {
        "invaliduser": ["ghost"],
        "invalidparty": ["99"],
        "invalidtag": ["7"],
        "unlicenseduser": [],
    }
    assert sandbox.control.outbox(channel="wecom")["counts"] == {"user00001": 1, "user00002": 1}
    nobody = corp.call(corp.api.message.send_text, agent_id, ["ghost"], "x")
    assert isinstance(nobody, Final) and nobody.errcode == 81013
    assert corp.call(corp.api.message.send_text, 42, ["user00001"], "x").errcode == 40056


def test_agent_message_to_a_department_reaches_its_active_members(sandbox, corp):
    assert corp.call(corp.api.message.send_markdown, corp.api.agent_id, [], "**通知**", party_ids=["2"]).ok
    members = corp.call(corp.api.user.list, 2, fetch_child=True).data
    active = {m["userid"] for m in members if m["status"] == 1}
    assert set(sandbox.control.outbox(channel="wecom")["counts"]) == active


def test_app_chat_lifecycle(sandbox, corp):
    chat = corp.call(corp.api.appchat.create, "projectx", "项目群", "user00001", ["user00001", "user00002"]).data
    assert chat["chatid"] == "projectx"
    assert corp.call(corp.api.appchat.create, "projectx", "dup", None, ["user00001", "user00002"]).errcode == 86215
    assert corp.call(corp.api.appchat.create, None, "x", None, ["user00001", "ghost"]).errcode == 86216
    assert corp.call(corp.api.appchat.update, "projectx", name="项目 X", add_user_list=["user00003"]).ok
    info = corp.call(corp.api.appchat.get, "projectx").data
    assert info["name"] == "项目 X" and info["userlist"] == ["user00001", "user00002", "user00003"]
    assert corp.call(corp.api.appchat.send_text, "projectx", "早上好").ok
    assert sandbox.control.outbox(channel="appchat")["counts"] == dict.fromkeys(info["userlist"], 1)
    assert corp.call(corp.api.appchat.get, "nochat").errcode == 86003


def test_external_contacts(corp):
    contacts = corp.call(corp.api.external_contact.list, "user00001").data["external_userid"]
    detail = corp.call(corp.api.external_contact.get, contacts[0]).data
    assert detail["external_contact"]["unionid"] and detail["follow_user"][0]["userid"] == "user00001"
    assert corp.call(corp.api.external_contact.list, "user00002").errcode == 84061
    assert corp.call(corp.api.external_contact.get, "wmnobody").errcode == 40096


def test_customer_group_chats_by_cursor(corp):
    api = corp.api.external_contact_group_chat
    chat_ids, cursor = [], None
    while True:
        page = corp.call(api.list, 0, None, cursor, 1).data
        chat_ids.extend(c["chat_id"] for c in page["group_chat_list"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(chat_ids) == 2
    assert len(corp.call(api.list_all).data) == 2
    chat = corp.call(api.get, chat_ids[0]).data["group_chat"]
    assert {m["type"] for m in chat["member_list"]} == {1, 2}
    assert corp.call(api.get, "wrnothing").errcode == 40050


def test_group_robot_limit_and_bad_key(sandbox, policy, pauses):
    robot = group_robot(sandbox.settings, sandbox.demo.wecom.robot_key, policy=policy)
    for n in range(20):
        assert robot.send_text(f"告警 {n}", mentioned_list=["@all"]).ok
    limited = robot.send_markdown("the 21st")
    assert isinstance(limited, Retryable) and limited.errcode == 45009 and limited.retry_after == 60
    assert limited.attempts == 1 and pauses.pauses == []  # stop and report, no retry
    sandbox.control.advance_clock(60)
    assert robot.send_text("next minute").ok
    assert sandbox.control.outbox(channel="robot")["total"] == 21
    broken = group_robot(sandbox.settings, "no-such-key", policy=policy).send_text("x")
    assert isinstance(broken, Final) and (broken.errcode, broken.category) == (93000, "robot")


def test_group_robot_file(sandbox, policy):
    robot = group_robot(sandbox.settings, sandbox.demo.wecom.robot_key, policy=policy)
    uploaded = robot.upload_media("report.csv", b"day,count\n1,2\n")
    assert uploaded.ok and uploaded.data["type"] == "file"
    assert robot.send_file(uploaded.data["media_id"]).ok
    assert robot.send_file("unknown-media").errcode == 40007
    message = sandbox.control.outbox(channel="robot")["messages"][0]
    assert message["payload"]["file"]["media_id"] == uploaded.data["media_id"]


def test_registered_robot(sandbox, policy):
    robot_info = sandbox.control.register_robot(name="ops")
    assert robot_info["webhook_url"].startswith("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=")
    assert group_robot(sandbox.settings, robot_info["key"], policy=policy).send_text("hi").ok
