"""User center HTTP API: thin views, schema in, one service call, schema out."""

from __future__ import annotations

from flask import request
from flask_smorest import Api, Blueprint

from wedraw.core.audit import set_target
from wedraw.core.auth import (
    authenticated,
    current_identity,
    public,
    requires,
    session_ids_from,
    verify_refresh_token,
)
from wedraw.core.pagination import page_of
from wedraw.core.permissions import PERMISSIONS, describe
from wedraw.user_center import schemas as s
from wedraw.user_center import services

auth_blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Sign-in, tokens, sessions")
users_blp = Blueprint("users", __name__, url_prefix="/api/users", description="Admin users")
roles_blp = Blueprint("roles", __name__, url_prefix="/api/roles", description="Roles and permissions")
audit_blp = Blueprint("audit", __name__, url_prefix="/api/audit", description="Audit log")


def _client() -> tuple[str | None, str | None]:
    return request.remote_addr, request.headers.get("User-Agent")


# ---------------------------------------------------------------- auth


@auth_blp.route("/login", methods=["POST"])
@auth_blp.arguments(s.LoginSchema)
@auth_blp.response(200, s.TokenSchema)
@auth_blp.alt_response(401, description="Wrong credentials or disabled account")
@auth_blp.alt_response(429, description="Too many failed logins")
@auth_blp.doc(security=[])
@public
def login(body):
    try:
        return services.login(body["username"], body["password"], *_client())
    except services.RateLimited as exc:
        from wedraw.core.errors import error_response

        return error_response(429, exc.error_code, exc.description, headers=[("Retry-After", str(exc.retry_after))])


@auth_blp.route("/refresh", methods=["POST"])
@auth_blp.response(200, s.TokenSchema)
@auth_blp.doc(security=[])
@public
def refresh():
    claims = verify_refresh_token()
    return services.refresh(int(claims["sub"]), claims["sid"])


@auth_blp.route("/logout", methods=["POST"])
@auth_blp.arguments(s.LogoutSchema, required=False)
@auth_blp.response(204)
@auth_blp.doc(security=[])
@public
def logout(body):
    """Ends the session of the access token in the header and/or the refresh token in the body.

    Public so that a console whose access token already expired can still end its session.
    """
    services.logout(session_ids_from(body.get("refresh_token")))


@auth_blp.route("/me", methods=["GET"])
@auth_blp.response(200, s.MeSchema)
@authenticated
def me():
    return services.get_me(current_identity()["user_id"])


@auth_blp.route("/password", methods=["POST"])
@auth_blp.arguments(s.ChangePasswordSchema)
@auth_blp.response(204)
@authenticated
def change_password(body):
    identity = current_identity()
    set_target(f"user:{identity['user_id']}")
    services.change_own_password(
        identity["user_id"], body["old_password"], body["new_password"], identity["session_id"]
    )


@auth_blp.route("/login-logs", methods=["GET"])
@auth_blp.arguments(s.LoginLogQuerySchema, location="query")
@auth_blp.response(200, page_of(s.LoginLogSchema))
@requires("user:sessions:read")
def login_logs(args):
    return services.list_login_logs(args.get("username"), args.get("success"), args["page"], args["page_size"])


@auth_blp.route("/sessions", methods=["GET"])
@auth_blp.arguments(s.SessionQuerySchema, location="query")
@auth_blp.response(200, page_of(s.SessionSchema))
@requires("user:sessions:read")
def sessions(args):
    sid = current_identity()["session_id"]
    return services.list_sessions(args.get("username"), args["page"], args["page_size"], sid)


@auth_blp.route("/sessions/<string:session_id>", methods=["DELETE"])
@auth_blp.response(204)
@requires("user:sessions:write")
def end_session(session_id):
    set_target(f"session:{session_id}")
    services.end_session(session_id)


# ---------------------------------------------------------------- users


@users_blp.route("", methods=["GET"])
@users_blp.arguments(s.UserQuerySchema, location="query")
@users_blp.response(200, page_of(s.UserSchema))
@requires("user:users:read")
def list_users(args):
    return services.list_users(args.get("q"), args.get("status"), args["page"], args["page_size"])


@users_blp.route("", methods=["POST"])
@users_blp.arguments(s.UserCreateSchema)
@users_blp.response(201, s.UserSchema)
@requires("user:users:write")
def create_user(body):
    user = services.create_user(body)
    set_target(f"user:{user.id}")
    return user


@users_blp.route("/<id:user_id>", methods=["GET"])
@users_blp.response(200, s.UserSchema)
@requires("user:users:read")
def get_user(user_id):
    return services.get_user(user_id)


@users_blp.route("/<id:user_id>", methods=["PATCH"])
@users_blp.arguments(s.UserUpdateSchema)
@users_blp.response(200, s.UserSchema)
@requires("user:users:write")
def update_user(body, user_id):
    set_target(f"user:{user_id}")
    return services.update_user(user_id, body)


@users_blp.route("/<id:user_id>/disable", methods=["POST"])
@users_blp.response(200, s.UserSchema)
@requires("user:users:write")
def disable_user(user_id):
    set_target(f"user:{user_id}")
    return services.set_user_status(user_id, "disabled", current_identity()["user_id"])


@users_blp.route("/<id:user_id>/enable", methods=["POST"])
@users_blp.response(200, s.UserSchema)
@requires("user:users:write")
def enable_user(user_id):
    set_target(f"user:{user_id}")
    return services.set_user_status(user_id, "active", current_identity()["user_id"])


@users_blp.route("/<id:user_id>/reset-password", methods=["POST"])
@users_blp.arguments(s.PasswordSchema)
@users_blp.response(204)
@requires("user:users:write")
def reset_password(body, user_id):
    set_target(f"user:{user_id}")
    services.reset_password(user_id, body["password"])


# ---------------------------------------------------------------- roles


@roles_blp.route("", methods=["GET"])
@roles_blp.arguments(s.RoleQuerySchema, location="query")
@roles_blp.response(200, page_of(s.RoleSchema))
@requires("user:roles:read")
def list_roles(args):
    return services.list_roles(args.get("q"), args["page"], args["page_size"])


@roles_blp.route("/permissions", methods=["GET"])
@roles_blp.response(200, s.PermissionSchema(many=True))
@requires("user:roles:read")
def list_permissions():
    return [describe(code) for code in PERMISSIONS]


@roles_blp.route("", methods=["POST"])
@roles_blp.arguments(s.RoleCreateSchema)
@roles_blp.response(201, s.RoleSchema)
@requires("user:roles:write")
def create_role(body):
    role = services.create_role(body)
    set_target(f"role:{role.id}")
    return role


@roles_blp.route("/<id:role_id>", methods=["GET"])
@roles_blp.response(200, s.RoleSchema)
@requires("user:roles:read")
def get_role(role_id):
    return services.get_role(role_id)


@roles_blp.route("/<id:role_id>", methods=["PATCH"])
@roles_blp.arguments(s.RoleUpdateSchema)
@roles_blp.response(200, s.RoleSchema)
@requires("user:roles:write")
def update_role(body, role_id):
    set_target(f"role:{role_id}")
    return services.update_role(role_id, body)


@roles_blp.route("/<id:role_id>", methods=["DELETE"])
@roles_blp.response(204)
@requires("user:roles:write")
def delete_role(role_id):
    set_target(f"role:{role_id}")
    services.delete_role(role_id)


# ---------------------------------------------------------------- audit


@audit_blp.route("", methods=["GET"])
@audit_blp.arguments(s.AuditQuerySchema, location="query")
@audit_blp.response(200, page_of(s.AuditSchema))
@requires("user:audit:read")
def search_audit(args):
    return services.search_audit(args)


def register(app, api: Api) -> None:
    for blp in (auth_blp, users_blp, roles_blp, audit_blp):
        api.register_blueprint(blp)
