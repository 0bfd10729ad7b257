"""Journey 3 across services and real workers: one member from the Mini Program and the Official Account,
and an order notification that claims the member's grant and reaches the message center's queue."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid

import pytest
from sqlalchemy import func, select

from tests.conftest import run_worker
from tests.miniprogram.conftest import bearer
from wedraw.core.factory import create_app
from wedraw.sandbox.world import person_profile


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def _purge(celery, *queues):
    with celery.connection_for_write() as conn:
        for queue in queues:
            with contextlib.suppress(Exception):  # a queue that does not exist yet
                conn.default_channel.queue_purge(queue)


@pytest.fixture
def worker():
    """start(service, settings): a real Celery worker (a thread) on the service's queues; every send is recorded,
    and sends to other services' queues are not delivered (no worker of theirs runs here).

    One per test: Celery's worker looks tasks up in the process's current app."""
    from wedraw.core.registry import get_service
    from workers.bootstrap import build_worker_app

    running = []

    def start(service: str, settings):
        celery = build_worker_app(service, settings=settings)
        _purge(celery, *get_service(service).queues)
        sent = []
        original = celery.send_task

        own = set(get_service(service).queues)

        def recording_send_task(name, *args, **kwargs):
            sent.append((name, kwargs.get("queue"), kwargs.get("kwargs") or {}))
            if kwargs.get("queue") in own:
                return original(name, *args, **kwargs)
            return None  # another service's task: recorded, not delivered (its worker does not run here)

        celery.send_task = recording_send_task
        celery.sent = sent
        context = run_worker(celery, queues=get_service(service).queues)
        context.__enter__()
        running.append(context)
        return celery

    yield start
    for context in reversed(running):
        context.__exit__(None, None, None)


def test_a_fan_known_from_the_mini_program_is_credited_on_the_same_account(
    apps, sandbox, mp_settings, wx_login, admin, serve, worker, audit
):
    from wedraw.points_mall.models import PointsAccount, db

    world = sandbox.world
    oa_appid = world.demo.official.appid
    # Person 0 uses the Mini Program (user 0) and follows the Official Account (fan 0): one unionid.
    mp_openid = world.accounts[world.demo.miniprogram.appid].users.openids[0]
    fan_openid = world.accounts[oa_appid].users.openids[0]
    unionid = person_profile(world.params.seed, 0)["unionid"]
    member = wx_login(mp_openid)
    assert member["member"]["member_key"] == f"unionid:{unionid}"
    points = apps["points_mall"].test_client()
    account = points.get("/api/points/me", headers=bearer(member["token"])).get_json()
    assert account["balance"] == 0

    # The Official Account service, wired to the sandbox, with its worker and the points worker running.
    oa_app = create_app("wechat_official", settings=mp_settings, audit_sink=audit.append)
    demo = world.demo.official
    registered = oa_app.test_client().post(
        "/api/wechat/accounts",
        json={
            "appid": oa_appid,
            "name": "演示",
            "secret": demo.secret,
            "token": demo.token,
            "aes_key": demo.aes_key,
            "message_mode": "safe",
        },
        headers=admin.headers,
    )
    assert registered.status_code == 201, registered.get_json()
    sandbox.control.update_account(oa_appid, callback_url=serve(oa_app) + f"/api/wechat/callback/{oa_appid}")
    oa_worker = worker("wechat_official", mp_settings)

    pushed = sandbox.control.act("follow", openid=fan_openid)
    assert pushed["push"]["status"] in ("acked", "replied"), pushed
    wait_for(lambda: any(name == "points_mall.award_subscribe" for name, _q, _k in oa_worker.sent))
    name, queue, kwargs = next(sent for sent in oa_worker.sent if sent[0] == "points_mall.award_subscribe")
    assert queue == "points" and (kwargs["event"]["openid"], kwargs["event"]["unionid"]) == (fan_openid, unionid)
    # The points worker's task, run with exactly what the Official Account service sent. (One Celery worker
    # per process: Celery looks tasks up in the process's current app.)
    from workers.bootstrap import build_worker_app

    points_celery = build_worker_app("points_mall", settings=mp_settings)
    assert points_celery.tasks[name].apply(kwargs=kwargs).get() == "awarded"
    assert points_celery.tasks[name].apply(kwargs=kwargs).get() == "already awarded"  # a redelivery
    me = points.get("/api/points/me", headers=bearer(member["token"])).get_json()
    assert (me["account_id"], me["balance"]) == (account["account_id"], 100)
    with apps["points_mall"].app_context():
        assert db.session.execute(select(func.count()).select_from(PointsAccount)).scalar_one() == 1
    entries = points.get("/api/points/me/ledger", headers=bearer(member["token"])).get_json()["items"]
    assert [(e["business_type"], e["amount"]) for e in entries] == [("subscribe_bonus", 100)]


def test_an_order_notification_uses_the_members_grant_and_goes_to_the_message_center(
    apps, sandbox, settings, mp_app, wx_login, admin, serve, worker, audit
):
    from wedraw.points_mall.models import OrderNotification, db

    template = next(
        t
        for t in sandbox.world.accounts[sandbox.world.demo.miniprogram.appid].templates.values()
        if t.title == "兑换成功通知"
    )
    member = wx_login()
    token = bearer(member["token"])
    granted = mp_app.test_client().post(
        "/api/miniprogram/me/subscriptions", json={"results": {template.template_id: "accept"}}, headers=token
    )
    assert granted.status_code == 200
    # The points mall reaches the miniprogram service's internal routes at its address.
    points_settings = dataclasses.replace(
        settings, service_urls={**settings.service_urls, "miniprogram": serve(mp_app)}
    )
    points_app = create_app("points_mall", settings=points_settings, audit_sink=audit.append)
    points = points_app.test_client()
    rules = points.patch(
        "/api/points/rules",
        json={
            "notifications": {
                "redeemed": {
                    "enabled": True,
                    "message_template_id": 7,
                    "wechat_template_id": template.template_id,
                    "data": {"thing1": "{product_name}", "number2": "{points}", "time3": "{time}"},
                }
            }
        },
        headers=admin.headers,
    )
    assert rules.status_code == 200, rules.get_json()
    product = points.post(
        "/api/points/products",
        json={"name": "保温杯", "points_price": 30, "stock": 5, "on_shelf": True, "needs_address": False},
        headers=admin.headers,
    ).get_json()
    account_id = points.get("/api/points/me", headers=token).get_json()["account_id"]
    points.post(
        f"/api/points/accounts/{account_id}/grants", json={"amount": 100, "reason": "测试"}, headers=admin.headers
    )
    points_worker = worker("points_mall", points_settings)

    orders = []
    for _ in range(2):
        response = points.post(
            "/api/points/orders",
            json={"product_id": product["id"]},
            headers={**token, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 201, response.get_json()
        orders.append(response.get_json())

    def settled():
        with points_app.app_context():
            rows = db.session.execute(select(OrderNotification).order_by(OrderNotification.order_id)).scalars().all()
            states = [(r.status, r.detail) for r in rows]
            db.session.remove()
        return states if states and all(s != "pending" for s, _d in states) else None

    states = wait_for(settled)
    assert states[0] == ("sent", "handed to the message center")
    assert states[1][0] == "skipped" and "no subscribe grant" in states[1][1]  # one grant, one message
    sends = [k for name, queue, k in points_worker.sent if name == "message_center.send" and queue == "message_center"]
    assert len(sends) == 1
    message = sends[0]["message"]
    assert message["idempotency_key"] == f"points-order-{orders[0]['order_no']}-redeemed"
    assert (message["channel"], message["sender"], message["to"], message["template_id"]) == (
        "mp_subscribe",
        sandbox.world.demo.miniprogram.appid,
        member["sandbox_openid"],
        7,
    )
    assert message["data"]["thing1"] == "保温杯" and message["data"]["number2"] == "30"
    detail = points.get(f"/api/points/orders/{orders[0]['id']}", headers=admin.headers).get_json()
    assert [(n["event"], n["status"]) for n in detail["notifications"]] == [("redeemed", "sent")]
