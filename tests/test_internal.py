"""Service-to-service routes: only service tokens open them, and they open nothing else."""

from __future__ import annotations

import pytest

from tests.conftest import build_settings
from wedraw.core.auth import internal, requires
from wedraw.core.errors import ApiError
from wedraw.core.factory import create_app
from wedraw.core.internal import call_service, service_token


@pytest.fixture
def points_app(settings):
    app = create_app("points_mall", settings=settings)

    @internal
    def balance(member_id):
        from flask import g

        return {"member_id": member_id, "asked_by": g.caller_service}

    @requires("points:accounts:read")
    def admin_view():
        return {"ok": True}

    app.add_url_rule("/internal/points/balance/<int:member_id>", "internal_balance", balance)
    app.add_url_rule("/api/points/admin-probe", "admin_probe", admin_view)
    return app


def test_a_service_token_opens_internal_routes_only(points_app, settings):
    client = points_app.test_client()
    token = {"Authorization": f"Bearer {service_token(settings, 'wechat_official')}"}
    response = client.get("/internal/points/balance/7", headers=token)
    assert response.status_code == 200
    assert response.get_json() == {"member_id": 7, "asked_by": "wechat_official"}
    assert client.get("/api/points/admin-probe", headers=token).status_code == 403


def test_admin_tokens_and_no_tokens_are_refused(points_app, admin):
    client = points_app.test_client()
    assert client.get("/internal/points/balance/7", headers=admin.headers).status_code == 403
    assert client.get("/internal/points/balance/7").status_code == 401


def test_a_token_signed_with_another_secret_is_refused(points_app, tmp_path):
    other = build_settings(tmp_path, WEDRAW_JWT_SECRET="x" * 40)
    token = {"Authorization": f"Bearer {service_token(other, 'wechat_official')}"}
    assert points_app.test_client().get("/internal/points/balance/7", headers=token).status_code == 401


def test_call_service_over_http(points_app, serve, tmp_path, settings):
    url = serve(points_app)
    caller_settings = build_settings(tmp_path, WEDRAW_POINTS_MALL_URL=url)
    body = call_service(
        "points_mall", "GET", "/internal/points/balance/42", settings=caller_settings, caller="message_center"
    )
    assert body == {"member_id": 42, "asked_by": "message_center"}
    with pytest.raises(ApiError) as missing:
        call_service("points_mall", "GET", "/internal/points/nope", settings=caller_settings, caller="x")
    assert missing.value.code == 404
    down = build_settings(tmp_path, WEDRAW_POINTS_MALL_URL="http://127.0.0.1:9")
    with pytest.raises(ApiError) as unreachable:
        call_service("points_mall", "GET", "/internal/points/balance/1", settings=down, caller="x", timeout=2)
    assert unreachable.value.code == 503
