"""The callback: every mode round-trips through the sandbox pusher; duplicates, forgeries and bombs store nothing."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from celery import Celery
from sqlalchemy import func, select

from tests.official.conftest import wait_for
from wedraw.wechat.callbacks import MessageCrypto, build_xml
from wedraw.wechat_official import services
from wedraw.wechat_official.models import Fan, Message, QrCode, db

WELCOME = "欢迎关注！"


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _rows(app, *where) -> list[Message]:
    with app.app_context():
        rows = db.session.execute(select(Message).where(*where).order_by(Message.id)).scalars().all()
        db.session.expunge_all()
        return rows


def _replies(api, base):
    assert (
        api.post(
            f"{base}/auto-replies",
            json={"name": "welcome", "trigger": "subscribe", "reply_type": "text", "content": WELCOME},
        ).status_code
        == 201
    )
    assert (
        api.post(
            f"{base}/auto-replies",
            json={
                "name": "points",
                "trigger": "keyword",
                "match_type": "contains",
                "keywords": ["积分"],
                "reply_type": "text",
                "content": "积分规则",
            },
        ).status_code
        == 201
    )


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_each_mode_round_trips_through_the_pusher(mode, api, base, sandbox, demo, wired, oa_app):
    _replies(api, base)
    sandbox.control.update_account(demo.appid, encrypt_mode=mode)
    assert api.patch(base, json={"message_mode": mode}).status_code == 200

    follow = sandbox.control.act("follow", appid=demo.appid)
    push = follow["push"]
    assert push["status"] == "replied", push
    assert push["mode"] == mode and push["reply"]["Content"] == WELCOME
    assert push["attempts"][0]["elapsed_ms"] < 2000
    if mode != "plain":
        assert "<Encrypt>" in push["attempts"][0]["body"]  # the reply went back encrypted

    text = sandbox.control.act("text", appid=demo.appid, openid=follow["from"], content="我的积分呢")
    assert text["push"]["status"] == "replied" and text["push"]["reply"]["Content"] == "积分规则"

    with oa_app.app_context():
        fan = db.session.execute(select(Fan).where(Fan.openid == follow["from"])).scalar_one()
        assert fan.subscribed and fan.subscribe_time and fan.last_interaction_at
    stored = _rows(oa_app, Message.openid == follow["from"])
    assert [(m.msg_type, m.event, m.reply_content) for m in stored] == [
        ("event", "subscribe", WELCOME),
        ("text", None, "积分规则"),
    ]
    # Their follow-ups reach the broker from the hand-off's thread, moments after the answer.
    wait_for(lambda: all(m.handed_on_at is not None for m in _rows(oa_app, Message.openid == follow["from"])))


def test_url_verification(sandbox, demo, wired):
    assert sandbox.control.verify_url(appid=demo.appid)["ok"] is True


def test_same_msgid_three_times_at_once_is_stored_and_answered_once(api, base, sandbox, demo, wired, oa_app):
    _replies(api, base)
    openid = sandbox.control.users(demo.appid, 0, 1)["users"][0]["openid"]
    message = {"FromUserName": openid, "MsgType": "text", "Content": "积分", "MsgId": 88001234567}
    results, barrier = [], threading.Barrier(3)

    def deliver():
        barrier.wait()
        results.append(sandbox.control.push(message, appid=demo.appid, attempts=1))

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r["status"] for r in results) == ["acked", "acked", "replied"]
    assert _count(oa_app, Message, Message.msg_id == "88001234567") == 1
    outbox = sandbox.control.outbox(channel="passive_reply", to=openid)
    assert outbox["total"] == 1


def test_a_retry_after_a_lost_answer_is_processed_once(api, base, sandbox, demo, wired, oa_app):
    _replies(api, base)
    follow = sandbox.control.act("follow", appid=demo.appid)
    again = sandbox.control.push(
        {
            "FromUserName": follow["from"],
            "MsgType": "event",
            "Event": "subscribe",
            "EventKey": "",
            "CreateTime": follow["push"]["message"]["CreateTime"],
        },
        appid=demo.appid,
    )
    assert again["status"] == "acked"
    assert _count(oa_app, Message, Message.openid == follow["from"]) == 1


def _signed(token: str, timestamp: int | None = None, **extra) -> dict:
    timestamp = str(timestamp or int(time.time()))
    nonce = "n0nce"
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><ToUserName>gh_x</ToUserName><FromUserName>o1</FromUserName>'
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"
)


def test_forged_stale_bomb_oversized_and_unknown_store_nothing(api, base, oa_app, demo):
    http = oa_app.test_client()
    url = f"/api/wechat/callback/{demo.appid}"
    plain = build_xml(
        {
            "ToUserName": "gh_x",
            "FromUserName": "oFAN000000000000000000000001",
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": "hi",
            "MsgId": 42,
        }
    )
    crypto = MessageCrypto(demo.token, demo.aes_key, demo.appid)

    def envelope(xml: str, **params):
        encrypted = crypto.encrypt(xml)
        query = _signed(demo.token, **params)
        parts = sorted([demo.token, query["timestamp"], query["nonce"], encrypted])
        query.update(encrypt_type="aes", msg_signature=hashlib.sha1("".join(parts).encode()).hexdigest())  # noqa: S324
        return query, build_xml({"ToUserName": "gh_x", "Encrypt": encrypted})

    forged = http.post(url, query_string={**_signed(demo.token), "signature": "0" * 40}, data=plain)
    assert forged.status_code == 403 and forged.get_json()["code"] == "bad_signature"
    missing = http.post(url, data=plain)
    assert missing.status_code == 403
    query, body = envelope(plain, timestamp=int(time.time()) - 1000)
    assert http.post(url, query_string=query, data=body).status_code == 403  # stale
    # Safe mode refuses a plaintext body even with a valid signature.
    assert http.post(url, query_string=_signed(demo.token), data=plain).status_code == 403
    # An XML bomb, as the envelope and inside a correctly signed encrypted payload.
    bomb = http.post(url, query_string=_signed(demo.token, encrypt_type="aes", msg_signature="x"), data=BOMB)
    assert bomb.status_code == 400
    query, body = envelope(BOMB)
    assert http.post(url, query_string=query, data=body).status_code == 400
    big = http.post(url, query_string=_signed(demo.token), data=b"<xml>" + b"a" * 70_000 + b"</xml>")
    assert big.status_code == 413
    unknown = http.post("/api/wechat/callback/wx0000000000000000", query_string=_signed(demo.token), data=plain)
    assert unknown.status_code == 404
    assert http.get(url, query_string={**_signed(demo.token), "signature": "f" * 40, "echostr": "e"}).status_code == 403
    assert _count(oa_app, Message) == 0 and _count(oa_app, Fan) == 0

    query, body = envelope(plain)  # the same message, signed properly, is taken
    accepted = http.post(url, query_string=query, data=body)
    assert accepted.status_code == 200 and accepted.data == b"success"
    assert _count(oa_app, Message) == 1


def test_a_batch_of_follow_ups_hands_one_that_must_wait_to_its_own_task(oa_app, oa_worker, monkeypatch):
    first = 10**9  # ids no stored message has: the re-sent tasks find nothing when they run
    done = []

    def process(message_id):
        if message_id < first:
            return "processed"  # the worker taking a task an earlier test left: not this batch's
        done.append(message_id)
        if message_id == first + 1:
            raise services.RetryLater("profile fetch: WeChat busy", 7)
        if message_id == first + 2:
            raise RuntimeError("database hiccup")
        return "processed"

    monkeypatch.setattr(services, "process_message", process)
    batch = [first, first + 1, first + 2, first + 3]
    result = oa_worker.tasks[services.PROCESS_MESSAGES_TASK].apply(args=[batch]).get()
    assert done == batch and result == {"processed": 2, "retrying": 2}
    resent = [(name, queue) for name, queue, _ in oa_worker.sent if name == services.PROCESS_MESSAGE_TASK]
    assert resent == [(services.PROCESS_MESSAGE_TASK, services.QUEUE)] * 2


def test_a_broker_outage_loses_nothing(api, base, sandbox, demo, wired, oa_app, oa_worker):
    _replies(api, base)
    live = oa_app.extensions["celery"]
    dead = Celery("dead-broker", set_as_current=False)
    dead.conf.update(broker_url="redis://127.0.0.1:1/0", broker_connection_timeout=1, broker_connection_retry=False)
    oa_app.extensions["celery"] = dead
    try:
        follow = sandbox.control.act("follow", appid=demo.appid)
        text = sandbox.control.act("text", appid=demo.appid, openid=follow["from"], content="积分")
        with oa_app.app_context():
            assert services.callback_handoff().drain()  # tried, and refused, while the broker was down
    finally:
        oa_app.extensions["celery"] = live
    assert follow["push"]["status"] == "replied" and follow["push"]["reply"]["Content"] == WELCOME
    assert text["push"]["status"] == "replied"
    assert max(a["elapsed_ms"] for p in (follow, text) for a in p["push"]["attempts"]) < 3000
    stored = _rows(oa_app, Message.openid == follow["from"])
    assert len(stored) == 2 and all(m.handed_on_at is None for m in stored)

    with oa_app.app_context():
        assert services.sweep_unhanded(grace_seconds=0) == 2
        assert services.sweep_unhanded(grace_seconds=0) == 0  # handed on once
    wait_for(lambda: all(m.processed_at for m in _rows(oa_app, Message.openid == follow["from"])))
    names = [name for name, _, _ in oa_worker.sent]
    assert names.count("points_mall.award_subscribe") == 1
    award = next(kw["event"] for name, _, kw in oa_worker.sent if name == "points_mall.award_subscribe")
    assert award["openid"] == follow["from"] and award["unionid"] and award["event_id"]
    assert ("data_analysis.record_fact", "analytics") in [(n, q) for n, q, _ in oa_worker.sent]
    with oa_app.app_context():
        fan = db.session.execute(select(Fan).where(Fan.openid == follow["from"])).scalar_one()
        assert fan.nickname and fan.unionid == award["unionid"]  # the profile was fetched


def test_events_update_fans_codes_menus_and_reach_other_services(api, base, sandbox, demo, wired, oa_app, oa_worker):
    code = api.post(
        f"{base}/qrcodes", json={"name": "门店", "channel": "offline", "kind": "permanent", "scene": "store-1"}
    ).get_json()
    ex_fan = sandbox.control.users(demo.appid, 40, 1)["users"][0]
    assert not ex_fan["subscribed"]
    scan = sandbox.control.act("scan", appid=demo.appid, openid=ex_fan["openid"], ticket=code["ticket"])
    assert scan["push"]["message"]["Event"] == "subscribe"
    follower = sandbox.control.users(demo.appid, 0, 1)["users"][0]["openid"]
    sandbox.control.act("scan", appid=demo.appid, openid=follower, ticket=code["ticket"])
    menu = api.post(
        f"{base}/menus", json={"name": "m", "buttons": [{"name": "签到", "type": "click", "key": "SIGN"}]}
    ).get_json()
    assert api.post(f"{base}/menus/{menu['id']}/publish").status_code == 200
    sandbox.control.act("click", appid=demo.appid, openid=follower, key="SIGN")
    sandbox.control.push(
        {
            "FromUserName": follower,
            "MsgType": "event",
            "Event": "LOCATION",
            "Latitude": "22.5",
            "Longitude": "113.9",
            "Precision": "30",
        },
        appid=demo.appid,
    )
    sandbox.control.push(
        {
            "FromUserName": follower,
            "MsgType": "event",
            "Event": "TEMPLATESENDJOBFINISH",
            "MsgID": 777001,
            "Status": "success",
        },
        appid=demo.appid,
    )
    odd = sandbox.control.push(
        {"FromUserName": follower, "MsgType": "event", "Event": "brand_new_event"}, appid=demo.appid
    )
    assert odd["status"] == "acked"
    sandbox.control.act("unfollow", appid=demo.appid, openid=ex_fan["openid"])

    wait_for(lambda: all(m.processed_at for m in _rows(oa_app)) and len(_rows(oa_app)) == 7)
    with oa_app.app_context():
        qr = db.session.get(QrCode, code["id"])
        assert (qr.scan_count, qr.subscribe_count) == (2, 1)
        gone = db.session.execute(select(Fan).where(Fan.openid == ex_fan["openid"])).scalar_one()
        assert not gone.subscribed and gone.qr_scene == "store-1" and gone.unsubscribe_time
        fan = db.session.execute(select(Fan).where(Fan.openid == follower)).scalar_one()
        assert (fan.latitude, fan.longitude) == (22.5, 113.9)
    stats = api.get(f"{base}/menus/stats").get_json()
    assert {"event": "CLICK", "key": "SIGN", "clicks": 1, "fans": 1} in stats
    job = next(kw["job"] for name, q, kw in oa_worker.sent if name == "message_center.job_finished")
    assert job["kind"] == "template" and job["msg_id"] == "777001" and job["status"] == "success"
    assert ("message_center.job_finished", "message_center") in [(n, q) for n, q, _ in oa_worker.sent]
    listed = api.get(f"{base}/messages?event=brand_new_event").get_json()
    assert listed["total"] == 1


def test_a_cached_account_replaced_by_another_process_loses_no_message(api, base, account, oa_app, demo):
    """Each process trusts its cached callback target for up to a second. If another process deleted the
    account and registered it again (a new id) meanwhile, the callback must still be stored, under the new
    account, and answered: never a `success` for a message that was not stored."""
    http = oa_app.test_client()
    url = f"/api/wechat/callback/{demo.appid}"
    crypto = MessageCrypto(demo.token, demo.aes_key, demo.appid)

    def text(n: int) -> tuple[dict, str]:
        xml = build_xml(
            {
                "ToUserName": "gh_x",
                "FromUserName": "oFAN000000000000000000000002",
                "CreateTime": int(time.time()),
                "MsgType": "text",
                "Content": f"第 {n} 条",
                "MsgId": 7000 + n,
            }
        )
        encrypted = crypto.encrypt(xml)
        query = _signed(demo.token)
        parts = sorted([demo.token, query["timestamp"], query["nonce"], encrypted])
        query.update(encrypt_type="aes", msg_signature=hashlib.sha1("".join(parts).encode()).hexdigest())  # noqa: S324
        return query, build_xml({"ToUserName": "gh_x", "Encrypt": encrypted})

    query, body = text(1)
    assert http.post(url, query_string=query, data=body).status_code == 200
    stale = services._targets[demo.appid]  # this process's cache, as another process would still hold it

    other = api.post(  # so that the re-registered account cannot get its old id back (SQLite reuses the largest)
        "/api/wechat/accounts",
        json={
            "appid": "wx00000000000000ee",
            "name": "另一个",
            "secret": "e" * 32,
            "token": "othertoken",
            "message_mode": "plain",
        },
    )
    assert other.status_code == 201, other.get_json()
    assert api.delete(base).status_code == 204
    again = api.post(
        "/api/wechat/accounts",
        json={
            "appid": demo.appid,
            "name": "演示",
            "secret": demo.secret,
            "token": demo.token,
            "aes_key": demo.aes_key,
            "message_mode": "safe",
        },
    ).get_json()
    assert again["id"] != account["id"]
    services._targets[demo.appid] = stale  # what the other process's cache still says

    query, body = text(2)
    answered = http.post(url, query_string=query, data=body)
    assert answered.status_code == 200, answered.data
    stored = _rows(oa_app, Message.account_id == again["id"])
    assert [m.content for m in stored] == ["第 2 条"]
    assert services._targets[demo.appid].id == again["id"]
