"""The worker fleet as the console sees it, and the sweeper that re-dispatches lost work."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from tests.message.conftest import purge_queues, wait_for, wait_send
from wedraw.core.celery_app import BEAT_HEARTBEAT_KEY, make_celery, record_worker_heartbeat
from wedraw.core.registry import all_queues
from wedraw.core.store import store_for


def test_workers_beat_and_queue_lengths(api, mc_settings, settings):
    store = store_for(mc_settings)
    record_worker_heartbeat(
        store, "wechat_push", "wechat_push@web1", {"hostname": "web1", "pid": 41, "pool": "thread", "concurrency": 8}
    )
    stale = {"hostname": "web2", "pid": 42}
    record_worker_heartbeat(store, "wechat_push", "wechat_push@web2", stale)
    nodes = json.loads(store.get("heartbeat:workers:wechat_push"))
    nodes["wechat_push@web2"]["at"] -= 120  # silent for two minutes
    store.set("heartbeat:workers:wechat_push", json.dumps(nodes))
    store.set(BEAT_HEARTBEAT_KEY, json.dumps({"hostname": "web1", "pid": 7, "at": time.time()}))
    sender = make_celery("points_mall", mc_settings)
    purge_queues(sender, ("user_center",))
    for n in range(3):  # waiting messages on a queue no worker of these tests consumes
        sender.send_task("tests.fleet_probe", args=[n], queue="user_center")
    try:
        body = api.get("/api/message/workers").get_json()
    finally:
        purge_queues(sender, ("user_center",))
    queues = {q["queue"]: q for q in body["queues"]}
    assert set(queues) == set(all_queues())
    push = queues["wechat_push"]
    assert (push["service"], push["program"], push["pool"], push["concurrency"]) == (
        "message_center",
        "wedraw-worker-wechat_push",
        "threads",
        8,
    )
    assert push["alive"] == 1
    assert [(w["node"], w["alive"]) for w in push["workers"]] == [
        ("wechat_push@web1", True),
        ("wechat_push@web2", False),
    ]
    assert queues["user_center"]["length"] == 3
    assert body["beat"]["alive"] is True and body["beat"]["hostname"] == "web1"
    jobs = {j["name"]: j for j in body["periodic_jobs"]}
    assert jobs["message-sweep-stuck"]["task"] == "message_center.sweep_stuck"
    assert jobs["message-start-due-campaigns"]["queue"] == "message_center"
    assert body["broker"] in ("redis", "sqlalchemy")


def test_the_sweeper_sends_work_whose_task_was_lost(api, senders, oa_templates, sandbox, demo, mc_worker, mc_app):
    from sqlalchemy import update

    from wedraw.core.db import utcnow
    from wedraw.message_center.models import Delivery, db

    openids = sandbox.world.accounts[demo.official.appid].users.openids[:2]
    ids = []
    for openid in openids:
        response = api.post(
            "/api/message/sends",
            json={
                "channel": "oa_template",
                "sender_id": senders["official_account"]["id"],
                "to": openid,
                "template_id": oa_templates["积分变动提醒"]["id"],
                "data": {"keyword1": "+1", "keyword2": "2"},
            },
        )
        ids.append(response.get_json()["id"])
    for send_id in ids:
        wait_send(api, send_id)
    # Make both look lost: one claimed by a worker that died (lease over), one never picked up.
    past = utcnow() - timedelta(seconds=60)
    with mc_app.app_context():
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == ids[0])
            .values(status="sending", claim="dead-worker", lease_until=past, sent_at=None)
        )
        db.session.execute(
            update(Delivery).where(Delivery.id == ids[1]).values(status="pending", next_attempt_at=past, sent_at=None)
        )
        db.session.commit()
    result = mc_worker.tasks["message_center.sweep_stuck"].apply().get()
    assert result["expired_leases"] == 1 and result["singles"] == 2
    for send_id in ids:
        assert wait_send(api, send_id)["status"] == "sent"
    wait_for(lambda: sandbox.control.outbox(channel="template")["total"] == 4)
    assert sandbox.control.outbox(channel="template")["counts"] == dict.fromkeys(openids, 2)
    # Nothing is stuck now: a second sweep finds nothing.
    again = mc_worker.tasks["message_center.sweep_stuck"].apply().get()
    assert (again["expired_leases"], again["singles"], again["batches"]) == (0, 0, 0)
