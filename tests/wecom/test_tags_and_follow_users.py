"""Contacts tags and the customer-contact follow users come from WeCom's own calls, with no fallback warning."""

from __future__ import annotations

import requests

from tests.wecom.conftest import wait_for
from tests.wecom.test_contacts import run_sync
from tests.wecom.test_customers import _all


def world_tags(sandbox, corp_id):
    corp = sandbox.world.corps[corp_id]
    with sandbox.world.lock:
        return {t.id: (t.name, sorted(t.users), sorted(t.parties)) for t in corp.tags.values()}


def local_tags(api, base):
    tags = {}
    for row in _all(api, f"{base}/tags"):
        detail = api.get(f"{base}/tags/{row['tag_id']}").get_json()
        tags[row["tag_id"]] = (
            detail["name"],
            sorted(u["userid"] for u in detail["users"]),
            sorted(p["department_id"] for p in detail["parties"]),
        )
    return tags


def _wecom_get(sandbox, demo, path, **params):
    token = requests.get(
        f"{sandbox.wecom_url}/cgi-bin/gettoken", params={"corpid": demo.corp_id, "corpsecret": demo.secret}
    ).json()["access_token"]
    return requests.get(f"{sandbox.wecom_url}/cgi-bin/{path}", params={"access_token": token, **params}).json()


def test_the_sandbox_answers_tag_and_follow_user_calls_as_wecom_does(sandbox, demo):
    corp = sandbox.world.corps[demo.corp_id]
    listed = _wecom_get(sandbox, demo, "tag/list")
    assert listed["errcode"] == 0
    assert listed["taglist"] == [{"tagid": t.id, "tagname": t.name} for t in corp.tags.values()]
    assert len(listed["taglist"]) == 2

    one = _wecom_get(sandbox, demo, "tag/get", tagid=2)
    assert (one["errcode"], one["tagname"], one["partylist"]) == (0, "技术委员会", [2])
    assert one["userlist"] == [{"userid": "user00002", "name": corp.members["user00002"].name}]
    assert _wecom_get(sandbox, demo, "tag/get", tagid=99)["errcode"] == 40068
    assert _wecom_get(sandbox, demo, "tag/get", tagid="x")["errcode"] == 40068

    follow = _wecom_get(sandbox, demo, "externalcontact/get_follow_user_list")
    expected = {f["userid"] for c in corp.external_contacts.values() for f in c.follow_users}
    assert follow["errcode"] == 0 and set(follow["follow_user"]) == expected
    assert len(follow["follow_user"]) == len(expected) < len(corp.members)


def test_a_contacts_sync_brings_the_tags_without_a_warning(api, base, corp, sandbox, demo, wecom_worker):
    job = run_sync(api, base)
    assert job["status"] == "succeeded", job
    assert not [w for w in job["warnings"] if "tags" in w], job["warnings"]
    assert local_tags(api, base) == world_tags(sandbox, demo.corp_id)

    tagged = api.get(f"{base}/members", query_string={"tag_id": 1, "page_size": 100}).get_json()
    assert {m["userid"] for m in tagged["items"]} == set(sandbox.world.corps[demo.corp_id].tags[1].users)

    # Changes made in WeCom while no callback reached us are repaired by the next sync; a gone tag goes.
    new = sandbox.control.create_tag(tagname="新人")
    sandbox.control.tag_members(new["tagid"], add_users=["user00005"], add_parties=[3], push=False)
    sandbox.control.tag_members(1, del_users=["user00001"], push=False)
    with sandbox.world.lock:
        del sandbox.world.corps[demo.corp_id].tags[2]
    again = run_sync(api, base)
    assert again["status"] == "succeeded" and not [w for w in again["warnings"] if "tags" in w]
    assert local_tags(api, base) == world_tags(sandbox, demo.corp_id)
    assert set(local_tags(api, base)) == {1, new["tagid"]}


def test_a_customers_sync_asks_wecom_for_its_follow_users(api, base, corp, sandbox, demo, wecom_worker):
    # No contacts synced: before the sandbox answered get_follow_user_list this sync failed.
    job = run_sync(api, base, "customers")
    assert job["status"] == "succeeded", job
    assert not [w for w in job["warnings"] if "follow users" in w], job["warnings"]
    world = sandbox.world.corps[demo.corp_id]
    following = {f["userid"] for c in world.external_contacts.values() for f in c.follow_users}
    assert job["total"] == len(world.external_contacts)
    rows = _all(api, f"{base}/customers")
    assert {r["customer"]["external_userid"] for r in rows} == set(world.external_contacts)
    assert {u for r in rows for u in r["follow_userids"]} == following


def test_an_app_message_to_a_tag_reaches_its_members_and_departments(mc_api, corp, sandbox, demo, message_center):
    world = sandbox.world.corps[demo.corp_id]
    sent = mc_api.post(
        f"/api/wecom/corps/{corp['id']}/app-messages",
        json={"msgtype": "text", "content": "技术委员会例会", "totag": [2, 77]},
    )
    assert sent.status_code == 201, sent.get_json()
    row = sent.get_json()
    assert row["status"] == "sent" and row["invalid_tags"] == ["77"]
    subtree = set(world.subtree(2))
    expected = {
        m.userid
        for m in world.members.values()
        if m.active and (m.userid == "user00002" or subtree & set(m.department))
    }
    outbox = wait_for(
        lambda: (o := sandbox.control.outbox(app=f"{demo.corp_id}/{demo.agent_id}", channel="wecom"))["total"] and o
    )
    assert set(outbox["counts"]) == expected
