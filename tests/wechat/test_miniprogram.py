"""Mini Program login and subscribe messages, through the client layer."""

from __future__ import annotations

from wedraw.wechat import Final, MiniProgramConfig, Ok, Retryable, mini_program


def test_wx_login_code_gives_openid_and_the_unionid_shared_with_the_official_account(sandbox, mp):
    login = sandbox.control.wxlogin()
    session = mp.code_to_session(login["code"])
    assert isinstance(session, Ok)
    assert session.data["openid"] == login["openid"] and session.data["session_key"]
    fan = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]
    assert session.data["unionid"] == fan["unionid"]  # user 0 of the Mini Program is fan 0
    assert session.data["openid"] != fan["openid"]


def test_codes_are_single_use_and_must_exist(sandbox, mp):
    code = sandbox.control.wxlogin()["code"]
    assert mp.code_to_session(code).ok
    reused = mp.code_to_session(code)
    assert isinstance(reused, Final) and (reused.errcode, reused.category) == (40163, "code")
    assert mp.code_to_session("never-issued").errcode == 40029


def test_codes_expire_after_five_minutes(sandbox, mp):
    code = sandbox.control.wxlogin()["code"]
    sandbox.control.advance_clock(301)
    assert mp.code_to_session(code).errcode == 40029


def test_risky_user_is_refused(sandbox, mp):
    code = sandbox.control.wxlogin(new=True, risky=True)["code"]
    assert mp.code_to_session(code).errcode == 40226


def test_throttled_code2session_is_retryable_next_minute(sandbox, policy, pauses):
    sandbox.control.register_account(
        "wxslowmp0000000001", "mp-secret", kind="miniprogram", users=3, code2session_per_minute=1
    )
    mp = mini_program(sandbox.settings, MiniProgramConfig("wxslowmp0000000001", "mp-secret"), policy=policy)
    first, second = (sandbox.control.wxlogin("wxslowmp0000000001")["code"] for _ in range(2))
    assert mp.code_to_session(first).ok
    throttled = mp.code_to_session(second)
    assert isinstance(throttled, Retryable) and throttled.errcode == 45011 and throttled.retry_after == 60
    assert throttled.attempts == 3 and len(pauses.pauses) == 2  # backed off twice, then reported
    sandbox.control.advance_clock(60)
    assert mp.code_to_session(second).ok  # the code was never consumed by the throttled tries


def test_wechatpys_own_code_to_session_works_too(sandbox, mp):
    """It fetches an app token first and appends it: the sandbox accepts the extra parameter."""
    login = sandbox.control.wxlogin()
    result = mp.call(mp.api.wxa.code_to_session, login["code"])
    assert result.ok and result.data["openid"] == login["openid"]


def _template(sandbox, title):
    world = sandbox.world
    with world.lock:
        account = world.accounts[sandbox.demo.miniprogram.appid]
        return next(t.template_id for t in account.templates.values() if t.title == title)


def test_subscribe_messages_need_a_grant_per_send(sandbox, mp):
    openid = sandbox.control.wxlogin()["openid"]
    template_id = _template(sandbox, "兑换成功通知")
    data = {"thing1": {"value": "保温杯"}, "number2": {"value": "1200"}, "time3": {"value": "2026-01-01 10:00"}}
    refused = mp.call(mp.api.send_subscribe_message, openid, template_id, data, page="pages/mall/index")
    assert isinstance(refused, Final) and (refused.errcode, refused.category) == (43101, "grant")
    sandbox.control.grant_subscribe(openid, template_id, count=1)
    sent = mp.call(
        mp.api.send_subscribe_message, openid, template_id, data, page="pages/mall/index", miniprogram_state="trial"
    )
    assert sent.ok
    assert mp.call(mp.api.send_subscribe_message, openid, template_id, data).errcode == 43101
    outbox = sandbox.control.outbox(channel="subscribe")
    assert outbox["counts"] == {openid: 1}
    assert outbox["messages"][0]["payload"]["miniprogram_state"] == "trial"


def test_subscribe_message_validation(sandbox, mp):
    openid = sandbox.control.wxlogin()["openid"]
    template_id = _template(sandbox, "兑换成功通知")
    sandbox.control.grant_subscribe(openid, template_id, count=5)
    data = {"thing1": {"value": "保温杯"}, "number2": {"value": "1200"}, "time3": {"value": "2026-01-01 10:00"}}
    assert mp.call(mp.api.send_subscribe_message, openid, "nope", data).errcode == 40037
    assert mp.call(mp.api.send_subscribe_message, openid, template_id, data, page="pages/secret").errcode == 41030
    too_long = {**data, "thing1": {"value": "一个名字超过二十个字的商品名称一个名字超过二十个字"}}
    assert mp.call(mp.api.send_subscribe_message, openid, template_id, too_long).errcode == 47003
    missing = {"thing1": {"value": "保温杯"}}
    assert mp.call(mp.api.send_subscribe_message, openid, template_id, missing).errcode == 47003
    # wechatpy's own version (no miniprogram_state) reaches the same endpoint
    assert mp.call(mp.api.wxa.send_subscribe_message, openid, template_id, data).ok
