"""WeChat's errors, injected by the sandbox: every recipient ends in the right state with WeChat's reason."""

from __future__ import annotations

from sqlalchemy import select

from tests.message.conftest import deliveries, seed_fans, wait_campaign, wait_send

TEMPLATE_SEND = "/cgi-bin/message/template/send"


def test_token_busy_quota_and_unsubscribed_faults_end_in_the_right_states(
    api, senders, oa_templates, sandbox, demo, official_app, mc_worker, mc_app
):
    from wedraw.wechat_official.models import Fan, db

    appid = demo.official.appid
    seed_fans(official_app, sandbox, appid)
    openids = sandbox.world.accounts[appid].users.openids[:12]
    gone = {openids[4], openids[9]}
    for openid in gone:  # these two unfollow before the campaign: WeChat answers 43004
        sandbox.control.act("unfollow", appid=appid, openid=openid)
    control = sandbox.control
    control.fault(TEMPLATE_SEND, errcode=40001, times=1)  # a token another process replaced
    control.fault(TEMPLATE_SEND, errcode=-1, times=3)  # system busy, a few times
    control.fault(TEMPLATE_SEND, errcode=45009, times=1)  # quota / frequency: stop and wait
    calls_before = control.token_calls(appid)
    campaign = api.post(
        "/api/message/campaigns",
        json={
            "name": "故障演练",
            "channel": "oa_template",
            "sender_id": senders["official_account"]["id"],
            "template_id": oa_templates["积分变动提醒"]["id"],
            "data": {"keyword1": "+5", "keyword2": "105"},
            "audience": {"kind": "openids", "openids": openids},
            "start": True,
        },
    ).get_json()
    progress = wait_campaign(api, campaign["id"], timeout=30)
    assert progress["counts"]["sent"] == 10 and progress["counts"]["failed_final"] == 2
    rows = {r.target: r for r in deliveries(mc_app, campaign_id=campaign["id"])}
    for openid in gone:
        row = rows[openid]
        assert (row.status, row.errcode, row.category, row.attempts) == ("failed_final", 43004, "recipient", 1)
        assert row.errmsg.startswith("user has not subscribed")
    first, second = rows[openids[0]], rows[openids[1]]
    # 40001: refreshed the shared token and retried in the same call; then -1 twice: retried later.
    assert (first.status, first.attempts, first.errcode) == ("sent", 2, -1)
    # -1 once more (retried in the call), then 45009: the sender waited, then sent.
    assert (second.status, second.attempts, second.errcode) == ("sent", 2, 45009)
    assert all(rows[o].status == "sent" and rows[o].attempts == 1 for o in openids[2:] if o not in gone)
    assert control.token_calls(appid) - calls_before == 1  # exactly one refresh, after the 40001
    assert control.faults() == []
    assert control.outbox(channel="template")["counts"] == {o: 1 for o in openids if o not in gone}
    reasons = {r["errcode"]: r for r in api.get(f"/api/message/campaigns/{campaign['id']}/failures").get_json()}
    assert reasons[43004]["count"] == 2 and reasons[43004]["meaning"] == "user has not subscribed"
    # The Official Account service learnt that these fans left.
    with official_app.app_context():
        subscribed = dict(db.session.execute(select(Fan.openid, Fan.subscribed).where(Fan.openid.in_(gone))).all())
    assert subscribed == dict.fromkeys(gone, False)


def test_a_retryable_error_that_never_clears_becomes_final_after_the_bounded_attempts(
    api, senders, oa_templates, sandbox, demo, mc_worker
):
    sandbox.control.fault(TEMPLATE_SEND, errcode=-1, times=None)
    openid = sandbox.world.accounts[demo.official.appid].users.openids[0]
    sent = api.post(
        "/api/message/sends",
        json={
            "channel": "oa_template",
            "sender_id": senders["official_account"]["id"],
            "to": openid,
            "template_id": oa_templates["积分变动提醒"]["id"],
            "data": {"keyword1": "+5", "keyword2": "105"},
        },
    ).get_json()
    done = wait_send(api, sent["id"], timeout=30)
    assert (done["status"], done["attempts"], done["errcode"]) == ("failed_final", 5, -1)
    assert done["errmsg"].startswith("gave up after 5 attempts: system busy")
    # Each attempt retried once inside the call: 10 calls, then nothing more.
    assert sandbox.control.faults()[0]["hits"] == 10


def test_wechat_answering_45009_to_a_robot_waits_out_the_quota(api, senders, sandbox, demo, mc_worker):
    sandbox.control.fault("/cgi-bin/webhook/send", errcode=45009, times=1, host="wecom")
    sent = api.post(
        "/api/message/sends",
        json={
            "channel": "group_robot",
            "sender_id": senders["group_robot"]["id"],
            "message": {"msgtype": "markdown", "markdown": {"content": "**磁盘** 90%"}},
        },
    ).get_json()
    done = wait_send(api, sent["id"], timeout=20)
    assert (done["status"], done["attempts"], done["errcode"], done["category"]) == ("sent", 2, 45009, "quota")
    assert sandbox.control.outbox(app=f"robot:{demo.wecom.robot_key}")["total"] == 1
