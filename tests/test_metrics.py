"""`/metrics`: counts by route and status, public, not rate-limited, right under several workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import build_settings, free_port
from wedraw.core.config import PROJECT_ROOT
from wedraw.core.factory import create_app


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample `name{labels...}` on a /metrics page, None if absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.get_data(as_text=True)


def test_requests_are_counted_by_route_template_and_status(apps, admin):
    uc = apps["user_center"].test_client()
    before = scrape(uc)
    key = {"service": "user_center", "method": "GET", "route": "/api/users/<id:user_id>"}
    ok_before = sample(before, "wedraw_http_requests_total", **key, status="200") or 0
    missing_before = sample(before, "wedraw_http_requests_total", **key, status="404") or 0
    me = uc.get("/api/auth/me", headers=admin.headers).get_json()
    for _ in range(3):
        assert uc.get(f"/api/users/{me['id']}", headers=admin.headers).status_code == 200
    assert uc.get("/api/users/999999", headers=admin.headers).status_code == 404
    assert uc.get("/api/no-such-thing").status_code == 404

    after = scrape(uc)
    assert sample(after, "wedraw_http_requests_total", **key, status="200") == ok_before + 3
    assert sample(after, "wedraw_http_requests_total", **key, status="404") == missing_before + 1
    # A path no route matches is one series, never one per path.
    assert sample(after, "wedraw_http_requests_total", service="user_center", route="<unmatched>", status="404")
    assert sample(after, "wedraw_http_request_duration_seconds_count", **key, status="200") == ok_before + 3
    assert sample(after, "wedraw_http_request_duration_seconds_bucket", **key, status="200", le="+Inf") >= 3
    # /metrics does not count itself, and one service's page does not show another's series.
    assert sample(after, "wedraw_http_requests_total", route="/metrics") is None
    assert sample(after, "wedraw_http_requests_total", service="gateway") is None


def test_metrics_is_public_and_exempt_from_the_rate_limit(tmp_path):
    app = create_app("gateway", settings=build_settings(tmp_path, WEDRAW_RATE_LIMIT="3/minute"))
    client = app.test_client()
    statuses = [client.get("/auth/check").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    for _ in range(10):
        assert client.get("/metrics").status_code == 200
    text = scrape(client)
    assert sample(text, "wedraw_http_requests_total", service="gateway", route="/auth/check", status="429") == 1


def test_gateway_reports_queue_lengths_from_the_broker(tmp_path):
    app = create_app("gateway", settings=build_settings(tmp_path))
    client = app.test_client()
    before = sample(scrape(client), "wedraw_celery_queue_length", queue="user_center")
    assert before is not None
    celery = app.extensions["celery"]
    for _ in range(3):
        celery.send_task("user_center.prune_sessions", queue="user_center")
    text = scrape(client)
    assert sample(text, "wedraw_celery_broker_up") == 1
    assert sample(text, "wedraw_celery_queue_length", queue="user_center") == before + 3


def test_an_unreachable_broker_is_reported_not_raised(tmp_path):
    settings = build_settings(tmp_path, WEDRAW_CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = create_app("gateway", settings=settings).test_client()
    text = scrape(client)
    assert sample(text, "wedraw_celery_broker_up") == 0
    assert sample(text, "wedraw_celery_queue_length", queue="user_center") is None


def test_task_outcomes_are_counted_by_the_real_worker(apps, user_center_worker):
    uc = apps["user_center"].test_client()
    key = {"service": "user_center", "task": "user_center.prune_sessions"}
    before = sample(scrape(uc), "wedraw_celery_tasks_total", **key, outcome="success") or 0
    started = time.time()
    user_center_worker.send_task("user_center.prune_sessions", queue="user_center")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = scrape(uc)
        if (sample(text, "wedraw_celery_tasks_total", **key, outcome="success") or 0) > before:
            break
        time.sleep(0.2)
    assert sample(text, "wedraw_celery_tasks_total", **key, outcome="success") == before + 1
    assert sample(text, "wedraw_celery_task_last_run_timestamp_seconds", **key) >= started


def test_wechat_api_calls_are_exported_and_still_counted_in_memory(apps):
    from wedraw.wechat.metrics import metrics as wechat

    client = apps["user_center"].test_client()
    endpoint = "/cgi-bin/message/custom/send"
    before = sample(scrape(client), "wedraw_wechat_api_calls_total", endpoint=endpoint, errcode="45015") or 0
    snapshot_before = wechat.snapshot()["api_calls"].get(endpoint, {}).get("45015", 0)
    wechat.api_called(endpoint, 45015, 120.0)
    wechat.api_called(endpoint, 45015, 80.0)
    wechat.token_fetched("wx-metrics-test", 40013)
    text = scrape(client)
    assert sample(text, "wedraw_wechat_api_calls_total", endpoint=endpoint, errcode="45015") == before + 2
    assert sample(text, "wedraw_wechat_token_fetches_total", app="wx-metrics-test", outcome="40013") == 1
    assert wechat.snapshot()["api_calls"][endpoint]["45015"] == snapshot_before + 2


def test_beat_heartbeat_reaches_the_gateway_page(tmp_path, monkeypatch):
    from wedraw.core.metrics import BEAT_HEARTBEAT_KEY, HeartbeatScheduler
    from wedraw.core.store import store_for
    from workers.beat import build_beat_app

    settings = build_settings(tmp_path)
    # Beat builds its settings from the environment: the same store as the gateway's.
    monkeypatch.setenv("WEDRAW_ENV_FILE", str(tmp_path / "no.env"))
    monkeypatch.setenv("WEDRAW_PROFILE", "test")
    monkeypatch.setenv("WEDRAW_VAR_DIR", str(tmp_path))
    if settings.redis_url:
        monkeypatch.setenv("WEDRAW_REDIS_URL", settings.redis_url)
    store_for(settings).delete(BEAT_HEARTBEAT_KEY)
    client = create_app("gateway", settings=settings).test_client()
    assert sample(scrape(client), "wedraw_celery_beat_heartbeat_timestamp_seconds") is None

    scheduler = HeartbeatScheduler(app=build_beat_app(settings), schedule_filename=str(tmp_path / "beat-schedule"))
    before = time.time()
    scheduler.tick()
    beat = sample(scrape(client), "wedraw_celery_beat_heartbeat_timestamp_seconds")
    assert beat is not None and before <= beat <= time.time()
    scheduler.close()


# --- several gunicorn workers (prometheus_client multiprocess mode)


def _gunicorn(tmp_path: Path, port: int, metrics_dir: Path) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "WEDRAW_PROFILE": "test",
        "WEDRAW_ENV_FILE": str(tmp_path / "no.env"),
        "WEDRAW_VAR_DIR": str(tmp_path / "var"),
        "WEDRAW_SERVICE": "gateway",
        "WEDRAW_LOG_LEVEL": "WARNING",
        "WEDRAW_RATE_LIMIT": "100000/minute",
        "WEDRAW_GUNICORN_WORKERS": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [str(gunicorn), "--config", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "gunicorn.log", "ab"),  # noqa: SIM115 - the child owns it
    )


def _wait_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited during start"
        try:
            if requests.get(f"{base}/metrics", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not start")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _count(base: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=5).text
    return sample(text, "wedraw_http_requests_total", service="gateway", route="/auth/check", status="401") or 0


def _held_request(port: int) -> socket.socket:
    """A request whose headers are not finished: the sync worker that accepts it waits on it."""
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.sendall(b"GET /auth/check HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return held


def _finish(held: socket.socket) -> bytes:
    held.sendall(b"Connection: close\r\n\r\n")
    answer = b""
    while chunk := held.recv(4096):
        answer += chunk
    held.close()
    return answer


@pytest.mark.slow
def test_counts_add_up_across_gunicorn_workers_and_restart_from_zero(tmp_path):
    metrics_dir = tmp_path / "metrics"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _gunicorn(tmp_path, port, metrics_dir)
    try:
        _wait_ready(base, process)
        # Two of the three workers are each kept busy by a held request, so the third answers
        # the others: all three workers count requests, each in a file of its own.
        held = [_held_request(port) for _ in range(2)]
        time.sleep(0.5)
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda _: requests.get(f"{base}/auth/check", timeout=10).status_code, range(20)))
        assert statuses == [401] * 20
        assert all(_finish(h).startswith(b"HTTP/1.1 401") for h in held)
        assert len(list(metrics_dir.glob("counter_*.db"))) == 3
        # Every scrape, whichever worker serves it, sees the sum.
        assert [_count(base) for _ in range(6)] == [22] * 6
    finally:
        _stop(process)

    # A new gunicorn in the same directory starts from zero (on_starting wipes old files).
    process = _gunicorn(tmp_path, port, metrics_dir)
    try:
        _wait_ready(base, process)
        for _ in range(5):
            assert requests.get(f"{base}/auth/check", timeout=10).status_code == 401
        assert [_count(base) for _ in range(4)] == [5] * 4
    finally:
        _stop(process)


# --- Grafana dashboard and alert rules


def _exported_names() -> set[str]:
    from wedraw.core.metrics import METRICS

    names = {
        "wedraw_celery_queue_length",
        "wedraw_celery_broker_up",
        "wedraw_celery_beat_heartbeat_timestamp_seconds",
        "wedraw_audit_spool_records",
    }
    for family in METRICS.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}[family.type]
        names |= {family.name + suffix for suffix in suffixes}
    return names


def _metric_names(expr: str) -> set[str]:
    import re

    return set(re.findall(r"\bwedraw_[a-z_]+\b", expr))


def test_dashboard_and_alert_rules_use_only_exported_metrics():
    import json

    import yaml

    exported = _exported_names()
    dashboard = json.loads((PROJECT_ROOT / "deploy" / "grafana" / "wedraw-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    assert all(word in titles for word in ("response time", "error rate", "queue depth"))
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])

    rules = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "wedraw-alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"WeDrawHighErrorRate", "WeDrawQueueGrowing", "WeDrawBeatSilent"} <= set(alerts)
    for rule in alerts.values():
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        exprs.append(rule["expr"])

    used = set().union(*map(_metric_names, exprs))
    assert used, "no WeDraw metric is used"
    assert used <= exported, f"not exported by wedraw/core/metrics.py: {sorted(used - exported)}"
