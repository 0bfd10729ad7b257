"""Authentication and RBAC shared by every service.

Every view is either declared public (`@public`) or names the permission it needs
(`@requires("area:thing:read")`). One `before_request` hook enforces that for every
blueprint, and the factory refuses to build an app with an undeclared route, so no
route can be open by accident.

Members (the people who use the Mini Program and the H5 pages) are not admins: their
routes are declared `@member_required` and need a *member token* (`kind` "member",
audience "wedraw-member", issued by the miniprogram service at login). A member token
opens no admin route (403) and an admin token opens no member route (403).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, request
from flask_jwt_extended import JWTManager, get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from wedraw.core.errors import ApiError
from wedraw.core.permissions import PERMISSIONS, PII_READ
from wedraw.core.store import store_for

F = TypeVar("F", bound=Callable)

ADMIN = "admin"
SERVICE = "service"
MEMBER = "member"
MEMBER_AUDIENCE = "wedraw-member"
PUBLIC_ATTR = "_wedraw_public"
INTERNAL_ATTR = "_wedraw_internal"
PERMISSION_ATTR = "_wedraw_permission"
MEMBER_ATTR = "_wedraw_member"
# Endpoints that Flask or flask-smorest add for their own documents.
_FRAMEWORK_ENDPOINTS = ("static", "api-docs.")


def public(fn: F) -> F:
    """Mark a view as reachable without a token (health, login, WeChat callbacks)."""
    setattr(fn, PUBLIC_ATTR, True)
    return fn


def requires(permission: str) -> Callable[[F], F]:
    """Declare the permission a view needs; enforced by the app-wide hook."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def mark(fn: F) -> F:
        setattr(fn, PERMISSION_ATTR, permission)
        return fn

    return mark


ANY_ADMIN = "authenticated"


def authenticated(fn: F) -> F:
    """Any signed-in admin may call this view (their own profile, logout, password)."""
    setattr(fn, PERMISSION_ATTR, ANY_ADMIN)
    return fn


def internal(fn: F) -> F:
    """Only other WeDraw services may call this view (service token, see wedraw.core.internal).

    Internal routes live under /internal/..., which Nginx does not route from outside.
    """
    setattr(fn, INTERNAL_ATTR, True)
    return fn


def member_required(fn: F) -> F:
    """Only members may call this view: a member token is required (admin and service tokens get 403).

    The verified claims are `current_member()`: `sub` (member id), `mkey` (the member key
    that names the member across channels) and the login's `appid`/`openid`.
    """
    setattr(fn, MEMBER_ATTR, True)
    return fn


def _view_attr(view, attr):
    value = getattr(view, attr, None)
    if value is None and hasattr(view, "view_class"):
        method = getattr(view.view_class, request.method.lower(), None)
        value = getattr(method, attr, None)
    return value


def revoked_session_key(sid: str) -> str:
    return f"revoked-session:{sid}"


def current_identity() -> dict | None:
    return getattr(g, "identity", None)


def current_member() -> dict | None:
    """The verified member token claims of this request (on `@member_required` views)."""
    return getattr(g, "member", None)


def has_permission(permission: str) -> bool:
    identity = current_identity()
    return bool(identity) and permission in identity["permissions"]


def can_see_pii() -> bool:
    return has_permission(PII_READ)


def _authenticate() -> dict:
    try:
        verify_jwt_in_request()
    except (JWTExtendedException, PyJWTError) as exc:
        raise ApiError(401, _token_problem(exc), "unauthorized") from None
    claims = get_jwt()
    if claims.get("kind") != ADMIN:
        raise ApiError(403, "This token is not an admin token.", "forbidden")
    return {
        "user_id": int(claims["sub"]),
        "username": claims.get("username"),
        "session_id": claims.get("sid"),
        "roles": claims.get("roles", []),
        "permissions": frozenset(claims.get("perms", [])),
    }


def _authenticate_service() -> str:
    try:
        verify_jwt_in_request()
    except (JWTExtendedException, PyJWTError) as exc:
        raise ApiError(401, _token_problem(exc), "unauthorized") from None
    claims = get_jwt()
    if claims.get("kind") != SERVICE:
        raise ApiError(403, "Only WeDraw services may call this route.", "forbidden")
    return claims["sub"]


def _authenticate_member() -> dict:
    try:
        verify_jwt_in_request()
    except (JWTExtendedException, PyJWTError) as exc:
        raise ApiError(401, _token_problem(exc), "unauthorized") from None
    claims = get_jwt()
    if claims.get("kind") != MEMBER or claims.get("aud") != MEMBER_AUDIENCE or not claims.get("mkey"):
        raise ApiError(403, "This route is for members: it needs a member token.", "forbidden")
    return claims


def verify_refresh_token() -> dict:
    """Claims of a valid, unrevoked admin refresh token from the Authorization header."""
    try:
        verify_jwt_in_request(refresh=True)
    except (JWTExtendedException, PyJWTError) as exc:
        raise ApiError(401, _token_problem(exc), "unauthorized") from None
    claims = get_jwt()
    if claims.get("kind") != ADMIN:
        raise ApiError(401, "This token is not an admin refresh token.", "unauthorized")
    return claims


def session_ids_from(refresh_token: str | None) -> set[str]:
    """Session ids of a valid access token in the header and/or a refresh token; 401 if none."""
    from flask_jwt_extended import decode_token

    sids: set[str] = set()
    try:
        if verify_jwt_in_request(optional=True) and get_jwt().get("kind") == ADMIN:
            sids.add(get_jwt()["sid"])
    except (JWTExtendedException, PyJWTError):
        pass
    if refresh_token:
        try:
            claims = decode_token(refresh_token)
            if claims.get("type") == "refresh" and claims.get("kind") == ADMIN:
                sids.add(claims["sid"])
        except (JWTExtendedException, PyJWTError):
            pass
    if not sids:
        raise ApiError(401, "No valid token to log out with.", "unauthorized")
    return sids


def _token_problem(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "ExpiredSignatureError":
        return "The token has expired."
    if name == "RevokedTokenError":
        return "The token has been revoked."
    if name == "NoAuthorizationError":
        return "Missing bearer token."
    return "The token is invalid."


def enforce_access():
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is None or request.method == "OPTIONS":
        return None  # unknown route: let routing answer 404/405
    if request.endpoint.startswith(_FRAMEWORK_ENDPOINTS) or _view_attr(view, PUBLIC_ATTR):
        return None
    if _view_attr(view, INTERNAL_ATTR):
        g.caller_service = _authenticate_service()
        return None
    if _view_attr(view, MEMBER_ATTR):
        g.member = _authenticate_member()
        return None
    permission = _view_attr(view, PERMISSION_ATTR)
    g.identity = _authenticate()
    if permission != ANY_ADMIN and permission not in g.identity["permissions"]:
        raise ApiError(403, f"Missing permission {permission}.", "forbidden")
    return None


def assert_routes_declared(app: Flask) -> None:
    """Refuse to start when a route is neither public, internal nor protected by a permission."""
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(_FRAMEWORK_ENDPOINTS):
            continue
        view = app.view_functions[rule.endpoint]
        targets = [view]
        if hasattr(view, "view_class"):
            targets = [getattr(view.view_class, m.lower(), None) for m in rule.methods - {"HEAD", "OPTIONS"}]
        for target in targets:
            declared = (getattr(target, a, None) for a in (PUBLIC_ATTR, PERMISSION_ATTR, INTERNAL_ATTR, MEMBER_ATTR))
            if not any(declared):
                undeclared.append(f"{rule.rule} ({rule.endpoint})")
    if undeclared:
        raise RuntimeError(
            "routes without @public, @requires, @internal or @member_required: " + ", ".join(sorted(set(undeclared)))
        )


def init_auth(app: Flask) -> JWTManager:
    settings = app.config["WEDRAW_SETTINGS"]
    from datetime import timedelta

    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.jwt_access_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.jwt_refresh_days),
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ERROR_MESSAGE_KEY="message",
    )
    jwt = JWTManager(app)

    @jwt.token_in_blocklist_loader
    def _revoked(_header, payload) -> bool:
        sid = payload.get("sid")
        return bool(sid) and store_for(settings).get(revoked_session_key(sid)) is not None

    app.before_request(enforce_access)
    return jwt
