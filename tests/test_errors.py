"""One JSON error format for every error status, and failed requests write nothing."""

from __future__ import annotations

import pytest

from wedraw.core.registry import WEB_SERVICES


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.data[:300]
    assert response.is_json, response.data[:200]
    body = response.get_json()
    assert body["code"] == code
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_malformed_json_is_400(client, admin):
    response = client().post(
        "/api/users", data="{not json", headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "bad_request")


def test_unknown_field_is_422_naming_it(client, admin):
    response = client().post(
        "/api/users", json={"username": "zhang", "password": "Abcdef123", "colour": "red"}, headers=admin.headers
    )
    body = assert_error(response, 422, "validation_error")
    assert "colour" in body["errors"]
    assert "colour" in body["message"]


def test_wrong_type_is_422_naming_it(client, admin):
    response = client().post(
        "/api/users", json={"username": "zhang", "password": "Abcdef123", "role_ids": "all"}, headers=admin.headers
    )
    body = assert_error(response, 422, "validation_error")
    assert "role_ids" in body["errors"]


def test_body_over_one_megabyte_is_413(client, admin):
    payload = '{"username": "' + "x" * (1024 * 1024 + 10) + '"}'
    response = client().post("/api/users", data=payload, headers={**admin.headers, "Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("service", WEB_SERVICES)
def test_unknown_route_is_json_404_in_every_service(client, service):
    assert_error(client(service).get("/api/no-such-thing"), 404, "not_found")


def test_wrong_method_is_json_405(client):
    response = client().delete("/api/auth/login")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_unexpected_error_is_json_500_without_a_trace(settings):
    from wedraw.core.auth import public
    from wedraw.core.factory import create_app

    app = create_app("points_mall", settings=settings)

    @public
    def explode():
        raise RuntimeError("secret internals")

    app.add_url_rule("/api/points/explode", "explode", explode)
    response = app.test_client().get("/api/points/explode")
    body = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in body["message"]


def test_request_id_is_taken_from_the_header(client):
    response = client().get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    hostile = client().get("/health", headers={"X-Request-ID": "<script>" + "x" * 300})
    assert hostile.headers["X-Request-ID"].isalnum()


def test_a_failed_create_writes_nothing(client, admin):
    before = client().get("/api/users", headers=admin.headers).get_json()["total"]
    response = client().post(
        "/api/users", json={"username": "li", "password": "short", "role_ids": [9999]}, headers=admin.headers
    )
    assert response.status_code == 422
    after = client().get("/api/users", headers=admin.headers).get_json()["total"]
    assert after == before


def test_a_failed_update_writes_nothing(client, admin, make_user):
    user, _ = make_user("wang", display_name="Old Name")
    response = client().patch(
        f"/api/users/{user['id']}", json={"display_name": "New Name", "role_ids": [424242]}, headers=admin.headers
    )
    assert response.status_code == 422
    again = client().get(f"/api/users/{user['id']}", headers=admin.headers).get_json()
    assert again["display_name"] == "Old Name"
