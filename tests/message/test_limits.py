"""Rate limits shared by every worker: token buckets and WeChat's sliding window, on this tier's store."""

from __future__ import annotations

import threading
import time
import uuid

from tests.message.conftest import ROBOT_WINDOW_SECONDS, deliveries, wait_for
from wedraw.core.store import store_for
from wedraw.message_center.limits import Limit, Limiter


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_a_bucket_allows_its_burst_then_the_steady_rate(settings):
    limiter = Limiter(store_for(settings))
    key, limit = _key(), Limit(10, 1.0)
    grant = limiter.acquire(key, limit, 25)
    assert grant.granted == 10 and 0 < grant.wait <= 0.11
    assert limiter.acquire(key, limit, 1).granted == 0
    time.sleep(0.35)  # refills 10/s: three more
    assert limiter.acquire(key, limit, 5).granted == 3


def test_a_window_counts_exactly_like_wechat(settings):
    limiter = Limiter(store_for(settings))
    key, limit = _key(), Limit(20, 1.5, "window")
    assert limiter.acquire(key, limit, 15).granted == 15
    time.sleep(0.5)
    grant = limiter.acquire(key, limit, 10)
    assert grant.granted == 5
    assert 0.8 < grant.wait <= 1.0  # the oldest of the first 15 leaves the window 1.5 s after it entered
    time.sleep(grant.wait + 0.05)
    assert limiter.acquire(key, limit, 20).granted == 15  # the first 15 left; the 5 later ones are still in


def test_concurrent_workers_never_exceed_the_window(settings):
    key, limit = _key(), Limit(20, 2.0, "window")
    granted, barrier = [], threading.Barrier(6)

    def worker():
        limiter = Limiter(store_for(settings))
        barrier.wait()
        for _ in range(10):
            if limiter.acquire(key, limit, 1).granted:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(granted) == 20


def test_a_block_holds_every_request_on_the_key(settings):
    limiter = Limiter(store_for(settings))
    key = _key()
    limiter.block(key, 0.6)
    grant = limiter.acquire(key, Limit(100, 1.0), 1)
    assert grant.granted == 0 and 0.4 < grant.wait <= 0.6
    time.sleep(0.65)
    assert limiter.acquire(key, Limit(100, 1.0), 1).granted == 1


def test_the_21st_robot_message_in_a_minute_waits_and_is_delivered_after(
    api, senders, sandbox, demo, mc_worker, mc_app
):
    robot = senders["group_robot"]["id"]
    ids = []
    for n in range(21):
        response = api.post(
            "/api/message/sends",
            json={
                "channel": "group_robot",
                "sender_id": robot,
                "idempotency_key": f"alert-{n}",
                "message": {"msgtype": "text", "text": {"content": f"告警 #{n}"}},
            },
        )
        assert response.status_code == 202
        ids.append(response.get_json()["id"])
    label = f"robot:{demo.wecom.robot_key}"
    wait_for(lambda: sandbox.control.outbox(app=label)["total"] == 20, 10)
    # WeChat has the 20th a moment before the worker records it as sent.
    wait_for(lambda: sum(r.status == "sent" for r in deliveries(mc_app)) == 20, 10)
    rows = {r.id: r for r in deliveries(mc_app)}
    waiting = [r for r in rows.values() if r.status != "sent"]
    assert len(waiting) == 1 and waiting[0].attempts == 0  # waited for a permit: WeChat was never asked
    first_sent = min(r.sent_at for r in rows.values() if r.sent_at)
    sandbox.control.advance_clock(60)  # WeChat's minute passes on WeChat's side
    wait_for(lambda: sandbox.control.outbox(app=label)["total"] == 21, ROBOT_WINDOW_SECONDS + 10)
    late = deliveries(mc_app, id=waiting[0].id)[0]
    assert late.status == "sent" and late.attempts == 1 and late.errcode is None
    # The window: ROBOT_WINDOW_SECONDS in tests, 60 s in production.
    assert (late.sent_at - first_sent).total_seconds() >= ROBOT_WINDOW_SECONDS - 0.1
    contents = [m["payload"]["text"]["content"] for m in sandbox.control.outbox(app=label)["messages"]]
    assert sorted(contents) == sorted(f"告警 #{n}" for n in range(21))
