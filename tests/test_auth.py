"""Sign-in, refresh, logout, sessions, password changes and disabled users."""

from __future__ import annotations

from tests.conftest import ADMIN_PASSWORD
from wedraw.core.auth import public, requires
from wedraw.core.factory import create_app
from wedraw.core.registry import SERVICES, WEB_SERVICES


def test_login_returns_tokens_and_me_lists_roles_and_permissions(client, admin):
    assert admin.tokens["token_type"] == "Bearer"
    assert admin.tokens["expires_in"] == 15 * 60
    me = client().get("/api/auth/me", headers=admin.headers).get_json()
    assert me["username"] == "admin"
    assert me["roles"] == ["super_admin"]
    assert "user:users:write" in me["permissions"]
    assert "pii:personal:read" in me["permissions"]


def test_wrong_password_and_unknown_user_get_the_same_401(client):
    bad_password = client().post("/api/auth/login", json={"username": "admin", "password": "nope-123456"})
    unknown = client().post("/api/auth/login", json={"username": "ghost", "password": "nope-123456"})
    assert bad_password.status_code == unknown.status_code == 401
    assert bad_password.get_json()["message"] == unknown.get_json()["message"]


def test_the_password_is_never_returned_or_stored_plain(client, admin, apps):
    created = client().post("/api/users", json={"username": "zhou", "password": "Plaintext-99"}, headers=admin.headers)
    assert "password" not in created.get_data(as_text=True).lower()
    from wedraw.user_center.models import AdminUser, db

    with apps["user_center"].app_context():
        stored = db.session.query(AdminUser).filter_by(username="zhou").one().password_hash
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "Plaintext-99" not in stored


def test_refresh_gives_a_new_working_access_token(client, admin):
    response = client().post("/api/auth/refresh", headers={"Authorization": f"Bearer {admin.refresh}"})
    assert response.status_code == 200
    access = response.get_json()["access_token"]
    assert client().get("/api/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200


def test_an_access_token_cannot_refresh_and_a_refresh_token_cannot_call_apis(client, admin):
    assert client().post("/api/auth/refresh", headers=admin.headers).status_code == 401
    assert client().get("/api/auth/me", headers={"Authorization": f"Bearer {admin.refresh}"}).status_code == 401


def test_missing_and_garbage_tokens_are_401(client):
    assert client().get("/api/users").status_code == 401
    response = client().get("/api/users", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def _probe_apps(settings):
    """Every web service with one protected read route, to show the shared check at work."""
    probes = {}
    for name in WEB_SERVICES:
        app = create_app(name, settings=settings)

        @requires("user:users:read")
        def probe():
            return {"ok": True}

        prefix = SERVICES[name].prefixes[0]
        app.add_url_rule(f"{prefix}/__probe", "probe", probe)
        probes[name] = (app.test_client(), f"{prefix}/__probe")
    return probes


def test_a_logged_out_token_is_rejected_by_every_service(client, admin, settings):
    probes = _probe_apps(settings)
    for name, (probe_client, path) in probes.items():
        assert probe_client.get(path, headers=admin.headers).status_code == 200, name
    assert client().post("/api/auth/logout", headers=admin.headers).status_code == 204
    for name, (probe_client, path) in probes.items():
        response = probe_client.get(path, headers=admin.headers)
        assert response.status_code == 401, name
        assert response.get_json()["message"] == "The token has been revoked."
    refreshed = client().post("/api/auth/refresh", headers={"Authorization": f"Bearer {admin.refresh}"})
    assert refreshed.status_code == 401


def test_a_disabled_users_token_stops_working_and_they_cannot_log_in(client, admin, make_user, login, settings):
    user, password = make_user("chen", roles=("read_only",))
    session = login("chen", password)
    probes = _probe_apps(settings)
    assert client().get("/api/users", headers=session.headers).status_code == 200
    assert client().post(f"/api/users/{user['id']}/disable", headers=admin.headers).status_code == 200
    assert client().get("/api/users", headers=session.headers).status_code == 401
    for name, (probe_client, path) in probes.items():
        assert probe_client.get(path, headers=session.headers).status_code == 401, name
    refused = client().post("/api/auth/login", json={"username": "chen", "password": password})
    assert refused.status_code == 401
    assert client().post("/api/auth/refresh", headers={"Authorization": f"Bearer {session.refresh}"}).status_code == 401
    assert client().post(f"/api/users/{user['id']}/enable", headers=admin.headers).status_code == 200
    assert login("chen", password).access


def test_changing_a_password_ends_the_users_other_sessions(client, login):
    laptop = login()
    phone = login()
    response = client().post(
        "/api/auth/password",
        json={"old_password": ADMIN_PASSWORD, "new_password": "Brand-new-2027"},
        headers=laptop.headers,
    )
    assert response.status_code == 204
    assert client().get("/api/auth/me", headers=phone.headers).status_code == 401
    assert client().get("/api/auth/me", headers=laptop.headers).status_code == 200
    assert login("admin", "Brand-new-2027").access


def test_a_wrong_current_password_changes_nothing(client, admin, login):
    response = client().post(
        "/api/auth/password", json={"old_password": "wrong", "new_password": "Brand-new-2027"}, headers=admin.headers
    )
    assert response.status_code == 422
    assert login("admin", ADMIN_PASSWORD).access


def test_reset_password_by_an_admin_ends_every_session_of_that_user(client, admin, make_user, login):
    user, password = make_user("sun")
    session = login("sun", password)
    response = client().post(
        f"/api/users/{user['id']}/reset-password", json={"password": "Reset-pass-1"}, headers=admin.headers
    )
    assert response.status_code == 204
    assert client().get("/api/auth/me", headers=session.headers).status_code == 401
    assert login("sun", "Reset-pass-1").access


def test_weak_passwords_are_refused(client, admin):
    response = client().post("/api/users", json={"username": "weak", "password": "abcdefgh"}, headers=admin.headers)
    assert response.status_code == 422
    assert "password" in response.get_json()["errors"]


def test_five_failed_logins_a_minute_per_account_and_ip_then_429(client, apps):
    uc = client()
    for _ in range(5):
        assert uc.post("/api/auth/login", json={"username": "admin", "password": "bad-1234"}).status_code == 401
    blocked = uc.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    other_ip = uc.post(
        "/api/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert other_ip.status_code == 200


def test_sessions_are_listed_and_a_super_admin_can_end_any(client, admin, make_user, login):
    _, password = make_user("hexu", roles=("operator",))
    theirs = login("hexu", password)
    listing = client().get("/api/auth/sessions", headers=admin.headers).get_json()
    mine = [s for s in listing["items"] if s["current"]]
    assert len(mine) == 1 and mine[0]["username"] == "admin"
    target = next(s for s in listing["items"] if s["username"] == "hexu")
    assert client().delete(f"/api/auth/sessions/{target['id']}", headers=admin.headers).status_code == 204
    assert client().get("/api/auth/me", headers=theirs.headers).status_code == 401
    assert client().delete("/api/auth/sessions/nope", headers=admin.headers).status_code == 404


def test_login_log_records_successes_and_failures(client, admin):
    client().post("/api/auth/login", json={"username": "admin", "password": "bad-1234"})
    logs = client().get("/api/auth/login-logs?username=admin", headers=admin.headers).get_json()
    assert [entry["success"] for entry in logs["items"][:2]] == [False, True]
    failures = client().get("/api/auth/login-logs?success=false", headers=admin.headers).get_json()
    assert failures["total"] == 1 and failures["items"][0]["reason"] == "bad_credentials"


def test_a_member_kind_token_opens_no_admin_route(client, apps):
    from flask_jwt_extended import create_access_token

    with apps["user_center"].app_context():
        token = create_access_token(identity="1", additional_claims={"kind": "member", "perms": ["user:users:read"]})
    assert client().get("/api/users", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_public_marker_is_required_for_routes_without_permission(settings):
    app = create_app("points_mall", settings=settings)

    def undeclared():
        return "open?"

    app.add_url_rule("/api/points/undeclared", "undeclared", undeclared)
    from wedraw.core.auth import assert_routes_declared

    try:
        assert_routes_declared(app)
    except RuntimeError as exc:
        assert "/api/points/undeclared" in str(exc)
    else:
        raise AssertionError("an undeclared route was accepted")
    assert public(undeclared) is undeclared


def test_logout_with_only_the_refresh_token_ends_the_session(client, login):
    session = login()
    response = client().post("/api/auth/logout", json={"refresh_token": session.refresh})
    assert response.status_code == 204
    assert client().get("/api/auth/me", headers=session.headers).status_code == 401
    assert client().post("/api/auth/logout", json={"refresh_token": "garbage"}).status_code == 401
    assert client().post("/api/auth/logout", json={}).status_code == 401
