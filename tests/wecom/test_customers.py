"""Customers and customer groups match the sandbox; filters and search; the unionid link for other services."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.wecom.conftest import wait_for
from tests.wecom.test_contacts import run_sync
from wedraw.core.internal import service_token


def _all(api, path, **query):
    items, page = [], 1
    while True:
        body = api.get(path, query_string={**query, "page": page, "page_size": 100}).get_json()
        items.extend(body["items"])
        if page * 100 >= body["total"]:
            return items
        page += 1


def test_customer_groups_and_their_members_match_the_sandbox(api, base, corp, sandbox, demo, wecom_worker):
    sandbox.control.reset(members=60, departments=4, callback_base=None)
    job = run_sync(api, base, "groups")
    assert job["status"] == "succeeded", job
    world = sandbox.world.corps[demo.corp_id]
    assert job["inserted"] == len(world.group_chats) == 3

    rows = _all(api, f"{base}/customer-groups")
    assert {r["group"]["chat_id"] for r in rows} == set(world.group_chats)
    for row in rows:
        chat = world.group_chats[row["group"]["chat_id"]]
        group = row["group"]
        assert (group["name"], group["owner"], group["notice"]) == (chat.name, chat.owner, chat.notice)
        assert group["created_time"] == datetime.fromtimestamp(chat.create_time, UTC).isoformat()
        assert (group["member_count"], group["external_count"]) == (
            len(chat.members),
            sum(1 for m in chat.members if m["type"] == 2),
        )
        members = _all(api, f"{base}/customer-groups/{group['id']}/members")
        assert {(m["userid"], m["type"], m["unionid"], m["invitor"]) for m in members} == {
            (m["userid"], m["type"], m.get("unionid"), m["invitor"]["userid"]) for m in chat.members
        }
        assert {m["userid"]: m["joined_at"] for m in members} == {
            m["userid"]: datetime.fromtimestamp(m["join_time"], UTC).isoformat() for m in chat.members
        }
        names = {m["userid"]: m["name"] for m in members}
        assert all(names[m.userid] == m.name for m in world.members.values() if m.userid in names)

    again = run_sync(api, base, "groups")
    assert (again["inserted"], again["updated"], again["unchanged"], again["deleted"]) == (0, 0, 3, 0)

    owner = rows[0]["group"]["owner"]
    by_owner = api.get(f"{base}/customer-groups", query_string={"owner": owner}).get_json()
    assert {r["group"]["owner"] for r in by_owner["items"]} == {owner} and by_owner["total"] >= 1
    named = api.get(f"{base}/customer-groups", query_string={"q": "客户群 2"}).get_json()
    assert [r["group"]["name"] for r in named["items"]] == ["客户群 2"]
    big = api.get(f"{base}/customer-groups", query_string={"min_members": 6, "sort": "members"}).get_json()
    assert all(r["group"]["member_count"] >= 6 for r in big["items"])


def test_customers_match_the_sandbox_and_link_by_unionid(api, base, corp, sandbox, demo, wecom_worker, wc_app):
    assert run_sync(api, base, "contacts")["status"] == "succeeded"  # the follow users are the synced members
    job = run_sync(api, base, "customers")
    assert job["status"] == "succeeded", job
    world = sandbox.world.corps[demo.corp_id]
    rows = _all(api, f"{base}/customers")
    assert {r["customer"]["external_userid"]: (r["customer"]["name"], r["customer"]["unionid"]) for r in rows} == {
        c.external_userid: (c.name, c.unionid) for c in world.external_contacts.values()
    }
    assert {r["customer"]["external_userid"]: r["follow_userids"] for r in rows} == {
        c.external_userid: sorted(f["userid"] for f in c.follow_users) for c in world.external_contacts.values()
    }
    assert run_sync(api, base, "customers")["unchanged"] == len(world.external_contacts)

    contact = next(iter(world.external_contacts.values()))
    follower = contact.follow_users[0]["userid"]
    mine = api.get(f"{base}/customers", query_string={"follow_userid": follower, "page_size": 100}).get_json()
    assert contact.external_userid in [r["customer"]["external_userid"] for r in mine["items"]]
    assert all(follower in r["follow_userids"] for r in mine["items"])
    by_union = api.get(f"{base}/customers", query_string={"unionid": contact.unionid}).get_json()
    assert [r["customer"]["external_userid"] for r in by_union["items"]] == [contact.external_userid]

    detail = api.get(f"{base}/customers/{by_union['items'][0]['customer']['id']}").get_json()
    assert detail["follows"][0]["userid"] == follower
    assert detail["follows"][0]["member_name"] == world.members[follower].name

    # Another service (the points mall, the Mini Program) asks who a unionid is, over the internal route.
    token = service_token(wc_app.config["WEDRAW_SETTINGS"], "points_mall")
    answer = wc_app.test_client().post(
        "/internal/wecom/customers/by-unionid",
        json={"unionids": [contact.unionid, "o-nobody"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    found = answer.get_json()["customers"]
    assert list(found) == [contact.unionid]
    assert found[contact.unionid][0]["external_userid"] == contact.external_userid
    assert found[contact.unionid][0]["follow_userids"] == [follower]
    admin_token = api.headers
    assert (
        wc_app.test_client()
        .post("/internal/wecom/customers/by-unionid", json={"unionids": []}, headers=admin_token)
        .status_code
        == 403
    )


def test_customer_and_group_change_events_are_applied(api, base, corp, sandbox, demo, wired, wecom_worker):
    assert run_sync(api, base, "contacts")["status"] == "succeeded"
    assert run_sync(api, base, "customers")["status"] == "succeeded"
    assert run_sync(api, base, "groups")["status"] == "succeeded"
    world = sandbox.world.corps[demo.corp_id]
    chat_id, gone_chat = list(world.group_chats)[:2]
    with sandbox.world.lock:
        chat = world.group_chats[chat_id]
        chat.name = "改名的客户群"
        left = chat.members.pop()  # a customer leaves the group
        del world.group_chats[gone_chat]
        contact_id = next(iter(world.external_contacts))
        follower = world.external_contacts.pop(contact_id).follow_users[0]["userid"]  # the member deleted them
    envelope = {"FromUserName": "sys", "MsgType": "event"}
    push = {"corp_id": demo.corp_id, "agent_id": demo.agent_id}
    sandbox.control.push(
        {
            **envelope,
            "Event": "change_external_chat",
            "ChatId": chat_id,
            "ChangeType": "update",
            "UpdateDetail": "del_member",
        },
        **push,
    )
    sandbox.control.push(
        {**envelope, "Event": "change_external_chat", "ChatId": gone_chat, "ChangeType": "dismiss"}, **push
    )
    sandbox.control.push(
        {
            **envelope,
            "Event": "change_external_contact",
            "ChangeType": "del_follow_user",
            "UserID": follower,
            "ExternalUserID": contact_id,
        },
        **push,
    )

    def applied():
        groups = {r["group"]["chat_id"]: r for r in _all(api, f"{base}/customer-groups")}
        customers = {r["customer"]["external_userid"] for r in _all(api, f"{base}/customers")}
        return (
            gone_chat not in groups
            and groups.get(chat_id, {}).get("group", {}).get("name") == "改名的客户群"
            and contact_id not in customers
            and groups
        )

    groups = wait_for(applied, message="customer events not applied")
    members = _all(api, f"{base}/customer-groups/{groups[chat_id]['group']['id']}/members")
    assert left["userid"] not in {m["userid"] for m in members}
    assert len(members) == len(world.group_chats[chat_id].members)
