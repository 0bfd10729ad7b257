"""The callback: URL verification round-trips; contact-change events keep the organisation matching WeCom;
forgeries, stale timestamps and unknown endpoints store nothing."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import func, select

from tests.wecom.conftest import wait_for
from tests.wecom.test_contacts import db_contacts, run_sync, world_contacts
from wedraw.sandbox import wxcrypto
from wedraw.sandbox.pusher import build_xml
from wedraw.wecom.models import Event, Tag, TagItem, db


def _events(app, **where) -> list[Event]:
    with app.app_context():
        stmt = select(Event).order_by(Event.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Event, name) == value)
        rows = db.session.execute(stmt).scalars().all()
        db.session.expunge_all()
        return rows


def _count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Event)).scalar_one()


def _signed(demo, message: dict, *, timestamp: int | None = None, token: str | None = None) -> tuple[dict, bytes]:
    """A callback as WeCom sends it (the sandbox's own crypto, not ours)."""
    xml = build_xml({"ToUserName": demo.corp_id, "AgentID": demo.agent_id, "CreateTime": int(time.time()), **message})
    encrypted = wxcrypto.encrypt(demo.aes_key, demo.corp_id, xml.encode())
    ts, nonce = str(timestamp or int(time.time())), secrets.token_hex(5)
    params = {
        "msg_signature": wxcrypto.sha1_signature(token or demo.token, ts, nonce, encrypted),
        "timestamp": ts,
        "nonce": nonce,
    }
    body = build_xml({"ToUserName": demo.corp_id, "AgentID": demo.agent_id, "Encrypt": encrypted})
    return params, body.encode()


def test_url_verification_round_trips_within_a_second(api, corp, sandbox, demo, wired):
    started = time.monotonic()
    answer = sandbox.control.verify_url(corp_id=demo.corp_id, agent_id=demo.agent_id)
    assert time.monotonic() - started < 1.0
    assert answer["ok"] is True, answer
    assert answer["body"] == answer["expected"]  # the plaintext exactly: no quotes, no newline


def test_forged_stale_and_unknown_callbacks_store_nothing(api, corp, demo, wc_app):
    http = wc_app.test_client()
    path = f"/api/wecom/callback/{demo.corp_id}/{demo.agent_id}"
    message = {"FromUserName": "user00001", "MsgType": "text", "Content": "hi", "MsgId": 1}

    params, body = _signed(demo, message, token="not-the-token")
    assert http.post(path, query_string=params, data=body).status_code == 403
    params, body = _signed(demo, message, timestamp=int(time.time()) - 3600)
    refused = http.post(path, query_string=params, data=body)
    assert refused.status_code == 403 and refused.get_json()["code"] == "bad_signature"
    params, body = _signed(demo, message)
    assert (
        http.post(f"/api/wecom/callback/ww00000000000000ff/{demo.agent_id}", query_string=params, data=body).status_code
        == 404
    )
    assert http.post(f"/api/wecom/callback/{demo.corp_id}/999", query_string=params, data=body).status_code == 404
    assert http.get(path, query_string={**params, "echostr": "x"}).status_code == 403
    assert _count(wc_app) == 0

    stored = http.post(path, query_string=params, data=body)
    assert stored.status_code == 200 and stored.data == b""
    again = http.post(path, query_string=params, data=body)  # WeCom's retry of the same callback
    assert again.status_code == 200
    rows = _events(wc_app)
    assert len(rows) == 1 and (rows[0].msg_type, rows[0].content, rows[0].status) == ("text", "hi", "logged")


def test_change_events_keep_the_contacts_matching_the_sandbox(
    api, base, corp, sandbox, demo, wired, wecom_worker, wc_app
):
    assert run_sync(api, base)["status"] == "succeeded"

    def matches():
        return db_contacts(wc_app, corp["id"]) == world_contacts(sandbox, demo.corp_id)

    created = sandbox.control.create_user(userid="newbie", name="新同事", department=[3, 5], position="实习生")
    assert [p["status"] for p in created["pushes"]] == ["acked"]
    wait_for(matches, message="create_user not applied")

    sandbox.control.update_user("newbie", name="新同事二号", position="工程师")
    sandbox.control.update_user("user00002", department=[4], status=2)
    wait_for(matches, message="update_user not applied")

    sandbox.control.delete_user("user00008")
    wait_for(matches, message="delete_user not applied")

    # A department with members is deleted: they move to where WeCom says (its parent), none is lost.
    world = sandbox.world.corps[demo.corp_id]
    moving = sorted(m.userid for m in world.members.values() if 5 in m.department)
    assert moving
    deleted = sandbox.control.delete_department(5)
    assert [e["ChangeType"] for e in deleted["events"]] == ["update_user"] * len(moving) + ["delete_party"]
    wait_for(matches, message="delete_party not applied")
    departments, members = db_contacts(wc_app, corp["id"])
    assert 5 not in departments and all(userid in members for userid in moving)
    assert all(2 in members[userid][1] for userid in moving)

    sandbox.control.create_department(id=40, name="新部门", parentid=3)
    sandbox.control.update_department(40, name="改名部门", parentid=2)
    wait_for(matches, message="party events not applied")

    rows = wait_for(
        lambda: (r := _events(wc_app, event="change_contact")) and {e.status for e in r} == {"processed"} and r
    )
    assert len(rows) == len(moving) + 7


def test_a_delete_party_before_its_members_move_still_keeps_them(
    api, base, corp, sandbox, demo, wired, wecom_worker, wc_app
):
    """WeCom's order of events is not ours: even a delete_party that arrives first loses no member."""
    assert run_sync(api, base)["status"] == "succeeded"
    world = sandbox.world.corps[demo.corp_id]
    moving = sorted(m.userid for m in world.members.values() if 6 in m.department)
    events = sandbox.control.delete_department(6, push=False)["events"]
    sandbox.control.push(events[-1], corp_id=demo.corp_id, agent_id=demo.agent_id)  # delete_party alone, first
    wait_for(lambda: db_contacts(wc_app, corp["id"]) == world_contacts(sandbox, demo.corp_id), message="not applied")
    _, members = db_contacts(wc_app, corp["id"])
    assert moving and all(members[u][1] == [3] for u in moving)


def test_tag_changes_apply_to_the_local_tag(api, base, corp, sandbox, demo, wired, wecom_worker, wc_app):
    assert run_sync(api, base)["status"] == "succeeded"
    tag = sandbox.control.create_tag(tagname="值班")
    sandbox.control.tag_members(tag["tagid"], add_users=["user00001", "user00002"], add_parties=[3])
    sandbox.control.tag_members(tag["tagid"], del_users=["user00001"])

    def items():
        with wc_app.app_context():
            return sorted(
                (i.kind, i.value)
                for i in db.session.execute(
                    select(TagItem).join(Tag, Tag.id == TagItem.tag_ref).where(Tag.tag_id == tag["tagid"])
                ).scalars()
            )

    wait_for(lambda: items() == [("party", "3"), ("user", "user00002")], message="tag change not applied")
    detail = api.get(f"{base}/tags/{tag['tagid']}").get_json()
    assert [u["userid"] for u in detail["users"]] == ["user00002"] and [
        p["department_id"] for p in detail["parties"]
    ] == [3]
    tagged = api.get(f"{base}/members", query_string={"tag_id": tag["tagid"], "page_size": 100}).get_json()
    world = sandbox.world.corps[demo.corp_id]
    assert {m["userid"] for m in tagged["items"]} == {"user00002"} | {
        m.userid for m in world.members.values() if 3 in m.department
    }


def test_an_event_stored_while_the_broker_is_down_is_handed_on_by_the_sweep(
    api, base, corp, sandbox, demo, wired, wecom_worker, wc_app
):
    from wedraw.wecom import events

    assert run_sync(api, base)["status"] == "succeeded"
    celery = wc_app.extensions["celery"]
    original = celery.send_task

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    celery.send_task = broker_down
    try:
        pushed = sandbox.control.create_user(userid="late", name="迟到", department=[2])
        assert pushed["pushes"][0]["status"] == "acked"  # answered at once, broker or not
    finally:
        celery.send_task = original
    row = _events(wc_app, change_type="create_user")[0]
    assert row.handed_on_at is None and row.processed_at is None
    with wc_app.app_context():
        assert events.sweep_unhanded(grace_seconds=0) == 1
    wait_for(lambda: db_contacts(wc_app, corp["id"]) == world_contacts(sandbox, demo.corp_id), message="not swept")
    wait_for(lambda: _events(wc_app, change_type="create_user")[0].status == "processed", message="not marked")
