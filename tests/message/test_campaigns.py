"""Campaigns: audience, progress, completion, pause/resume/cancel, schedules, mass sends, reports, fallbacks."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.message.conftest import deliveries, seed_fans, seed_tag, wait_campaign, wait_for
from wedraw.sandbox.world import person_profile

CAMPAIGNS = "/api/message/campaigns"


def _campaign(api, body: dict, status: int = 201) -> dict:
    response = api.post(CAMPAIGNS, json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _template_body(senders, oa_templates, audience, **extra) -> dict:
    return {
        "name": "双十一积分提醒",
        "channel": "oa_template",
        "sender_id": senders["official_account"]["id"],
        "template_id": oa_templates["积分变动提醒"]["id"],
        "data": {"first": "您的积分有变动", "keyword1": "+100", "keyword2": "1380"},
        "audience": audience,
        **extra,
    }


def test_a_campaign_to_a_tag_completes_with_progress_results_and_export(
    api, senders, oa_templates, sandbox, demo, official_app, mc_worker
):
    appid = demo.official.appid
    seed_fans(official_app, sandbox, appid)
    users = sandbox.world.accounts[appid].users
    tag_id = 100
    tagged = [o for i, o in enumerate(users.openids) if users.is_subscribed(i) and tag_id in users.tags_of(i)]
    audience = {"kind": "tag", "tag_id": tag_id}
    estimate = api.get(
        "/api/message/audiences/estimate",
        query_string={"sender_id": senders["official_account"]["id"], "kind": "tag", "tag_id": tag_id},
    )
    assert estimate.get_json() == {"count": len(tagged), "description": f"subscribed fans with tag {tag_id}"}
    seed_tag(official_app, appid, tag_id, "VIP")  # once the tags are synced, campaigns name theirs
    estimate = api.get(
        "/api/message/audiences/estimate",
        query_string={"sender_id": senders["official_account"]["id"], "kind": "tag", "tag_id": tag_id},
    )
    assert estimate.get_json()["description"] == f"subscribed fans with tag VIP ({tag_id})"
    named_by_caller = {**audience, "tag_name": "not what the caller says"}
    campaign = _campaign(api, _template_body(senders, oa_templates, named_by_caller, start=True))
    assert campaign["status"] == "preparing" and campaign["audience_estimate"] == len(tagged)
    assert campaign["audience"] == {"kind": "tag", "tag_id": tag_id, "tag_name": "VIP"}
    progress = wait_campaign(api, campaign["id"])
    assert progress["total"] == len(tagged) and progress["counts"]["sent"] == len(tagged)
    assert progress["done"] == len(tagged) and progress["percent"] == 100.0
    assert sandbox.control.outbox(channel="template")["counts"] == dict.fromkeys(tagged, 1)
    page = api.get(f"{CAMPAIGNS}/{campaign['id']}/recipients", query_string={"page_size": 5}).get_json()
    assert page["total"] == len(tagged) and len(page["items"]) == 5
    assert all(r["status"] == "sent" and r["attempts"] == 1 and r["msgid"] for r in page["items"])
    export = api.get(f"{CAMPAIGNS}/{campaign['id']}/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r["target"] for r in rows) == sorted(tagged)
    assert {r["status"] for r in rows} == {"sent"}
    assert api.get(f"{CAMPAIGNS}/{campaign['id']}/failures").get_json() == []
    log = api.get("/api/message/sends", query_string={"campaign_id": campaign["id"], "page_size": 3}).get_json()
    assert log["total"] == len(tagged) and {r["campaign_name"] for r in log["items"]} == {campaign["name"]}
    again = api.post(f"{CAMPAIGNS}/{campaign['id']}/cancel")
    assert again.status_code == 409 and again.get_json()["code"] == "campaign_finished"


def test_bad_campaigns_are_refused_before_anything_is_queued(api, senders, oa_templates, official_app, sandbox, demo):
    seed_fans(official_app, sandbox, demo.official.appid)
    empty_tag = _template_body(senders, oa_templates, {"kind": "tag", "tag_id": 4242}, start=True)
    response = api.post(CAMPAIGNS, json=empty_tag)
    assert response.status_code == 422 and response.get_json()["code"] == "empty_audience"
    past = datetime.now(UTC) - timedelta(minutes=1)
    response = api.post(
        CAMPAIGNS, json=_template_body(senders, oa_templates, {"kind": "fans"}, scheduled_at=past.isoformat())
    )
    assert response.status_code == 422 and response.get_json()["errors"] == {"scheduled_at": ["Must be in the future."]}
    robot = api.post(
        CAMPAIGNS,
        json={
            "name": "x",
            "channel": "group_robot",
            "sender_id": senders["group_robot"]["id"],
            "message": {"msgtype": "text", "text": {"content": "hi"}},
            "audience": {"kind": "fans"},
        },
    )
    assert robot.status_code == 422
    wrong_sender = api.post(
        CAMPAIGNS,
        json={**_template_body(senders, oa_templates, {"kind": "fans"}), "sender_id": senders["mini_program"]["id"]},
    )
    assert wrong_sender.status_code == 422
    assert api.get(CAMPAIGNS).get_json()["total"] == 0


@pytest.fixture
def slow_sender(api, senders):
    """The Official Account limited to 10 template messages a second, so a campaign of 40 or 60 takes
    seconds: long enough to pause or cancel it half-way even on a loaded machine."""
    sender_id = senders["official_account"]["id"]
    response = api.patch(
        f"/api/message/senders/{sender_id}", json={"rate_limits": {"oa_template": {"limit": 10, "window": 1}}}
    )
    assert response.status_code == 200
    return sender_id


def _sent(mc_app, campaign_id):
    return sum(1 for r in deliveries(mc_app, campaign_id=campaign_id) if r.status == "sent")


def test_pause_holds_the_rest_and_resume_finishes_each_recipient_once(
    api, senders, oa_templates, sandbox, demo, slow_sender, mc_worker, mc_app
):
    openids = sandbox.world.accounts[demo.official.appid].users.openids[:60]
    campaign = _campaign(
        api, _template_body(senders, oa_templates, {"kind": "openids", "openids": openids}, start=True)
    )
    wait_for(lambda: _sent(mc_app, campaign["id"]) >= 25, 20)
    paused = api.post(f"{CAMPAIGNS}/{campaign['id']}/pause")
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    time.sleep(0.8)  # sends already in flight finish
    held = _sent(mc_app, campaign["id"])
    time.sleep(1.0)
    assert _sent(mc_app, campaign["id"]) == held < 60
    assert api.post(f"{CAMPAIGNS}/{campaign['id']}/pause").status_code == 409
    progress = api.get(f"{CAMPAIGNS}/{campaign['id']}/progress").get_json()
    assert progress["status"] == "paused" and progress["counts"]["pending"] == 60 - held
    resumed = api.post(f"{CAMPAIGNS}/{campaign['id']}/resume")
    assert resumed.status_code == 200 and resumed.get_json()["status"] == "running"
    done = wait_campaign(api, campaign["id"])
    assert done["counts"]["sent"] == 60
    assert sandbox.control.outbox(channel="template")["counts"] == dict.fromkeys(openids, 1)


def test_cancel_stops_a_running_campaign_and_keeps_what_was_sent(
    api, senders, oa_templates, sandbox, demo, slow_sender, mc_worker, mc_app
):
    openids = sandbox.world.accounts[demo.official.appid].users.openids[:40]
    campaign = _campaign(
        api, _template_body(senders, oa_templates, {"kind": "openids", "openids": openids}, start=True)
    )
    wait_for(lambda: _sent(mc_app, campaign["id"]) >= 10, 20)
    cancelled = api.post(f"{CAMPAIGNS}/{campaign['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"

    def settled():
        rows = deliveries(mc_app, campaign_id=campaign["id"])
        return rows if all(r.status in ("sent", "cancelled") for r in rows) else None

    rows = wait_for(settled, 10)
    sent = [r.target for r in rows if r.status == "sent"]
    assert 10 <= len(sent) < 40 and len(rows) == 40
    time.sleep(1.5)
    assert sandbox.control.outbox(channel="template")["counts"] == dict.fromkeys(sent, 1)
    assert api.post(f"{CAMPAIGNS}/{campaign['id']}/cancel").status_code == 409
    assert api.post(f"{CAMPAIGNS}/{campaign['id']}/resume").status_code == 409


def test_a_scheduled_campaign_starts_when_its_time_comes(api, senders, oa_templates, sandbox, demo, mc_worker):
    openids = sandbox.world.accounts[demo.official.appid].users.openids[:3]
    when = datetime.now(UTC) + timedelta(seconds=0.5)
    campaign = _campaign(
        api,
        _template_body(senders, oa_templates, {"kind": "openids", "openids": openids}, scheduled_at=when.isoformat()),
    )
    assert campaign["status"] == "scheduled"
    scheduled = datetime.fromisoformat(campaign["scheduled_at"])
    assert scheduled >= when and scheduled.microsecond == 0  # rounded up to the second, never earlier
    start_due = mc_worker.tasks["message_center.start_due_campaigns"]  # what beat sends every 15 s
    assert start_due.apply().get() == []  # not yet
    assert wait_for(lambda: start_due.apply().get(), 3, 0.1) == [campaign["id"]]
    assert datetime.now(UTC) >= scheduled
    assert wait_campaign(api, campaign["id"])["counts"]["sent"] == 3


def test_mass_send_to_a_list_uses_clientmsgid_so_a_repeat_sends_nothing(api, senders, sandbox, demo, mc_worker, mc_app):
    from sqlalchemy import update

    from wedraw.message_center.models import Campaign, Delivery, MassJob, db

    openids = sandbox.world.accounts[demo.official.appid].users.openids[:7]
    campaign = _campaign(
        api,
        {
            "name": "月度推送",
            "channel": "oa_mass",
            "sender_id": senders["official_account"]["id"],
            "message": {"msgtype": "text", "text": {"content": "本月积分活动开始啦"}},
            "audience": {"kind": "openids", "openids": openids},
            "start": True,
        },
    )
    done = wait_campaign(api, campaign["id"])
    assert done["counts"]["sent"] == 7 and len(done["mass_jobs"]) == 1
    job = done["mass_jobs"][0]
    assert job["status"] == "sent" and job["size"] == 7 and job["msg_id"]
    # The worker died after WeChat accepted the call and before our commit: the job runs again.
    with mc_app.app_context():
        db.session.execute(update(MassJob).values(status="pending", msg_id=None))
        db.session.execute(update(Delivery).values(status="pending"))
        db.session.execute(update(Campaign).values(status="running"))
        db.session.commit()
        job_id = db.session.execute(db.select(MassJob.id)).scalar_one()
    result = mc_worker.tasks["message_center.push_mass"].apply(args=[job_id]).get()
    assert result["status"] == "sent"  # WeChat answered 45065: the first send stands
    with mc_app.app_context():
        again = db.session.get(MassJob, job_id)
        assert again.status == "sent" and again.errcode == 45065 and again.msg_id == job["msg_id"]
    assert sandbox.control.outbox(channel="mass")["counts"] == dict.fromkeys(openids, 1)


def test_mass_send_to_a_tag_is_one_wechat_job(api, senders, sandbox, demo, official_app, mc_worker):
    seed_fans(official_app, sandbox, demo.official.appid)
    users = sandbox.world.accounts[demo.official.appid].users
    tagged = [o for i, o in enumerate(users.openids) if users.is_subscribed(i) and 101 in users.tags_of(i)]
    campaign = _campaign(
        api,
        {
            "name": "标签群发",
            "channel": "oa_mass",
            "sender_id": senders["official_account"]["id"],
            "message": {"msgtype": "text", "text": {"content": "会员日快乐"}},
            "audience": {"kind": "tag", "tag_id": 101},
            "start": True,
        },
    )
    done = wait_campaign(api, campaign["id"])
    assert done["total"] == 0 and [j["size"] for j in done["mass_jobs"]] == [0]
    assert done["mass_jobs"][0]["status"] == "sent"
    assert sandbox.control.outbox(channel="mass")["counts"] == dict.fromkeys(tagged, 1)


def test_job_reports_flow_from_wechat_through_the_official_service(
    api, senders, oa_templates, sandbox, demo, oa_account, official_app, official_url, mc_worker, mc_app
):
    """TEMPLATESENDJOBFINISH: WeChat → the Official Account callback → its task → message_center.job_finished."""
    from sqlalchemy import select

    from wedraw.wechat_official.models import Message, db
    from workers.bootstrap import build_worker_app

    appid = demo.official.appid
    sandbox.control.update_account(appid, callback_url=f"{official_url}/api/wechat/callback/{appid}")
    openids = sandbox.world.accounts[appid].users.openids[:4]
    campaign = _campaign(
        api, _template_body(senders, oa_templates, {"kind": "openids", "openids": openids}, start=True)
    )
    wait_campaign(api, campaign["id"])

    def stored_reports():
        with official_app.app_context():
            ids = db.session.execute(select(Message.id).where(Message.event == "TEMPLATESENDJOBFINISH")).scalars().all()
        return ids if len(ids) == 4 else None

    report_ids = wait_for(stored_reports, 15)
    # The Official Account service's own task hands each report on by name (run here as its worker would).
    official_tasks = build_worker_app("wechat_official", settings=official_app.config["WEDRAW_SETTINGS"]).tasks
    for message_id in report_ids:
        official_tasks["wechat_official.process_message"].apply(args=[message_id]).get()

    def reported():
        body = api.get(f"{CAMPAIGNS}/{campaign['id']}/progress").get_json()
        return body if body["reported"]["delivered"] == 4 else None

    progress = wait_for(reported, 20)
    assert progress["reported"]["by_status"] == {"success": 4}
    assert {r.report_status for r in deliveries(mc_app, campaign_id=campaign["id"])} == {"success"}


def test_job_reports_are_applied_once_and_wait_for_their_send(api, senders, mc_app, demo):
    from wedraw.core.db import utcnow
    from wedraw.message_center.models import Delivery, JobEvent, db
    from wedraw.message_center.services import NotYetKnown, job_finished

    job = {
        "event_id": "wechat_official:x:1",
        "appid": demo.official.appid,
        "kind": "template",
        "msg_id": "555",
        "status": "failed:user block",
        "openid": "o1",
        "counts": {},
        "finished_at": "2026-01-01T00:00:00Z",
    }
    with mc_app.app_context():
        with pytest.raises(NotYetKnown):  # the report overtook our record of the send: the task retries
            job_finished(job)
        now = utcnow()
        db.session.add(
            Delivery(
                channel="oa_template",
                sender_id=senders["official_account"]["id"],
                target="o1",
                status="sent",
                msgid="555",
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                idempotency_key="k1",
            )
        )
        db.session.commit()
        assert job_finished(job) == "applied"
        assert job_finished(job) == "duplicate"
        assert db.session.execute(db.select(db.func.count()).select_from(JobEvent)).scalar_one() == 1
    assert deliveries(mc_app)[0].report_status == "failed:user block"


def test_customer_service_falls_back_to_a_template_outside_48_hours(
    api, senders, oa_templates, sandbox, demo, mc_worker, mc_app
):
    openids = sandbox.world.accounts[demo.official.appid].users.openids[:6]  # even: inside the window; odd: not
    campaign = _campaign(
        api,
        {
            "name": "客服回访",
            "channel": "oa_custom",
            "sender_id": senders["official_account"]["id"],
            "message": {"msgtype": "text", "text": {"content": "感谢您的反馈"}},
            "audience": {"kind": "openids", "openids": openids},
            "start": True,
            "fallback": {
                "sender_id": senders["official_account"]["id"],
                "template_id": oa_templates["订单状态通知"]["id"],
                "data": {"keyword1": "反馈 #1", "keyword2": "已处理"},
            },
        },
    )
    done = wait_campaign(api, campaign["id"])
    assert done["counts"]["sent"] == 6
    rows = {r.target: r for r in deliveries(mc_app, campaign_id=campaign["id"])}
    for i, openid in enumerate(openids):
        row = rows[openid]
        if i % 2 == 0:
            assert row.fallback_channel is None and row.errcode is None
        else:
            assert (row.fallback_channel, row.fallback_target, row.errcode) == ("oa_template", openid, 45015)
    assert sandbox.control.outbox(channel="custom")["counts"] == {o: 1 for o in openids[0::2]}
    assert sandbox.control.outbox(channel="template")["counts"] == {o: 1 for o in openids[1::2]}


def test_subscribe_falls_back_to_the_same_person_on_the_official_account(
    api, senders, oa_templates, sandbox, demo, official_app, mc_worker, mc_app
):
    seed_fans(official_app, sandbox, demo.official.appid)
    world = sandbox.world
    mp = world.accounts[demo.miniprogram.appid]
    template = next(t for t in mp.templates.values() if t.title == "兑换成功通知")
    mp_template = api.post(
        "/api/message/templates",
        json={
            "channel": "mp_subscribe",
            "sender_id": senders["mini_program"]["id"],
            "name": "兑换",
            "wechat_template_id": template.template_id,
            "content": template.content,
        },
    ).get_json()
    users = [(mp.users.openids[i], person_profile(world.params.seed, mp.users.persons[i])["unionid"]) for i in range(4)]
    upload = api.post(
        "/api/message/audiences",
        json={"name": "兑换用户", "csv": "openid,unionid\n" + "\n".join(f"{o},{u}" for o, u in users)},
    )
    assert upload.status_code == 201 and upload.get_json()["size"] == 4
    sandbox.control.grant_subscribe(users[0][0], template.template_id, appid=demo.miniprogram.appid)
    campaign = _campaign(
        api,
        {
            "name": "兑换通知",
            "channel": "mp_subscribe",
            "sender_id": senders["mini_program"]["id"],
            "template_id": mp_template["id"],
            "data": {"thing1": "保温杯", "number2": 200, "time3": "2026-01-31 15:01"},
            "audience": {"kind": "list", "list_id": upload.get_json()["id"]},
            "start": True,
            "fallback": {
                "sender_id": senders["official_account"]["id"],
                "template_id": oa_templates["订单状态通知"]["id"],
                "data": {"keyword1": "兑换 #9", "keyword2": "已兑换"},
            },
        },
    )
    wait_campaign(api, campaign["id"])
    rows = {r.target: r for r in deliveries(mc_app, campaign_id=campaign["id"])}
    granted, fan, stranger = rows[users[0][0]], rows[users[2][0]], rows[users[1][0]]
    assert granted.status == "sent" and granted.fallback_channel is None
    oa_openid = world.accounts[demo.official.appid].users.openids[2]  # MP user 2 is fan 2 of the account
    assert (fan.status, fan.fallback_channel, fan.fallback_target, fan.errcode) == (
        "sent",
        "oa_template",
        oa_openid,
        43101,
    )
    assert stranger.status == "failed_final" and stranger.errcode == 43101
    assert "no official account recipient to fall back to" in stranger.errmsg
    assert sandbox.control.outbox(channel="template")["counts"] == {oa_openid: 1}
