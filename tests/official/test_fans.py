"""Fan sync against the sandbox (10,000 fans), fan list filters, remarks, customer-service messages."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.official.conftest import wait_for
from wedraw.wechat_official import fan_sync, services
from wedraw.wechat_official.models import Fan, Message, db


def sandbox_fans(sandbox, appid):
    rows, offset = [], 0
    while True:
        page = sandbox.control.users(appid, offset, 1000)
        rows.extend(page["users"])
        offset += 1000
        if offset >= page["total"]:
            return rows


def db_fans(app, account_id):
    with app.app_context():
        fans = db.session.execute(select(Fan).where(Fan.account_id == account_id)).scalars().all()
        return {f.openid: (f.subscribed, f.unionid, f.nickname, sorted(f.tag_id_list)) for f in fans}


def sync_now(app, account_id, kind="full"):
    """Create a sync job through the service and run it here (the task body, without a worker)."""
    with app.test_request_context():
        job = services.start_fan_sync(account_id, kind, "test")
        assert fan_sync.run(job.id) == "succeeded"
        return services.get_sync_job(account_id, job.id).id


def test_full_sync_of_10000_fans_matches_the_sandbox_and_a_second_sync_changes_nothing(
    api, base, account, sandbox, demo, oa_app, oa_worker
):
    sandbox.control.reset(fans=10_000, callback_base=None)
    job = api.post(f"{base}/fan-syncs", json={"kind": "full"})
    assert job.status_code == 202, job.get_json()
    done = wait_for(
        lambda: (
            (j := api.get(f"{base}/fan-syncs/{job.get_json()['id']}").get_json())["status"] in ("succeeded", "failed")
            and j
        ),
        timeout=60,
    )
    assert done["status"] == "succeeded", done
    assert (done["total"], done["processed"], done["inserted"], done["progress"]) == (10_000, 10_000, 10_000, 1.0)

    expected = {
        u["openid"]: (True, u["unionid"], u["nickname"], u["tags"])
        for u in sandbox_fans(sandbox, demo.appid)
        if u["subscribed"]
    }
    assert len(expected) == 10_000
    assert db_fans(oa_app, account["id"]) == expected

    with oa_app.app_context():
        stamp = db.session.execute(select(func.max(Fan.updated_at), func.count()).select_from(Fan)).one()
    second = api.post(f"{base}/fan-syncs", json={"kind": "full"}).get_json()
    second = wait_for(
        lambda: (
            (j := api.get(f"{base}/fan-syncs/{second['id']}").get_json())["status"] in ("succeeded", "failed") and j
        ),
        timeout=60,
    )
    assert (second["status"], second["inserted"], second["updated"], second["unchanged"], second["unsubscribed"]) == (
        "succeeded",
        0,
        0,
        10_000,
        0,
    )
    with oa_app.app_context():
        assert db.session.execute(select(func.max(Fan.updated_at), func.count()).select_from(Fan)).one() == stamp


def test_incremental_sync_takes_new_fans_and_unfollows(api, base, account, sandbox, demo, oa_app):
    sync_now(oa_app, account["id"])
    first = sandbox.control.users(demo.appid, 0, 1)["users"][0]["openid"]
    newcomer = sandbox.control.act("follow", appid=demo.appid)["from"]  # no callback URL: only a sync sees it
    sandbox.control.act("unfollow", appid=demo.appid, openid=first)
    job_id = sync_now(oa_app, account["id"], "incremental")
    job = api.get(f"{base}/fan-syncs/{job_id}").get_json()
    assert (job["kind"], job["total"], job["inserted"], job["unsubscribed"]) == ("incremental", 1, 1, 1)
    fans = db_fans(oa_app, account["id"])
    assert fans[newcomer][0] is True and fans[first][0] is False
    assert api.post(f"{base}/fan-syncs", json={"kind": "sideways"}).status_code == 422


def test_fan_list_filters_search_and_detail(api, base, account, sandbox, demo, oa_app):
    sync_now(oa_app, account["id"])
    everyone = api.get(f"{base}/fans?page_size=100").get_json()
    assert everyone["total"] == 40 and len(everyone["items"]) == 40
    tagged = api.get(f"{base}/fans?tag_id=100").get_json()
    assert tagged["total"] > 0 and all(100 in f["tag_ids"] for f in tagged["items"])
    fan = everyone["items"][0]
    assert api.get(f"{base}/fans?q={fan['unionid']}").get_json()["items"][0]["id"] == fan["id"]
    assert api.get(f"{base}/fans?q={fan['nickname'][1:]}").get_json()["total"] >= 1
    assert api.get(f"{base}/fans?subscribed=false").get_json()["total"] == 0
    assert api.get(f"{base}/fans?scene=ADD_SCENE_SEARCH").get_json()["total"] == 10
    assert api.get(f"{base}/fans?subscribed_from=2099-01-01T00:00:00Z").get_json()["total"] == 0
    page2 = api.get(f"{base}/fans?page=2&page_size=15").get_json()
    assert (page2["page"], len(page2["items"])) == (2, 15)

    remark = api.patch(f"{base}/fans/{fan['id']}", json={"remark": "老客户"})
    assert remark.status_code == 200 and remark.get_json()["remark"] == "老客户"
    assert api.get(f"{base}/fans?q=老客").get_json()["items"][0]["id"] == fan["id"]
    resync = api.get(f"{base}/fan-syncs/{sync_now(oa_app, account['id'])}").get_json()
    assert (resync["inserted"], resync["updated"], resync["unchanged"]) == (0, 1, 39)  # the remark came back
    assert api.get(f"{base}/fans/{fan['id']}").get_json()["fan"]["remark"] == "老客户"
    detail = api.get(f"{base}/fans/{fan['id']}").get_json()
    assert detail["fan"]["openid"] == fan["openid"] and detail["recent_messages"] == []
    assert api.get(f"{base}/fans/999999").status_code == 404


def test_customer_service_message_respects_the_48_hour_window(api, base, account, sandbox, demo, oa_app):
    sync_now(oa_app, account["id"])
    users = sandbox.control.users(demo.appid, 0, 2)["users"]  # index 0: 1 h ago, index 1: 72 h ago
    with oa_app.app_context():
        ids = {f.openid: f.id for f in db.session.execute(select(Fan)).scalars()}
    inside, outside = ids[users[0]["openid"]], ids[users[1]["openid"]]

    sent = api.post(f"{base}/fans/{inside}/messages", json={"msgtype": "text", "content": "您好"})
    assert sent.status_code == 201, sent.get_json()
    assert sent.get_json()["direction"] == "out"
    assert sandbox.control.outbox(channel="custom", to=users[0]["openid"])["total"] == 1

    refused = api.post(f"{base}/fans/{outside}/messages", json={"msgtype": "text", "content": "您好"})
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["code"] == "wechat_45015" and "48 hours" in body["message"]
    assert sandbox.control.outbox(channel="custom", to=users[1]["openid"])["total"] == 0
    with oa_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == 1
    history = api.get(f"{base}/fans/{inside}/messages").get_json()
    assert history["total"] == 1 and history["items"][0]["content"] == "您好"
    missing = api.post(f"{base}/fans/{inside}/messages", json={"msgtype": "text"})
    assert missing.status_code == 422


def test_tags_sync_crud_and_batches_of_50(api, base, account, sandbox, demo, oa_app):
    sandbox.control.reset(fans=130, callback_base=None)
    sync_now(oa_app, account["id"])
    synced = api.post(f"{base}/tags/sync")
    assert synced.status_code == 200
    assert {t["name"] for t in synced.get_json()} >= {"星标组", "VIP", "积分达人"}
    created = api.post(f"{base}/tags", json={"name": "活跃"})
    assert created.status_code == 201
    tag = created.get_json()
    assert api.post(f"{base}/tags", json={"name": "活跃"}).get_json()["code"] == "wechat_45157"

    openids = [u["openid"] for u in sandbox.control.users(demo.appid, 0, 120)["users"]]
    sandbox.control.clear_stats()
    result = api.post(f"{base}/tags/{tag['id']}/tag-fans", json={"openids": openids}).get_json()
    assert result["succeeded"] == 120 and [b["size"] for b in result["batches"]] == [50, 50, 20]
    assert sandbox.control.stats()["calls"]["official /cgi-bin/tags/members/batchtagging"] == 3
    assert all(tag["wechat_id"] in u["tags"] for u in sandbox.control.users(demo.appid, 0, 120)["users"])
    assert api.get(f"{base}/fans?tag_id={tag['wechat_id']}").get_json()["total"] == 120

    untag = api.post(f"{base}/tags/{tag['id']}/untag-fans", json={"openids": openids[:10]}).get_json()
    assert untag["succeeded"] == 10
    assert api.get(f"{base}/fans?tag_id={tag['wechat_id']}").get_json()["total"] == 110
    assert api.patch(f"{base}/tags/{tag['id']}", json={"name": "很活跃"}).get_json()["name"] == "很活跃"
    assert api.delete(f"{base}/tags/{tag['id']}").status_code == 204
    assert api.get(f"{base}/fans?tag_id={tag['wechat_id']}").get_json()["total"] == 0
    names = {t["name"] for t in api.post(f"{base}/tags/sync").get_json()}
    assert "很活跃" not in names
    too_many = api.post(f"{base}/tags/{synced.get_json()[1]['id']}/tag-fans", json={"openids": ["o" * 28] * 1001})
    assert too_many.status_code == 422


def test_blacklist_in_batches_of_20_filters_the_list_blocks_sends_and_syncs_from_wechat(
    api, base, account, sandbox, demo, oa_app
):
    sandbox.control.reset(fans=60, callback_base=None)
    sync_now(oa_app, account["id"])
    openids = [u["openid"] for u in sandbox.control.users(demo.appid, 0, 45)["users"]]
    sandbox.control.clear_stats()

    result = api.post(f"{base}/fans/blacklist", json={"openids": openids}).get_json()
    assert result["succeeded"] == 45 and [b["size"] for b in result["batches"]] == [20, 20, 5]
    assert sandbox.control.stats()["calls"]["official /cgi-bin/tags/members/batchblacklist"] == 3
    in_sandbox = {u["openid"]: u["blacklisted"] for u in sandbox.control.users(demo.appid, 0, 60)["users"]}
    assert {o for o, listed in in_sandbox.items() if listed} == set(openids)
    listed = api.get(f"{base}/fans?blacklisted=true&page_size=100").get_json()
    assert listed["total"] == 45 and all(f["blacklisted"] for f in listed["items"])
    assert api.get(f"{base}/fans?blacklisted=false").get_json()["total"] == 15

    # WeChat delivers nothing of the account to a blacklisted fan: 43019, final, in plain words.
    fan = listed["items"][0]
    with oa_app.app_context():
        db.session.execute(
            Fan.__table__.update().where(Fan.id == fan["id"]).values(last_interaction_at=services.utcnow())
        )
        db.session.commit()
    with sandbox.world.lock:
        sandbox.world.accounts[demo.appid].users.find(fan["openid"]).last_interaction = sandbox.world.clock.now()
    refused = api.post(f"{base}/fans/{fan['id']}/messages", json={"msgtype": "text", "content": "您好"})
    assert refused.status_code == 409 and refused.get_json()["code"] == "wechat_43019", refused.get_json()
    assert "blacklisted" in refused.get_json()["message"]

    released = api.post(f"{base}/fans/unblacklist", json={"openids": openids[:5]}).get_json()
    assert released["succeeded"] == 5
    assert api.get(f"{base}/fans?blacklisted=true").get_json()["total"] == 40

    # Changed in WeChat's own console: the sync makes the flags match WeChat's list exactly.
    others = [u["openid"] for u in sandbox.control.users(demo.appid, 50, 10)["users"]]
    with sandbox.world.lock:
        users = sandbox.world.accounts[demo.appid].users
        for openid in openids[5:15]:
            users.find(openid).blacklisted = False
        for openid in others:
            users.find(openid).blacklisted = True
    synced = api.post(f"{base}/fans/blacklist/sync")
    assert synced.status_code == 200, synced.get_json()
    assert synced.get_json() == {"total": 40, "stored": 40, "marked": 10, "released": 10}
    expected = set(openids[15:]) | set(others)
    page = api.get(f"{base}/fans?blacklisted=true&page_size=100").get_json()
    assert {f["openid"] for f in page["items"]} == expected
    assert api.post(f"{base}/fans/blacklist/sync").get_json()["marked"] == 0  # a second sync changes nothing

    # Bad input: nothing sent, nothing changed.
    assert api.post(f"{base}/fans/blacklist", json={"openids": []}).status_code == 422
    assert api.post(f"{base}/fans/blacklist", json={"openids": ["o" * 28] * 1001}).status_code == 422
    unknown = api.post(f"{base}/fans/blacklist", json={"openids": ["o" + "x" * 27]}).get_json()
    assert unknown["failed"] == 1 and unknown["batches"][0]["errcode"] == 40003
    assert api.get(f"{base}/fans?blacklisted=true").get_json()["total"] == 40
