"""An audit row for every write by an admin, whichever service took the write."""

from __future__ import annotations

import json
import time
import uuid

from wedraw.core.auth import requires
from wedraw.core.factory import create_app


def _audit(client, headers, **query):
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return client().get(f"/api/audit?page_size=100&{params}", headers=headers).get_json()


def test_every_user_center_write_is_audited_with_who_what_where_and_outcome(client, admin, make_user):
    user, _ = make_user("auditee")
    client().patch(f"/api/users/{user['id']}", json={"display_name": "改名"}, headers=admin.headers)
    client().post(f"/api/users/{user['id']}/disable", headers=admin.headers)
    client().post("/api/roles", json={"name": "x", "permissions": []}, headers=admin.headers)  # 422: too short
    rows = _audit(client, admin.headers)["items"]
    actions = [(r["action"], r["outcome"], r["target"]) for r in rows]
    assert ("users.disable_user", "success", f"user:{user['id']}") in actions
    assert ("users.update_user", "success", f"user:{user['id']}") in actions
    assert ("users.create_user", "success", f"user:{user['id']}") in actions
    assert ("roles.create_role", "failure", "") in [(a, o, t or "") for a, o, t in actions]
    newest = rows[0]
    assert newest["username"] == "admin" and newest["ip"] == "127.0.0.1" and newest["service"] == "user_center"
    assert newest["status_code"] == 422 and newest["request_id"]


def test_reads_are_not_audited(client, admin):
    for _ in range(3):
        client().get("/api/users", headers=admin.headers)
    assert _audit(client, admin.headers)["total"] == 0


def test_a_forbidden_write_is_audited_as_a_failure(client, make_user, login, admin):
    _, password = make_user("nosy", roles=("read_only",))
    nosy = login("nosy", password)
    assert (
        client().post("/api/roles", json={"name": "grab", "permissions": []}, headers=nosy.headers).status_code == 403
    )
    rows = _audit(client, admin.headers, username="nosy")["items"]
    assert [(r["action"], r["outcome"], r["status_code"]) for r in rows] == [("roles.create_role", "failure", 403)]


def test_audit_search_filters(client, admin, make_user):
    make_user("one")
    make_user("two")
    assert _audit(client, admin.headers, outcome="success", action="create_user")["total"] == 2
    assert _audit(client, admin.headers, outcome="failure")["total"] == 0
    assert _audit(client, admin.headers, q="users")["total"] == 2


def test_writes_in_other_services_reach_the_audit_log_through_the_worker(client, admin, settings, user_center_worker):
    app = create_app("points_mall", settings=settings)

    @requires("points:products:write")
    def create_product():
        return {"id": 7}, 201

    app.add_url_rule("/api/points/__audit-probe", "products.create", create_product, methods=["POST"])
    response = app.test_client().post(
        "/api/points/__audit-probe", json={}, headers={**admin.headers, "X-Request-ID": "req-points-1"}
    )
    assert response.status_code == 201
    deadline = time.monotonic() + 20
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = _audit(client, admin.headers, service="points_mall")["items"]
        time.sleep(0.2)
    assert len(rows) == 1
    assert rows[0]["action"] == "products.create"
    assert rows[0]["request_id"] == "req-points-1"
    assert rows[0]["username"] == "admin"


def test_a_redelivered_audit_record_is_stored_once(apps, client, admin):
    from wedraw.user_center.services import record_audit

    record = {
        "event_id": "e" * 32,
        "created_at": "2026-11-28T08:00:00",
        "user_id": 1,
        "username": "admin",
        "service": "wecom",
        "action": "robots.create",
        "method": "POST",
        "path": "/api/wecom/robots",
        "target": None,
        "ip": "127.0.0.1",
        "outcome": "success",
        "status_code": 201,
        "request_id": "r",
    }
    with apps["user_center"].app_context():
        assert record_audit(record) is True
        assert record_audit(record) is False
    assert _audit(client, admin.headers, service="wecom")["total"] == 1


def test_an_audit_record_the_broker_refuses_waits_on_disk_and_is_handed_on_once_it_is_back(
    client, admin, settings, user_center_worker, tmp_path
):
    import dataclasses

    from celery import Celery
    from click.testing import CliRunner

    from wedraw.cli import cli
    from wedraw.core import audit

    app = create_app("points_mall", settings=dataclasses.replace(settings, var_dir=tmp_path))

    @requires("points:products:write")
    def create_product():
        return {"id": 8}, 201

    app.add_url_rule("/api/points/__audit-outage", "products.create", create_product, methods=["POST"])
    live = app.extensions["celery"]
    dead = Celery("dead-broker", set_as_current=False)
    dead.conf.update(broker_url="redis://127.0.0.1:1/0", broker_connection_timeout=1, broker_connection_retry=False)
    dead.conf.broker_transport_options = {"max_retries": 0}
    app.extensions["celery"] = dead
    try:
        for n in (1, 2):
            response = app.test_client().post(
                "/api/points/__audit-outage", json={}, headers={**admin.headers, "X-Request-ID": f"req-outage-{n}"}
            )
            assert response.status_code == 201  # the write stands; its record waits
    finally:
        app.extensions["celery"] = live
    spool = audit.spool_for(app)
    assert spool.pending() == 2
    assert 'wedraw_audit_spool_records{service="points_mall"} 2.0' in app.test_client().get("/metrics").text
    spooled = [json.loads(line) for line in spool.path.read_text().splitlines()]
    assert _audit(client, admin.headers, service="points_mall")["total"] == 0

    # The next record the broker takes brings the two waiting ones with it; the spool empties.
    response = app.test_client().post(
        "/api/points/__audit-outage", json={}, headers={**admin.headers, "X-Request-ID": "req-outage-3"}
    )
    assert response.status_code == 201
    assert spool.pending() == 0
    assert 'wedraw_audit_spool_records{service="points_mall"} 0.0' in app.test_client().get("/metrics").text
    rows = _wait_for_rows(client, admin, 3)
    assert sorted(r["request_id"] for r in rows) == ["req-outage-1", "req-outage-2", "req-outage-3"]

    # The CLI empties a spool too; a record handed on twice is stored once (the task dedupes by event id).
    spool.add([spooled[0], {**spooled[0], "event_id": uuid.uuid4().hex, "request_id": "req-outage-cli"}])
    env = {"WEDRAW_VAR_DIR": str(tmp_path), "WEDRAW_CELERY_BROKER_URL": settings.celery_broker_url}
    result = CliRunner().invoke(cli, ["audit", "replay"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "points_mall: 2 handed on, 0 waiting" in result.output and "audit spool empty" in result.output
    rows = _wait_for_rows(client, admin, 4)
    assert "req-outage-cli" in {r["request_id"] for r in rows}
    time.sleep(1.0)
    assert _audit(client, admin.headers, service="points_mall")["total"] == 4


def _wait_for_rows(client, admin, count: int) -> list:
    deadline = time.monotonic() + 20
    rows: list = []
    while time.monotonic() < deadline and len(rows) < count:
        rows = _audit(client, admin.headers, service="points_mall")["items"]
        time.sleep(0.2)
    return rows


def test_the_spool_keeps_what_was_not_sent_and_survives_a_torn_line(tmp_path):
    from wedraw.core.audit import AuditSpool

    spool = AuditSpool(tmp_path, "wecom")
    spool.add([{"event_id": "a"}, {"event_id": "b"}])
    with open(spool.path, "a", encoding="utf-8") as raw:
        raw.write('{"event_id": "tor')  # a process died mid-write
    spool.add([{"event_id": "c"}, {"event_id": "d"}])
    assert spool.pending() == 5

    sent: list[str] = []

    def refuse_c(record: dict) -> None:
        if record["event_id"] == "c":
            raise ConnectionError("broker down")
        sent.append(record["event_id"])

    assert spool.replay(refuse_c) == 2  # a, b; the torn line is dropped; c is refused
    assert sent == ["a", "b"] and spool.pending() == 2
    assert spool.replay(lambda record: sent.append(record["event_id"])) == 2
    assert sent == ["a", "b", "c", "d"] and spool.pending() == 0 and not spool.path.exists()
