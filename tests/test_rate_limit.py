"""60 API requests a minute per client IP; WeChat callbacks are exempt; proxies are trusted only as configured."""

from __future__ import annotations

import pytest

from tests.conftest import build_settings
from wedraw.core.auth import public
from wedraw.core.factory import create_app


@pytest.fixture
def limited(tmp_path, settings):
    """Build a service app with the production default of 60 requests a minute (own limiter store,
    the session's migrated databases)."""
    databases = {f"WEDRAW_{name.upper()}_DATABASE_URL": url for name, url in settings.database_urls.items()}

    def build(service: str, **extra: str):
        overrides = {**databases, "WEDRAW_RATE_LIMIT": "60/minute", **extra}
        return create_app(service, settings=build_settings(tmp_path, **overrides))

    return build


def test_the_61st_request_in_a_minute_gets_429_with_retry_after(limited):
    client = limited("user_center").test_client()
    statuses = [client.get("/api/users").status_code for _ in range(60)]
    assert set(statuses) == {401}  # counted even though unauthenticated
    blocked = client.get("/api/users")
    assert blocked.status_code == 429
    assert blocked.get_json()["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) > 0
    other_ip = client.get("/api/users", environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert other_ip.status_code == 401


def _exhaust_the_api_limit(client) -> None:
    for _ in range(60):
        client.get("/openapi.json")
    assert client.get("/openapi.json").status_code == 429


def test_the_official_account_callback_is_exempt(limited):
    client = limited("wechat_official").test_client()
    _exhaust_the_api_limit(client)
    # An unknown appid is refused by the callback itself (404), never by the rate limit.
    for _ in range(100):
        assert client.post("/api/wechat/callback/wx-unknown", data=b"<xml/>").status_code == 404
    assert client.get("/health").status_code == 200


def test_callback_prefixes_are_exempt_before_any_route_exists(limited):
    app = limited("wecom")

    @public
    def callback(**_):
        return "success"

    if not any(rule.rule.startswith("/api/wecom/callback/") for rule in app.url_map.iter_rules()):
        app.add_url_rule("/api/wecom/callback/<corp>/<agent>", "callback_probe", callback, methods=["POST"])
    client = app.test_client()
    _exhaust_the_api_limit(client)
    for _ in range(100):
        assert client.post("/api/wecom/callback/corp1/1000002", data=b"<xml/>").status_code != 429
    assert client.get("/health").status_code == 200


def test_forwarded_for_is_ignored_unless_behind_the_configured_proxy(limited):
    direct = limited("user_center").test_client()
    for i in range(60):
        direct.get("/api/users", headers={"X-Forwarded-For": f"203.0.113.{i}"})
    assert direct.get("/api/users", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429

    proxied = limited("user_center", WEDRAW_PROXY_COUNT="1").test_client()
    for _ in range(60):
        proxied.get("/api/users", headers={"X-Forwarded-For": "203.0.113.5"})
    assert proxied.get("/api/users", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 429
    assert proxied.get("/api/users", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 401
