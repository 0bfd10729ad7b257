"""The layout through Nginx: health, docs, sign-in, the per-IP limit, metrics, the real worker and beat."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.conftest import client_from, log_lines, metric_value
from wedraw.core.registry import SERVICES, WEB_SERVICES


def test_every_program_runs_and_every_service_is_healthy_through_nginx(layout):
    states = layout.stack.status()
    assert states and all(state == "RUNNING" for state in states.values()), states
    for name in WEB_SERVICES:
        assert f"wedraw-{name}" in states
    assert "wedraw-beat" in states and "wedraw-nginx" in states
    body = layout.wait_healthy()
    assert set(body["services"]) == set(WEB_SERVICES) - {"gateway"}
    for name, result in body["services"].items():
        assert result["status"] == "ok", (name, result)
        assert result["database"] == "ok", (name, result)


def test_gateway_docs_list_every_service(layout):
    web = layout.client()
    page = web.get(f"{layout.url}/docs", timeout=10)
    assert page.status_code == 200 and "swagger-ui" in page.text
    for name in WEB_SERVICES:
        if name == "gateway":
            continue
        assert f"/docs/specs/{name}.json" in page.text
        spec = web.get(f"{layout.url}/docs/specs/{name}.json", timeout=10)
        assert spec.status_code == 200, (name, spec.text)
        assert spec.json()["info"]["title"] == f"WeDraw {SERVICES[name].title}"
    assert web.get(f"{layout.url}/docs/assets/swagger-ui-bundle.js", timeout=10).status_code == 200


def test_login_through_nginx_with_forwarded_headers_trusted_only_from_nginx(layout):
    (ip,) = layout.addresses(1)
    web = client_from(ip)
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    response = web.post(
        f"{layout.url}/api/auth/login",
        json={"username": "admin", "password": layout.admin_password},
        # A client claiming to be someone else: Nginx appends the real address, the app takes that.
        headers={"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.66"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == request_id
    me = web.get(f"{layout.url}/api/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "admin"
    wrong = web.post(f"{layout.url}/api/auth/login", json={"username": "admin", "password": "not-it"}, timeout=10)
    assert wrong.status_code == 401

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log_lines(layout, "wedraw-user_center") if request_id in line]
        if lines:
            break
        time.sleep(0.2)
    access = [line for line in lines if line.get("logger") == "wedraw.access"]
    assert access and access[0]["ip"] == ip and access[0]["path"] == "/api/auth/login"


def test_the_61st_request_in_a_minute_is_refused_by_nginx_while_callbacks_answer(layout):
    (ip,) = layout.addresses(1)
    key = {"service": "user_center", "method": "GET", "route": "/api/users", "status": "401"}
    reached_before = metric_value(layout.metrics("user_center"), "wedraw_http_requests_total", **key)
    web = client_from(ip)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: web.get(f"{layout.url}/api/users", timeout=10), range(61)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 60 + [429], statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["code"] == "rate_limited" and refused.headers["Retry-After"] == "60"
    assert "X-RateLimit-Limit" not in refused.headers  # not the app's limiter: Nginx's
    # Exactly 60 reached the user center: the 61st stopped at Nginx.
    reached = metric_value(layout.metrics("user_center"), "wedraw_http_requests_total", **key) - reached_before
    assert reached == 60

    # The same address is still refused on /api/, but WeChat's callback route keeps answering.
    assert web.get(f"{layout.url}/api/roles", timeout=10).status_code == 429
    callback = "/api/wechat/callback/wx-e2e"
    before = metric_value(layout.metrics("wechat_official"), "wedraw_http_requests_total", service="wechat_official")
    answers = [web.post(f"{layout.url}{callback}", data="<xml></xml>", timeout=10) for _ in range(80)]
    assert all(a.status_code not in (429, 502, 503, 504) for a in answers), {a.status_code for a in answers}
    after = metric_value(layout.metrics("wechat_official"), "wedraw_http_requests_total", service="wechat_official")
    assert after - before == 80  # every one reached the Official Account service


def test_metrics_count_the_requests_this_test_made(layout):
    (ip,) = layout.addresses(1)
    headers = layout.login(ip)
    key = {"service": "user_center", "method": "GET", "route": "/api/roles", "status": "200"}
    before = metric_value(layout.metrics("user_center"), "wedraw_http_requests_total", **key)
    web = client_from(ip)
    for _ in range(7):
        assert web.get(f"{layout.url}/api/roles", headers=headers, timeout=10).status_code == 200
    # Two gunicorn workers answered; every scrape (whichever worker serves it) sees the sum.
    counts = [
        metric_value(layout.metrics("user_center"), "wedraw_http_requests_total", **key) - before for _ in range(5)
    ]
    assert counts == [7] * 5
    latency = metric_value(layout.metrics("user_center"), "wedraw_http_request_duration_seconds_count", **key)
    assert latency - before >= 7

    assert client_from("127.0.0.2").get(f"{layout.url}/metrics/user_center", timeout=10).status_code == 403
    assert client_from("127.0.0.1").get(f"{layout.url}/metrics", timeout=10).status_code == 403


def test_the_real_worker_runs_tasks_and_the_gateway_reports_queues_and_beat(layout):
    task = {"service": "user_center", "task": "user_center.prune_sessions", "outcome": "success"}
    before = metric_value(layout.metrics("user_center"), "wedraw_celery_tasks_total", **task)
    layout.send_task("user_center.prune_sessions", queue="user_center")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if metric_value(layout.metrics("user_center"), "wedraw_celery_tasks_total", **task) > before:
            break
        time.sleep(0.3)
    assert metric_value(layout.metrics("user_center"), "wedraw_celery_tasks_total", **task) == before + 1

    gateway = layout.metrics("gateway")
    assert metric_value(gateway, "wedraw_celery_broker_up") == 1
    assert 'wedraw_celery_queue_length{queue="user_center"}' in gateway
    heartbeat = metric_value(gateway, "wedraw_celery_beat_heartbeat_timestamp_seconds")
    assert time.time() - heartbeat < 300, "beat has not ticked since it started"
