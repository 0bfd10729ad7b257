"""The /__sandbox/ control surface."""

from __future__ import annotations

import pytest

from wedraw.sandbox.client import SandboxControl, SandboxControlError
from wedraw.wechat import OfficialAccountConfig, WeComAppConfig, official_account, wecom_app


def test_summary_shows_accounts_and_demo_credentials(sandbox):
    summary = sandbox.control.summary()
    assert summary["demo"]["official"]["appid"] == sandbox.demo.official.appid
    kinds = {a["appid"]: a["kind"] for a in summary["accounts"]}
    assert kinds == {sandbox.demo.official.appid: "official", sandbox.demo.miniprogram.appid: "miniprogram"}
    assert summary["corps"][0]["members"] == 30 and summary["robots"][0]["key"] == sandbox.demo.wecom.robot_key
    # both hosts act on one world
    assert SandboxControl(sandbox.handle.wecom_url).summary()["accounts"] == summary["accounts"]


def test_reset_rebuilds_with_new_sizes(sandbox, oa):
    assert oa.call(oa.api.menu.create, {"button": [{"type": "click", "name": "a", "key": "k"}]}).ok
    sandbox.control.register_account("wxextra00000000001", "s")
    summary = sandbox.control.reset(fans=7, members=3)
    assert {a["appid"] for a in summary["accounts"]} == {sandbox.demo.official.appid, sandbox.demo.miniprogram.appid}
    assert summary["accounts"][0]["subscribed"] == 7 and summary["corps"][0]["members"] == 3
    assert oa.call(oa.api.menu.get).data is None  # tokens were reset too: the client refreshed once
    with pytest.raises(SandboxControlError) as bad:
        sandbox.control.reset(fans=-3)
    assert bad.value.status == 422


def test_faults_are_listed_counted_and_removed(sandbox):
    fault = sandbox.control.fault("cgi-bin/user/get", errcode=-1, times=2, host="official")
    assert fault["path"] == "/cgi-bin/user/get"
    forever = sandbox.control.fault("/cgi-bin/menu/get", delay=0.01, times=None)
    assert [f["id"] for f in sandbox.control.faults()] == [fault["id"], forever["id"]]
    sandbox.control._call("DELETE", f"/faults/{forever['id']}")
    assert [f["id"] for f in sandbox.control.faults()] == [fault["id"]]
    sandbox.control.clear_faults()
    assert sandbox.control.faults() == []
    for bad in (
        {"path": ""},
        {"path": "/x"},
        {"path": "/x", "errcode": 1, "times": 0},
        {"path": "/x", "delay": "a"},
        {"path": "/x", "errcode": 1, "host": "mars"},
    ):
        with pytest.raises(SandboxControlError) as refused:
            sandbox.control._call("POST", "/faults", json=bad)
        assert refused.value.status == 422


def test_expire_tokens_by_app_or_value(sandbox, oa, corp):
    assert oa.call(oa.api.user.get_followers).ok and corp.call(corp.api.department.get).ok
    assert sandbox.control.expire_tokens(sandbox.demo.wecom.corp_id, agent_id=sandbox.demo.wecom.agent_id) == 1
    assert sandbox.control.expire_tokens(token=oa.api.shared_token.record().token, errcode=40001) == 1
    assert sandbox.control.expire_tokens(sandbox.demo.official.appid) == 0  # already failing
    assert oa.call(oa.api.user.get_followers).attempts == 2
    assert corp.call(corp.api.department.get).attempts == 2
    with pytest.raises(SandboxControlError):
        sandbox.control.expire_tokens(sandbox.demo.official.appid, errcode=40003)


def test_clock_and_stats(sandbox, oa):
    before = sandbox.control._call("GET", "/clock")
    after = sandbox.control.advance_clock(3600)
    assert after["offset"] == 3600 and after["now"] >= before["now"] + 3600
    oa.call(oa.api.user.get_followers)
    stats = sandbox.control.stats()
    assert stats["calls"]["official /cgi-bin/user/get"] == 1
    assert stats["token_calls"] == {sandbox.demo.official.appid: 1}
    assert sandbox.control.clear_stats() == {"calls": {}, "token_calls": {}}


def test_outbox_filters_and_counts(sandbox, oa, corp):
    openids = [u["openid"] for u in sandbox.control.users(sandbox.demo.official.appid, 0, 2)["users"]]
    oa.call(oa.api.message.send_text, openids[0], "a")
    oa.call(oa.api.message.send_text, openids[0], "b")
    corp.call(corp.api.message.send_text, corp.api.agent_id, ["user00001"], "c")
    everything = sandbox.control.outbox()
    assert everything["total"] == 3 and everything["counts"] == {openids[0]: 2, "user00001": 1}
    only = sandbox.control.outbox(app=sandbox.demo.official.appid, to=openids[0], limit=1)
    assert only["total"] == 2 and len(only["messages"]) == 1
    assert only["messages"][0]["payload"]["text"]["content"] == "b"  # the latest
    sandbox.control.clear_outbox()
    assert sandbox.control.outbox()["total"] == 0


def test_users_listing(sandbox):
    listing = sandbox.control.users(sandbox.demo.official.appid, 58, 10)
    assert listing["total"] == 63 and listing["subscribed"] == 60
    assert [u["subscribed"] for u in listing["users"]] == [True, True, False, False, False]
    with pytest.raises(SandboxControlError) as missing:
        sandbox.control.users("wxnobody")
    assert missing.value.status == 404


def test_register_accounts_corps_and_agents(sandbox, policy):
    created = sandbox.control.register_account(
        "wxnew0000000000001",
        "new-secret",
        fans=4,
        name="二号号",
        encrypt_mode="plain",
        callback_url="http://127.0.0.1:9/cb",
    )
    assert created["kind"] == "official" and created["users"] == 4 and created["original_id"].startswith("gh_")
    oa = official_account(sandbox.settings, OfficialAccountConfig("wxnew0000000000001", "new-secret"), policy=policy)
    assert oa.call(oa.api.user.get_followers).data["total"] == 4
    for duplicate in (sandbox.demo.official.appid, sandbox.demo.wecom.corp_id):
        with pytest.raises(SandboxControlError) as conflict:
            sandbox.control.register_account(duplicate, "x")
        assert conflict.value.status == 409
    with pytest.raises(SandboxControlError) as bad_key:
        sandbox.control.register_account("wxbadkey00000000001", "x", aes_key="short")
    assert bad_key.value.status == 422
    corp_info = sandbox.control.register_corp(
        "wwnew0000000000001", members=5, departments=2, agents=[{"agent_id": 1000005, "secret": "agent-secret"}]
    )
    assert corp_info["members"] == 5
    sandbox.control.register_agent("wwnew0000000000001", 1000006, "contacts-secret")
    updated = sandbox.control.update_agent("wwnew0000000000001", 1000006, callback_url="http://127.0.0.1:9/w")
    assert updated["callback_url"] == "http://127.0.0.1:9/w"
    app = wecom_app(sandbox.settings, WeComAppConfig("wwnew0000000000001", 1000006, "contacts-secret"), policy=policy)
    assert len(app.call(app.api.user.list, 1, fetch_child=True).data) == 5


def test_wxlogin_oauth_codes_and_grants(sandbox):
    new = sandbox.control.wxlogin(new=True)
    assert new["openid"] and new["unionid"] and new["expires_in"] == 300
    assert sandbox.control.wxlogin(openid=new["openid"])["openid"] == new["openid"]
    with pytest.raises(SandboxControlError):
        sandbox.control.wxlogin(openid="o-unknown")
    code = sandbox.control.oauth_code(sandbox.demo.official.appid, scope="snsapi_userinfo")
    assert code["scope"] == "snsapi_userinfo" and code["subject"]
    with pytest.raises(SandboxControlError) as unknown:
        sandbox.control.oauth_code("wxnobody")
    assert unknown.value.status == 404
    with pytest.raises(SandboxControlError) as no_template:
        sandbox.control.grant_subscribe(new["openid"], "no-such-template")
    assert no_template.value.status == 404


def test_user_actions_are_checked(sandbox):
    fan = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]
    for action, fields, status in (
        ("click", {"openid": fan, "key": "NOT_IN_MENU"}, 409),
        ("text", {"openid": fan}, 422),
        ("scan", {"openid": fan, "ticket": "nope"}, 409),
        ("dance", {"openid": fan}, 404),
        ("text", {"openid": "o-unknown", "content": "x"}, 404),
    ):
        with pytest.raises(SandboxControlError) as refused:
            sandbox.control.act(action, **fields)
        assert refused.value.status == status
    sandbox.control.act("unfollow", openid=fan)
    with pytest.raises(SandboxControlError) as twice:
        sandbox.control.act("unfollow", openid=fan)
    assert twice.value.status == 409
    follow = sandbox.control.act("follow", openid=fan)
    assert follow["push"]["status"] == "no_callback_url"  # the test world has no callback URLs


def test_push_any_message_and_read_records(sandbox):
    record = sandbox.control.push(
        {"FromUserName": "o-someone", "MsgType": "event", "Event": "VIEW", "EventKey": "https://wedraw.example/"}
    )
    assert record["message"]["ToUserName"].startswith("gh_") and "MsgId" not in record["message"]
    text = sandbox.control.push({"FromUserName": "o-someone", "MsgType": "text", "Content": "hi"}, wait=False)
    assert text["message"]["MsgId"]
    assert sandbox.control.push_record(text["id"], wait=2)["done"] is True
    assert [p["id"] for p in sandbox.control.pushes(app=sandbox.demo.official.appid)] == [record["id"], text["id"]]
    with pytest.raises(SandboxControlError) as bad:
        sandbox.control.push({"MsgType": "text"})
    assert bad.value.status == 422
