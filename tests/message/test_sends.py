"""Single sends: the API and the named task other services call, each idempotent by key."""

from __future__ import annotations

import time

from tests.message.conftest import deliveries, wait_for, wait_send
from wedraw.core.celery_app import make_celery

SENDS = "/api/message/sends"


def _body(senders, template, openid, key="order-1001-shipped"):
    return {
        "idempotency_key": key,
        "channel": "oa_template",
        "sender_id": senders["official_account"]["id"],
        "to": openid,
        "template_id": template["id"],
        "data": {"keyword1": "P1001", "keyword2": "已发货"},
    }


def test_a_retried_api_call_with_the_same_key_sends_once(api, senders, oa_templates, sandbox, demo, mc_worker):
    openid = sandbox.world.accounts[demo.official.appid].users.openids[3]
    body = _body(senders, oa_templates["订单状态通知"], openid)
    first = api.post(SENDS, json=body)
    again = api.post(SENDS, json=body)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert wait_send(api, first.get_json()["id"])["status"] == "sent"
    late_retry = api.post(SENDS, json=body)
    assert late_retry.status_code == 200 and late_retry.get_json()["status"] == "sent"
    reused = api.post(SENDS, json={**body, "to": sandbox.world.accounts[demo.official.appid].users.openids[4]})
    assert reused.status_code == 409 and reused.get_json()["code"] == "idempotency_key_reused"
    time.sleep(0.5)
    assert sandbox.control.outbox(channel="template")["counts"] == {openid: 1}
    log = api.get(SENDS, query_string={"q": "order-1001-shipped"}).get_json()
    assert log["total"] == 1 and log["items"][0]["preview"].startswith("\n订单号：P1001")
    assert log["items"][0]["campaign_id"] is None and log["items"][0]["campaign_name"] is None
    filtered = {
        "sender_id": senders["official_account"]["id"],
        "kind": "single",
        "status": "sent",
        "channel": "oa_template",
    }
    assert api.get(SENDS, query_string=filtered).get_json()["total"] == 1
    assert api.get(SENDS, query_string={**filtered, "status": "failed_final"}).get_json()["total"] == 0


def test_other_services_send_by_task_name_and_a_redelivery_sends_once(
    api, senders, oa_templates, sandbox, demo, mc_worker, mc_app, settings
):
    openid = sandbox.world.accounts[demo.official.appid].users.openids[5]
    points_mall = make_celery("points_mall", settings)  # another service: only the task's name is shared
    message = {
        **_body(senders, oa_templates["积分变动提醒"], openid, "points-ledger-77"),
        "data": {"keyword1": "+10", "keyword2": "1280"},
    }
    message.pop("sender_id")
    message["sender"] = demo.official.appid  # other services name the app, not our row id
    for _ in range(3):  # the caller retried, or the broker redelivered
        points_mall.send_task("message_center.send", kwargs={"message": message}, queue="message_center")
    wait_for(lambda: sandbox.control.outbox(channel="template")["total"] >= 1)
    rows = wait_for(lambda: [r for r in deliveries(mc_app) if r.status == "sent"] or None)
    time.sleep(1.0)
    assert len(deliveries(mc_app)) == 1 and rows[0].requested_by == "service"
    assert sandbox.control.outbox(channel="template")["counts"] == {openid: 1}
    # A request that fails the checks is reported, not retried forever, and sends nothing.
    bad = {**message, "idempotency_key": "points-ledger-78", "data": {"keyword1": "+10"}}
    result = mc_worker.tasks["message_center.send"].apply(kwargs={"message": bad}).get()
    assert result == {
        "status": "rejected",
        "code": "invalid_template_data",
        "message": "Template data rejected: keyword2 is required",
    }
    assert len(deliveries(mc_app)) == 1
