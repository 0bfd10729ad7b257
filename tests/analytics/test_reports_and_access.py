"""Reports (CSV and XLSX, streamed by the reports worker), downloads and who may make them; bad input; the replica."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select, text

from tests.analytics.conftest import fact

DAY = date(2026, 9, 10)
RANGE = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=2)).isoformat()}


@pytest.fixture
def ledger_facts(record):
    facts = []
    for n in range(1, 26):
        credit = n % 5 != 0
        facts.append(
            fact(
                f"points_mall:ledger:t:{n}",
                "points.credit" if credit else "points.debit",
                DAY + timedelta(days=n % 3),
                hour=n % 24,
                business_type="sign_in" if credit else "redemption",
                business_id=f"B{n}",
                entry_id=n,
                account_id=3,
                amount=10 if credit else -30,
                balance_after=n * 10,
            )
        )
    facts.append(fact("outside", "points.credit", DAY + timedelta(days=5), business_type="sign_in", amount=1))
    assert record(*facts)["stored"] == 26
    return facts[:-1]


@pytest.fixture
def run_report(analytics_celery):
    from wedraw.data_analysis.reports import GENERATE_TASK

    return lambda report_id: analytics_celery.tasks[GENERATE_TASK].apply(args=[report_id]).get()


def _request(da, admin, **body):
    return da.post("/api/analytics/reports", json={**RANGE, **body}, headers=admin.headers)


def test_an_xlsx_ledger_report_is_written_and_opens_with_the_expected_rows(da, admin, ledger_facts, run_report):
    response = _request(da, admin, kind="points_ledger", format="xlsx")
    assert response.status_code == 202, response.get_json()
    report = response.get_json()
    assert report["status"] == "queued" and report["kind_label"] == "积分流水"
    assert run_report(report["id"]) == "done"
    assert run_report(report["id"]) == "not queued"  # a redelivered task finds nothing to do
    done = da.get(f"/api/analytics/reports/{report['id']}", headers=admin.headers).get_json()
    assert (done["status"], done["progress"], done["rows"]) == ("done", 100, 25)
    assert done["expires_at"] is not None and done["size"] > 0

    download = da.get(f"/api/analytics/reports/{report['id']}/download", headers=admin.headers)
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(download.data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("时间", "流水号", "积分账户", "业务类型", "业务单号", "积分变动", "变动后余额")
    assert len(rows) == 1 + len(ledger_facts)
    by_entry = {r[1]: r for r in rows[1:]}
    assert by_entry[5][3:] == ("积分兑换", "B5", -30, 50)
    assert by_entry[1][3:] == ("每日签到", "B1", 10, 10)
    assert sum(r[5] for r in rows[1:]) == sum(f["data"]["amount"] for f in ledger_facts)


def test_a_csv_report_and_the_reports_list(da, admin, record, run_report):
    record(*[fact(f"s{n}", "wechat.subscribe", DAY, appid="wxA", openid=f"o{n}", qr_scene="poster") for n in range(3)])
    report = _request(da, admin, kind="fans", format="csv").get_json()
    assert run_report(report["id"]) == "done"
    body = da.get(f"/api/analytics/reports/{report['id']}/download", headers=admin.headers).data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:5] == ["时间", "公众号 AppID", "OpenID", "UnionID", "事件"]
    assert sorted(r[2] for r in rows[1:]) == ["o0", "o1", "o2"]
    assert {r[4] for r in rows[1:]} == {"关注"} and {r[5] for r in rows[1:]} == {"poster"}
    listing = da.get("/api/analytics/reports?status=done", headers=admin.headers).get_json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == report["id"]


def test_download_needs_the_reports_permission(apps, da, admin, login, ledger_facts, run_report):
    uc = apps["user_center"].test_client()
    role = uc.post(
        "/api/roles",
        json={"name": "dashboard_only", "permissions": ["analytics:dashboard:read"]},
        headers=admin.headers,
    )
    assert role.status_code == 201, role.get_json()
    created = uc.post(
        "/api/users",
        json={"username": "viewer", "password": "Passw0rd-test", "role_ids": [role.get_json()["id"]]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.get_json()
    viewer = login("viewer", "Passw0rd-test")
    report = _request(da, admin, kind="points_ledger", format="csv").get_json()
    run_report(report["id"])

    denied = da.get(f"/api/analytics/reports/{report['id']}/download", headers=viewer.headers)
    assert denied.status_code == 403
    assert denied.get_json()["code"] == "forbidden"
    assert _request(da, viewer, kind="orders", format="csv").status_code == 403
    assert da.get("/api/analytics/reports/1/download").status_code == 401
    # The dashboard is theirs to read.
    assert da.get("/api/analytics/dashboard/kpis", query_string=RANGE, headers=viewer.headers).status_code == 200
    assert da.get(f"/api/analytics/reports/{report['id']}/download", headers=admin.headers).status_code == 200


def test_a_failed_report_records_why_and_can_be_retried(da, admin, ledger_facts, run_report, monkeypatch):
    from wedraw.data_analysis import reports

    def broken(session, first, last):
        raise RuntimeError("the replica went away")

    monkeypatch.setitem(reports.SOURCES, "points_ledger", broken)
    report = _request(da, admin, kind="points_ledger", format="xlsx").get_json()
    assert run_report(report["id"]) == "failed"
    failed = da.get(f"/api/analytics/reports/{report['id']}", headers=admin.headers).get_json()
    assert failed["status"] == "failed" and "the replica went away" in failed["error"]
    assert da.get(f"/api/analytics/reports/{report['id']}/download", headers=admin.headers).status_code == 409

    monkeypatch.undo()
    retried = da.post(f"/api/analytics/reports/{report['id']}/retry", headers=admin.headers)
    assert retried.status_code == 202 and retried.get_json()["status"] == "queued"
    assert run_report(report["id"]) == "done"
    again = da.get(f"/api/analytics/reports/{report['id']}", headers=admin.headers).get_json()
    assert (again["status"], again["attempts"], again["error"]) == ("done", 2, None)
    assert da.post(f"/api/analytics/reports/{report['id']}/retry", headers=admin.headers).status_code == 409


def test_files_past_retention_are_removed(apps, da, admin, ledger_facts, run_report, analytics_celery):
    from wedraw.core.db import utcnow
    from wedraw.data_analysis.models import Report, db
    from wedraw.data_analysis.reports import CLEANUP_TASK, reports_dir

    keep = _request(da, admin, kind="points_ledger", format="csv").get_json()
    old = _request(da, admin, kind="points_ledger", format="csv").get_json()
    run_report(keep["id"])
    run_report(old["id"])
    with apps["data_analysis"].app_context():
        row = db.session.get(Report, old["id"])
        path = reports_dir() / row.file_name
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert path.is_file()
    assert analytics_celery.tasks[CLEANUP_TASK].apply().get() == 1
    assert not path.exists()
    assert da.get(f"/api/analytics/reports/{old['id']}", headers=admin.headers).get_json()["status"] == "expired"
    assert da.get(f"/api/analytics/reports/{old['id']}/download", headers=admin.headers).status_code == 409
    assert da.get(f"/api/analytics/reports/{keep['id']}/download", headers=admin.headers).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("series", {"metric": "new_fans", "from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ("series", {"metric": "new_fans", "from": "2025-01-01", "to": "2026-01-02"}, "to"),
        ("series", {"metric": "no_such_metric", "from": "2026-05-01", "to": "2026-05-02"}, "metric"),
        (
            "series",
            {"metric": "new_fans", "from": "2026-05-01", "to": "2026-05-02", "granularity": "hour"},
            "granularity",
        ),
        ("kpis", {"from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ("kpis", {"from": "yesterday", "to": "2026-05-01"}, "from"),
        ("top-products", {"from": "2026-05-01"}, "to"),
    ],
)
def test_bad_dashboard_input_is_422(da, admin, path, params, field):
    response = da.get(f"/api/analytics/dashboard/{path}", query_string=params, headers=admin.headers)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_error" and field in body["errors"], body


def test_a_year_by_week_or_month_is_fine(da, admin):
    params = {"metric": "new_fans", "from": "2025-01-01", "to": "2026-01-02", "granularity": "month"}
    body = da.get("/api/analytics/dashboard/series", query_string=params, headers=admin.headers).get_json()
    assert len(body["points"]) == 13 and body["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "fans", "from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ({"kind": "fans", "from": "2025-01-01", "to": "2026-05-01"}, "to"),
        ({"kind": "salaries", "from": "2026-05-01", "to": "2026-05-01"}, "kind"),
        ({"kind": "fans", "format": "pdf", "from": "2026-05-01", "to": "2026-05-01"}, "format"),
        ({"kind": "fans", "from": "2026-05-01", "to": "2026-05-01", "extra": 1}, "extra"),
    ],
)
def test_bad_report_requests_are_422(da, admin, body, field):
    response = da.post("/api/analytics/reports", json=body, headers=admin.headers)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_unknown_report_is_404(da, admin):
    assert da.get("/api/analytics/reports/999999", headers=admin.headers).status_code == 404
    assert da.post("/api/analytics/reports/999999/retry", headers=admin.headers).status_code == 404


def test_dashboard_and_report_reads_go_to_the_replica_when_configured(
    apps, settings, da, admin, monkeypatch, record, rollup, run_report, analytics_celery
):
    from wedraw.data_analysis.models import db
    from wedraw.data_analysis.reading import read_session, replica_engine

    record(fact("r1", "wechat.subscribe", DAY, appid="wxA"))
    rollup(DAY)
    # The replica here is the primary's own database reached through a second, read-only engine.
    monkeypatch.setattr(settings, "analytics_replica_url", settings.database_url("data_analysis"))
    app = apps["data_analysis"]
    statements = {"replica": [], "primary": []}
    with app.app_context():
        replica, primary = replica_engine(), db.engine
    assert replica is not primary

    def recorder(name):
        def on_execute(_conn, _cursor, statement, *_args):
            statements[name].append(statement)

        return on_execute

    worker_app = analytics_celery.flask_app()  # the reports worker's own app (and engines)
    with worker_app.app_context():
        worker_replica, worker_primary = replica_engine(), db.engine
    listeners = [
        (replica, recorder("replica")),
        (primary, recorder("primary")),
        (worker_replica, recorder("replica")),
        (worker_primary, recorder("primary")),
    ]
    for engine, listener in listeners:
        event.listen(engine, "before_cursor_execute", listener)
    try:
        body = da.get("/api/analytics/dashboard/kpis", query_string={"from": DAY, "to": DAY}, headers=admin.headers)
        assert {i["metric"]: i["value"] for i in body.get_json()["items"]}["new_fans"] == 1
        assert any("da_daily_stats" in s for s in statements["replica"])
        assert not any("da_daily_stats" in s for s in statements["primary"])

        statements["replica"].clear()
        report = _request(da, admin, kind="fans", format="csv", **{"from": DAY.isoformat(), "to": DAY.isoformat()})
        assert run_report(report.get_json()["id"]) == "done"
        assert any("da_facts" in s for s in statements["replica"])  # the report's rows
        assert not any("da_facts" in s and s.lstrip().upper().startswith("SELECT") for s in statements["primary"])
        assert any("da_reports" in s and "UPDATE" in s.upper() for s in statements["primary"])  # status: primary

        with app.app_context(), read_session() as session, pytest.raises(Exception, match="(?i)read.?only"):
            session.execute(text("DELETE FROM da_daily_stats"))
    finally:
        for engine, listener in listeners:
            event.remove(engine, "before_cursor_execute", listener)
        for engine in (replica, worker_replica):
            engine.dispose()
        app.extensions.pop("wedraw.analytics_replica", None)
        worker_app.extensions.pop("wedraw.analytics_replica", None)


def test_scheduled_reports_and_the_robot_summary_once_per_period(apps, settings, record, monkeypatch):
    from wedraw.data_analysis.models import Report, db
    from wedraw.data_analysis.scheduled import run_scheduled
    from wedraw.message_center.channels.wecom import GroupRobotMessage

    monday = date(2026, 9, 14)
    record(fact("sched-1", "wechat.subscribe", monday - timedelta(days=1), appid="wxA"))
    record(fact("sched-2", "wechat.subscribe", monday - timedelta(days=3), appid="wxA"))
    monkeypatch.setitem(settings.extra, "WEDRAW_ANALYTICS_SCHEDULED_REPORTS", "points_ledger:csv, fans")
    monkeypatch.setitem(settings.extra, "WEDRAW_ANALYTICS_SUMMARY_ROBOT", "ops-robot")
    app = apps["data_analysis"]
    sent = []
    monkeypatch.setattr(
        app.extensions["celery"],
        "send_task",
        lambda task, args=None, kwargs=None, queue=None, **_: sent.append((task, args, kwargs, queue)),
    )
    with app.app_context():
        assert run_scheduled(monday) == {"reports": 4, "summaries": 2}
        assert run_scheduled(monday) == {"reports": 0, "summaries": 2}  # the files once; posts keep their keys
        rows = db.session.execute(select(Report.kind, Report.format, Report.trigger, Report.date_from)).all()
        db.session.rollback()
    assert sorted(rows) == sorted(
        [
            ("points_ledger", "csv", "daily", monday - timedelta(days=1)),
            ("fans", "xlsx", "daily", monday - timedelta(days=1)),
            ("points_ledger", "csv", "weekly", monday - timedelta(days=7)),
            ("fans", "xlsx", "weekly", monday - timedelta(days=7)),
        ]
    )
    assert [t[3] for t in sent if t[0] == "data_analysis.generate_report"] == ["reports"] * 4
    posts = [t[2] for t in sent if t[0] == "message_center.send"]
    assert {t[3] for t in sent if t[0] == "message_center.send"} == {"message_center"}
    keys = [p["message"]["idempotency_key"] for p in posts]
    assert keys == ["data_analysis:daily:2026-09-13", "data_analysis:weekly:2026-09-13"] * 2
    daily, weekly = posts[0]["message"], posts[1]["message"]
    assert daily["channel"] == "group_robot" and daily["sender"] == "ops-robot"
    assert "新增关注：**1**" in daily["message"]["markdown"]["content"]
    assert "新增关注：**2**" in weekly["message"]["markdown"]["content"]
    assert "数据周报" in weekly["message"]["markdown"]["content"]
    GroupRobotMessage().check_message(daily["message"])  # what the message center accepts for a robot


def test_a_bad_scheduled_reports_setting_names_the_variable(apps, settings, monkeypatch):
    from wedraw.core.config import ConfigError
    from wedraw.data_analysis.scheduled import scheduled_kinds

    monkeypatch.setitem(settings.extra, "WEDRAW_ANALYTICS_SCHEDULED_REPORTS", "salaries:pdf")
    with apps["data_analysis"].app_context(), pytest.raises(ConfigError, match="WEDRAW_ANALYTICS_SCHEDULED_REPORTS"):
        scheduled_kinds()


def test_a_report_whose_worker_died_is_taken_again_by_the_redelivered_task(apps, da, admin, ledger_facts, run_report):
    from wedraw.core.db import utcnow
    from wedraw.data_analysis.models import Report, db

    report = _request(da, admin, kind="points_ledger", format="csv").get_json()
    with apps["data_analysis"].app_context():
        row = db.session.get(Report, report["id"])
        row.status, row.started_at = "running", utcnow()  # a worker is writing it right now
        db.session.commit()
    assert run_report(report["id"]) == "not queued"
    with apps["data_analysis"].app_context():
        row = db.session.get(Report, report["id"])
        row.started_at = utcnow() - timedelta(hours=2)  # ...and died long ago
        db.session.commit()
    assert run_report(report["id"]) == "done"
    assert da.get(f"/api/analytics/reports/{report['id']}", headers=admin.headers).get_json()["rows"] == 25


def test_days_outside_the_supported_years_are_422(da, admin):
    for params in ({"from": "0001-05-02", "to": "0001-12-01"}, {"from": "2026-01-01", "to": "9999-12-31"}):
        response = da.get("/api/analytics/dashboard/kpis", query_string=params, headers=admin.headers)
        assert response.status_code == 422, response.get_json()
    response = da.post(
        "/api/analytics/reports", json={"kind": "fans", "from": "0001-01-01", "to": "0001-01-02"}, headers=admin.headers
    )
    assert response.status_code == 422 and "from" in response.get_json()["errors"]
