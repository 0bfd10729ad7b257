"""Admin users and roles: search, pagination, validation, built-in roles."""

from __future__ import annotations


def test_users_search_and_pagination(client, admin, make_user):
    for i in range(25):
        make_user(f"staff{i:02d}", display_name=f"员工{i:02d}")
    first = client().get("/api/users?q=staff&page=1&page_size=10", headers=admin.headers).get_json()
    assert first["total"] == 25 and len(first["items"]) == 10 and first["page"] == 1
    last = client().get("/api/users?q=staff&page=3&page_size=10", headers=admin.headers).get_json()
    assert [u["username"] for u in last["items"]] == [f"staff{i:02d}" for i in range(20, 25)]
    by_name = client().get("/api/users?q=员工07", headers=admin.headers).get_json()
    assert [u["username"] for u in by_name["items"]] == ["staff07"]
    too_big = client().get("/api/users?page_size=1000", headers=admin.headers)
    assert too_big.status_code == 422


def test_duplicate_username_is_409(client, admin, make_user):
    make_user("twin")
    again = client().post("/api/users", json={"username": "twin", "password": "Passw0rd-x"}, headers=admin.headers)
    assert again.status_code == 409


def test_filter_by_status(client, admin, make_user):
    user, _ = make_user("leaver")
    client().post(f"/api/users/{user['id']}/disable", headers=admin.headers)
    disabled = client().get("/api/users?status=disabled", headers=admin.headers).get_json()
    assert [u["username"] for u in disabled["items"]] == ["leaver"]


def test_an_admin_cannot_disable_themselves(client, admin):
    me = client().get("/api/auth/me", headers=admin.headers).get_json()
    assert client().post(f"/api/users/{me['id']}/disable", headers=admin.headers).status_code == 409


def test_custom_role_lifecycle(client, admin, make_user, login):
    created = client().post(
        "/api/roles",
        json={"name": "积分运营", "description": "points only", "permissions": ["points:orders:read"]},
        headers=admin.headers,
    )
    assert created.status_code == 201
    role = created.get_json()
    assert role["builtin"] is False and role["permissions"] == ["points:orders:read"]

    updated = client().patch(
        f"/api/roles/{role['id']}",
        json={"permissions": ["points:orders:read", "user:users:read"]},
        headers=admin.headers,
    )
    assert updated.get_json()["permissions"] == ["points:orders:read", "user:users:read"]

    uc = client()
    user = uc.post(
        "/api/users",
        json={"username": "pointsop", "password": "Passw0rd-p", "role_ids": [role["id"]]},
        headers=admin.headers,
    ).get_json()
    session = login("pointsop", "Passw0rd-p")
    assert uc.get("/api/users", headers=session.headers).status_code == 200
    assert uc.get("/api/roles", headers=session.headers).status_code == 403

    assert uc.delete(f"/api/roles/{role['id']}", headers=admin.headers).status_code == 409  # still assigned
    uc.patch(f"/api/users/{user['id']}", json={"role_ids": []}, headers=admin.headers)
    assert uc.delete(f"/api/roles/{role['id']}", headers=admin.headers).status_code == 204


def test_unknown_permissions_are_rejected(client, admin):
    response = client().post(
        "/api/roles", json={"name": "bad", "permissions": ["root:everything"]}, headers=admin.headers
    )
    assert response.status_code == 422
    assert "permissions" in response.get_json()["errors"]


def test_builtin_roles_cannot_be_changed_or_deleted(client, admin):
    roles = client().get("/api/roles", headers=admin.headers).get_json()["items"]
    builtin = {r["name"]: r for r in roles if r["builtin"]}
    assert set(builtin) == {"super_admin", "operator", "read_only"}
    ro = builtin["read_only"]
    assert client().patch(f"/api/roles/{ro['id']}", json={"permissions": []}, headers=admin.headers).status_code == 409
    assert client().delete(f"/api/roles/{ro['id']}", headers=admin.headers).status_code == 409


def test_permission_catalogue_is_listed(client, admin):
    catalogue = client().get("/api/roles/permissions", headers=admin.headers).get_json()
    codes = {p["code"] for p in catalogue}
    assert {"user:users:read", "wechat:fans:write", "pii:personal:read"} <= codes
    assert all(p["code"].count(":") == 2 for p in catalogue)


def test_seeding_brings_the_stored_built_in_roles_up_to_date(apps, client, admin):
    from wedraw.core.permissions import BUILTIN_ROLES
    from wedraw.user_center.models import Role, db
    from wedraw.user_center.services import ensure_admin

    with apps["user_center"].app_context():  # as an earlier release stored it
        role = db.session.execute(db.select(Role).where(Role.name == "read_only")).scalar_one()
        role.description, role.permissions = "Reads everything it is granted, changes nothing", ["user:users:read"]
        db.session.commit()
        ensure_admin(None)  # what `make seed` runs
    roles = client().get("/api/roles", headers=admin.headers).get_json()["items"]
    stored = next(r for r in roles if r["name"] == "read_only")
    assert stored["description"] == BUILTIN_ROLES["read_only"]["description"] == "只读：查看被授予的内容，不做任何修改"
    assert sorted(stored["permissions"]) == sorted(BUILTIN_ROLES["read_only"]["permissions"])


def test_changing_a_users_roles_ends_their_sessions(client, admin, make_user, login):
    user, password = make_user("mover", roles=("operator",))
    session = login("mover", password)
    client().patch(f"/api/users/{user['id']}", json={"role_ids": []}, headers=admin.headers)
    assert client().get("/api/auth/me", headers=session.headers).status_code == 401


def test_patch_is_partial_and_an_empty_string_clears(client, admin, make_user):
    user, _ = make_user("partial", display_name="部分", phone="13900001111", email="p@example.com")
    response = client().patch(f"/api/users/{user['id']}", json={"phone": ""}, headers=admin.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["phone"] is None and body["email"] == "p@example.com" and body["display_name"] == "部分"
    bad = client().patch(f"/api/users/{user['id']}", json={"email": "not-an-email"}, headers=admin.headers)
    assert bad.status_code == 422 and "email" in bad.get_json()["errors"]


def test_audit_accepts_utc_iso_filters_from_the_console(client, admin, make_user):
    make_user("timed")
    rows = (
        client()
        .get("/api/audit?start=2000-01-01T00:00:00.000Z&end=2999-01-01T00:00:00.000Z", headers=admin.headers)
        .get_json()
    )
    assert rows["total"] == 1
    none = client().get("/api/audit?end=2000-01-01T00:00:00.000Z", headers=admin.headers).get_json()
    assert none["total"] == 0


def test_a_role_rename_that_conflicts_ends_no_session(client, admin, make_user, login):
    first = client().post("/api/roles", json={"name": "alpha", "permissions": []}, headers=admin.headers).get_json()
    second = (
        client()
        .post("/api/roles", json={"name": "beta", "permissions": ["user:users:read"]}, headers=admin.headers)
        .get_json()
    )
    user, password = make_user("member", roles=("beta",))
    session = login("member", password)
    response = client().patch(
        f"/api/roles/{second['id']}", json={"name": "alpha", "permissions": []}, headers=admin.headers
    )
    assert response.status_code == 409
    assert client().get("/api/users", headers=session.headers).status_code == 200
    assert first["id"] != second["id"] and user["roles"][0]["name"] == "beta"
