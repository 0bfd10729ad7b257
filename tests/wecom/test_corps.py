"""Corp configuration: secrets encrypted and masked, the check in plain words; the members' H5 login and pages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select

from tests.wecom.conftest import CORPS
from tests.wecom.test_contacts import run_sync
from wedraw.wecom.models import App, Corp, db

H5 = "/api/wecom/h5"


def test_secrets_are_encrypted_at_rest_and_never_returned(api, corp, demo, wc_app):
    assert corp["corp_id"] == demo.corp_id and corp["contacts_secret_hint"] is None
    apps = api.get(f"{CORPS}/{corp['id']}/apps").get_json()["items"]
    assert len(apps) == 1
    app = apps[0]
    assert app["secret_hint"] == "****" + demo.secret[-4:] and app["is_default"] is True
    assert app["callback_path"] == f"/api/wecom/callback/{demo.corp_id}/{demo.agent_id}"
    body = str(api.get(f"{CORPS}/{corp['id']}").get_json()) + str(apps)
    for secret in (demo.secret, demo.token, demo.aes_key):
        assert secret not in body
    with wc_app.app_context():
        row = db.session.execute(select(App)).scalar_one()
        assert demo.secret not in row.secret_enc and demo.aes_key not in (row.aes_key_enc or "")

    assert api.post(CORPS, json={"corp_id": demo.corp_id, "name": "again"}).status_code == 409
    half = api.patch(f"{CORPS}/{corp['id']}", json={"contacts_token": "abc"})
    assert half.status_code == 422 and "contacts_aes_key" in half.get_json()["errors"]
    updated = api.patch(
        f"{CORPS}/{corp['id']}",
        json={"customer_secret": "Customer-Secret-0001", "contacts_token": "abc", "contacts_aes_key": demo.aes_key},
    )
    assert updated.status_code == 200
    assert updated.get_json()["customer_secret_hint"] == "****0001"
    assert updated.get_json()["contacts_callback_path"] == f"/api/wecom/callback/{demo.corp_id}/contacts"
    removed = api.patch(f"{CORPS}/{corp['id']}", json={"customer_secret": None}).get_json()
    assert removed["customer_secret_hint"] is None
    with wc_app.app_context():
        assert db.session.execute(select(Corp.customer_secret_enc)).scalar_one() is None


def test_the_check_reports_wecom_problems_in_plain_words(api, corp, sandbox, demo):
    ok = api.post(f"{CORPS}/{corp['id']}/check").get_json()
    assert ok["last_check_ok"] is True
    assert [(i["step"], i["ok"]) for i in ok["last_check"]["items"]] == [
        ("token", True),
        ("visibility", True),
        ("customers", True),
    ]

    sandbox.control.fault("/cgi-bin/gettoken", errcode=60020, times=None)
    untrusted = api.post(f"{CORPS}/{corp['id']}/check").get_json()
    first = untrusted["last_check"]["items"][0]
    assert untrusted["last_check_ok"] is False and (first["step"], first["errcode"]) == ("token", 60020)
    assert "IP address" in first["problem"] and "企业可信IP" in first["advice"]
    sandbox.control.clear_faults()

    sandbox.control.fault("/cgi-bin/department/list", errcode=60011, times=None)
    sandbox.control.fault("/cgi-bin/externalcontact/groupchat/list", errcode=48002, times=None)
    report = api.post(f"{CORPS}/{corp['id']}/check").get_json()["last_check"]["items"]
    by_step = {i["step"]: i for i in report}
    assert by_step["token"]["ok"] is True
    assert by_step["visibility"]["errcode"] == 60011 and "visible range" in by_step["visibility"]["problem"]
    assert by_step["customers"]["errcode"] == 48002 and "客户联系" in by_step["customers"]["advice"]

    wrong = api.post(
        f"{CORPS}/{corp['id']}/apps", json={"agent_id": 1000009, "name": "旧应用", "secret": "WrongSecret-123"}
    )
    assert wrong.status_code == 201
    sandbox.control.clear_faults()
    items = api.post(f"{CORPS}/{corp['id']}/check").get_json()["last_check"]["items"]
    bad = next(i for i in items if i["target"] == "app:1000009")
    assert (bad["ok"], bad["errcode"]) == (False, 40001) and "does not accept this secret" in bad["problem"]


def test_members_log_in_through_wecom_and_see_their_profile_and_the_directory(
    api, base, corp, sandbox, demo, wecom_worker, serve, wc_app
):
    assert run_sync(api, base)["status"] == "succeeded"
    site = serve(wc_app)
    http = requests.Session()
    page = f"{site}/h5/wecom/oauth"
    answer = http.get(f"{site}{H5}/oauth/authorize-url", params={"redirect_uri": page, "state": "abcdefgh1234"}).json()
    assert answer["agent_id"] == demo.agent_id
    # The browser goes to WeCom's authorize page (the sandbox's), which sends it back with a code.
    landing = http.get(answer["url"], allow_redirects=False)
    target = urlsplit(landing.headers["Location"])
    query = parse_qs(target.query)
    assert target.path == "/h5/wecom/oauth" and query["state"] == ["abcdefgh1234"]
    code = query["code"][0]

    login = http.post(f"{site}{H5}/oauth/login", json={"code": code})
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    assert http.post(f"{site}{H5}/oauth/login", json={"code": code}).json()["code"] == "oauth_code"  # single-use
    member = {"Authorization": f"Bearer {token}"}

    me = http.get(f"{site}{H5}/me", headers=member).json()
    first_active = next(m for m in sandbox.world.corps[demo.corp_id].members.values() if m.active)
    assert me["userid"] == first_active.userid and me["profile"]["name"] == first_active.name
    assert me["profile"]["mobile"] == first_active.mobile  # the member's own number, unmasked

    world = sandbox.world.corps[demo.corp_id]
    someone = world.members["user00012"]
    found = http.get(f"{site}{H5}/directory", params={"q": someone.name}, headers=member).json()
    assert "user00012" in [c["userid"] for c in found["items"]]
    assert all("mobile" not in c and "email" not in c for c in found["items"])
    dept = http.get(f"{site}{H5}/directory", params={"department_id": 3, "page_size": 100}, headers=member).json()
    assert {c["userid"] for c in dept["items"]} == {
        m.userid for m in world.members.values() if m.active and set(m.department) & {3, 6}
    }
    departments = http.get(f"{site}{H5}/departments", headers=member).json()
    assert {d["department_id"] for d in departments} == set(world.departments)

    assert http.get(f"{site}{H5}/me").json()["code"] == "member_token_missing"
    admin_token = {"Authorization": api.headers["Authorization"]}
    assert http.get(f"{site}{H5}/me", headers=admin_token).json()["code"] == "member_token_invalid"
    assert http.get(f"{site}/api/wecom/corps", headers=member).status_code == 403  # a member token opens no admin route
    outside = http.get(
        f"{site}{H5}/oauth/authorize-url",
        params={"redirect_uri": "https://evil.example/h5/wecom/", "state": "abcdefgh1234"},
    )
    assert outside.status_code == 422


def test_the_seed_wires_the_demo_corp_to_the_sandbox_once(wc_app, sandbox, demo, wecom_worker, api):
    from wedraw.wecom import demo as seed_module
    from wedraw.wecom.models import Robot, SyncJob

    messages: list[str] = []
    with wc_app.app_context():
        seed_module.seed_demo(wc_app.config["WEDRAW_SETTINGS"])
        messages = seed_module.seed_demo(wc_app.config["WEDRAW_SETTINGS"])  # twice: nothing new
        corp = db.session.execute(select(Corp)).scalar_one()
        assert corp.demo and corp.corp_id == demo.corp_id and messages == []
        assert db.session.execute(select(App.agent_id, App.is_default)).all() == [(demo.agent_id, True)]
        robot = db.session.execute(select(Robot)).scalar_one()
        assert robot.demo and robot.key_hint == "****" + demo.robot_key[-4:]
        assert db.session.execute(select(SyncJob.kind)).scalars().all() == ["contacts"]
        corp_ref = corp.id

    def synced():
        body = api.get(f"{CORPS}/{corp_ref}/overview").get_json()
        return (
            body["members"] == len(sandbox.world.corps[demo.corp_id].members) and body["customer_groups"] > 0 and body
        )

    overview = wait_for_seconds(synced, 30)
    assert overview["departments"] == len(sandbox.world.corps[demo.corp_id].departments)
    kinds = sorted(j["kind"] for j in api.get(f"{CORPS}/{corp_ref}/syncs").get_json()["items"])
    assert kinds == ["contacts", "customers", "groups"]  # the first contacts sync queued the other two


def wait_for_seconds(predicate, timeout):
    from tests.wecom.conftest import wait_for

    return wait_for(predicate, timeout)


def test_a_corp_with_a_bad_app_is_refused_whole(api, wc_app):

    def app(agent_id: int, **extra) -> dict:
        return {"agent_id": agent_id, "name": f"应用{agent_id}", "secret": "s" * 43, **extra}

    body = {"corp_id": "wwbad0000000000001", "name": "重复应用"}
    twice = api.post(CORPS, json={**body, "apps": [app(1000002), app(1000002)]})
    assert twice.status_code == 422 and "apps" in twice.get_json()["errors"]
    half_keyed = api.post(CORPS, json={**body, "apps": [app(1000002), app(1000003, token="t0ken")]})
    assert half_keyed.status_code == 422 and "aes_key" in half_keyed.get_json()["errors"]
    with wc_app.app_context():
        assert db.session.execute(select(Corp.id).where(Corp.corp_id == body["corp_id"])).first() is None

    created = api.post(CORPS, json={**body, "apps": [app(1000002)]})
    assert created.status_code == 201, created.get_json()
    again = api.post(f"{CORPS}/{created.get_json()['id']}/apps", json=app(1000002))
    assert again.status_code == 409 and again.get_json()["code"] == "conflict"
