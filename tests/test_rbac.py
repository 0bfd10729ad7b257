"""RBAC enumerated from the OpenAPI documents: nothing is open by accident."""

from __future__ import annotations

import re

import pytest

from wedraw.core.auth import ANY_ADMIN, INTERNAL_ATTR, MEMBER_ATTR, PERMISSION_ATTR, PUBLIC_ATTR
from wedraw.core.permissions import BUILTIN_ROLES, PERMISSIONS
from wedraw.core.registry import WEB_SERVICES

WRITE_METHODS = ("post", "put", "patch", "delete")
HTTP_METHODS = ("get", "head", *WRITE_METHODS)


def operations(app, methods=None):
    """(method, concrete path, view) for every operation in the service's OpenAPI document."""
    spec = app.test_client().get("/openapi.json").get_json()
    adapter = app.url_map.bind("localhost")
    for path, item in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in item:
            if method not in HTTP_METHODS or (methods and method not in methods):
                continue
            endpoint, _ = adapter.match(concrete, method=method.upper())
            yield method.upper(), concrete, app.view_functions[endpoint]


def test_every_service_publishes_an_openapi_document(apps):
    for name, app in apps.items():
        spec = app.test_client().get("/openapi.json").get_json()
        assert spec["openapi"].startswith("3."), name
        assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_read_only_gets_403_on_every_write_route_of_every_service(apps, make_user, login):
    _, password = make_user("viewer", roles=("read_only",))
    viewer = login("viewer", password)
    checked = 0
    for name in WEB_SERVICES:
        client = apps[name].test_client()
        for method, path, view in operations(apps[name], WRITE_METHODS):
            if getattr(view, PUBLIC_ATTR, False) or getattr(view, PERMISSION_ATTR, None) == ANY_ADMIN:
                continue  # sign-in and self-service (own password, logout) are for everyone
            if getattr(view, MEMBER_ATTR, False):
                continue  # members' routes: no admin token opens them (test below)
            response = client.open(path, method=method, json={}, headers=viewer.headers)
            assert response.status_code == 403, f"{name} {method} {path} -> {response.status_code}"
            assert response.get_json()["code"] == "forbidden"
            checked += 1
    # The documents must cover every write route the apps really have.
    expected = sum(
        len(rule.methods & {"POST", "PUT", "PATCH", "DELETE"})
        for name in WEB_SERVICES
        for rule in apps[name].url_map.iter_rules()
        if not getattr(apps[name].view_functions[rule.endpoint], PUBLIC_ATTR, False)
        and not getattr(apps[name].view_functions[rule.endpoint], MEMBER_ATTR, False)
        and not getattr(apps[name].view_functions[rule.endpoint], INTERNAL_ATTR, False)
        and getattr(apps[name].view_functions[rule.endpoint], PERMISSION_ATTR, None) != ANY_ADMIN
    )
    assert checked == expected >= 9


def test_member_routes_refuse_admin_tokens_and_ask_for_a_member_token(apps, admin):
    checked = 0
    for name in WEB_SERVICES:
        client = apps[name].test_client()
        for method, path, view in operations(apps[name]):
            if not getattr(view, MEMBER_ATTR, False):
                continue
            response = client.open(path, method=method, json={}, headers=admin.headers)
            assert (response.status_code, response.get_json()["code"]) == (403, "forbidden"), f"{name} {method} {path}"
            assert client.open(path, method=method, json={}).status_code == 401, f"{name} {method} {path}"
            checked += 1
    assert checked >= 10


def test_every_protected_route_answers_401_without_a_token(apps):
    for name in WEB_SERVICES:
        client = apps[name].test_client()
        for method, path, view in operations(apps[name]):
            if getattr(view, PUBLIC_ATTR, False):
                continue
            response = client.open(path, method=method, json={})
            assert response.status_code == 401, f"{name} {method} {path} -> {response.status_code}"


def test_read_only_can_read_what_it_is_granted(client, make_user, login):
    _, password = make_user("reader", roles=("read_only",))
    reader = login("reader", password)
    for path in ("/api/users", "/api/roles", "/api/audit", "/api/auth/sessions", "/api/auth/login-logs"):
        assert client().get(path, headers=reader.headers).status_code == 200, path


def test_every_declared_permission_is_in_the_catalogue(apps):
    for name, app in apps.items():
        for view in app.view_functions.values():
            permission = getattr(view, PERMISSION_ATTR, None)
            assert permission in (None, ANY_ADMIN) or permission in PERMISSIONS, (name, permission)


def test_builtin_roles():
    assert set(BUILTIN_ROLES["super_admin"]["permissions"]) == set(PERMISSIONS)
    assert all(p.endswith(":read") for p in BUILTIN_ROLES["read_only"]["permissions"])
    assert "pii:personal:read" not in BUILTIN_ROLES["read_only"]["permissions"]
    assert not any(p.startswith("user:users") for p in BUILTIN_ROLES["operator"]["permissions"])


@pytest.mark.parametrize(
    ("roles", "expected_phone", "expected_email"),
    [(("super_admin",), "13812341234", "zhangsan@example.com"), (("read_only",), "138****1234", "zh***@example.com")],
)
def test_personal_fields_are_masked_without_the_pii_permission(
    client, make_user, login, roles, expected_phone, expected_email
):
    target, _ = make_user("zhangsan", phone="13812341234", email="zhangsan@example.com")
    _, password = make_user("looker", roles=roles)
    looker = login("looker", password)
    shown = client().get(f"/api/users/{target['id']}", headers=looker.headers).get_json()
    assert shown["phone"] == expected_phone
    assert shown["email"] == expected_email
    listed = client().get("/api/users?q=zhangsan", headers=looker.headers).get_json()["items"][0]
    assert listed["phone"] == expected_phone
