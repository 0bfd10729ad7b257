"""User center use cases: one transaction each. Views call these and nothing else."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import event, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wedraw.core.auth import ADMIN, revoked_session_key
from wedraw.core.db import naive_utc, utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.core.permissions import BUILTIN_ROLES, PERMISSIONS
from wedraw.core.store import store_for
from wedraw.user_center.models import AdminUser, AuditLog, LoginLog, LoginSession, Role, db

# OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 iterations, parallelism 1.
password_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
# Verifying against this keeps the time of a login for an unknown user the same.
_DUMMY_HASH = password_hasher.hash(secrets.token_urlsafe(16))

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def _store():
    return store_for(_settings())


# ---------------------------------------------------------------- passwords


def validate_password(password: str) -> None:
    problems = []
    if len(password) < 8:
        problems.append("at least 8 characters")
    if len(password) > 128:
        problems.append("at most 128 characters")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        problems.append("letters and digits")
    if problems:
        raise ApiError(422, "Password must have " + ", ".join(problems) + ".", errors={"password": problems})


def hash_password(password: str) -> str:
    validate_password(password)
    return password_hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- login and sessions


def _failure_key(username: str, ip: str | None) -> str:
    return f"login-failures:{username.lower()}:{ip}"


def _failure_limit() -> tuple[int, int]:
    amount, _, period = _settings().login_failure_limit.replace("per", "/").partition("/")
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[period.strip().rstrip("s").split()[-1]]
    return int(amount.strip()), seconds


def _log_login(username: str, user: AdminUser | None, ip, user_agent, success: bool, reason: str | None) -> None:
    db.session.add(
        LoginLog(
            username=username[:64],
            user_id=user.id if user else None,
            ip=ip,
            user_agent=(user_agent or "")[:255],
            success=success,
            reason=reason,
        )
    )


def _issue_tokens(user: AdminUser, session: LoginSession) -> dict:
    claims = {
        "kind": ADMIN,
        "username": user.username,
        "sid": session.id,
        "roles": [r.name for r in user.roles],
        "perms": user.permissions,
    }
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user.id), additional_claims={"kind": ADMIN, "sid": session.id})
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": _settings().jwt_access_minutes * 60,
        "token_type": "Bearer",
    }


def login(username: str, password: str, ip: str | None, user_agent: str | None) -> dict:
    limit, window = _failure_limit()
    store = _store()
    key = _failure_key(username, ip)
    failures = int(store.get(key) or 0)
    if failures >= limit:
        _log_login(username, None, ip, user_agent, False, "rate_limited")
        _commit()
        raise RateLimited(window)

    user = db.session.execute(select(AdminUser).where(AdminUser.username == username)).scalar_one_or_none()
    valid = _verify(user.password_hash if user else _DUMMY_HASH, password)
    if not user or not valid or user.status != "active":
        reason = "disabled" if (user and valid) else "bad_credentials"
        if reason == "bad_credentials":
            store.incr(key, window)
        _log_login(username, user, ip, user_agent, False, reason)
        _commit()
        # One message for every failure, so logins cannot probe which usernames exist.
        raise ApiError(401, "Wrong username or password, or the account is disabled.", "invalid_credentials")

    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = password_hasher.hash(password)
    now = utcnow()
    session = LoginSession(
        id=secrets.token_hex(16),
        user_id=user.id,
        ip=ip,
        user_agent=(user_agent or "")[:255],
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=_settings().jwt_refresh_days),
    )
    db.session.add(session)
    user.last_login_at = now
    _log_login(username, user, ip, user_agent, True, None)
    _commit()
    store.delete(key)
    return _issue_tokens(user, session)


class RateLimited(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(429, "Too many failed logins; try again later.", "rate_limited")
        self.retry_after = retry_after


def refresh(user_id: int, session_id: str) -> dict:
    """A new access token with the user's current roles; a disabled user gets none."""
    session = db.session.get(LoginSession, session_id)
    user = db.session.get(AdminUser, user_id)
    if not session or session.revoked_at or session.user_id != user_id or not user or user.status != "active":
        raise ApiError(401, "The session has ended; sign in again.", "unauthorized")
    session.last_seen_at = utcnow()
    _commit()
    tokens = _issue_tokens(user, session)
    return {"access_token": tokens["access_token"], "expires_in": tokens["expires_in"], "token_type": "Bearer"}


def _revoke_sessions(sessions: list[LoginSession], reason: str) -> None:
    """Mark sessions ended; every service hears of it once the transaction commits."""
    now = utcnow()
    pending = db.session.info.setdefault("revoked_sessions", [])
    for session in sessions:
        if session.revoked_at is None:
            session.revoked_at = now
            session.revoked_reason = reason
        pending.append((session.id, max(int((session.expires_at - now).total_seconds()), 1), reason))


@event.listens_for(Session, "after_rollback")
def _forget_revocations(session: Session) -> None:
    # A rolled-back use case ended no session.
    session.info.pop("revoked_sessions", None)


def _commit(conflict: str | None = None) -> None:
    """Commit the use case, then publish its revoked sessions to the shared store.

    Publishing after the commit means a failed write revokes nothing; `conflict` turns a
    unique-constraint violation into a 409 with that message.
    """
    pending = db.session.info.pop("revoked_sessions", [])
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if conflict is None:
            raise
        raise ApiError(409, conflict, "conflict") from None
    store = _store()
    for session_id, ttl, reason in pending:
        store.set(revoked_session_key(session_id), reason, ttl=ttl)


def _active_sessions(user_id: int, except_id: str | None = None) -> list[LoginSession]:
    stmt = select(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None), LoginSession.expires_at > utcnow()
    )
    if except_id:
        stmt = stmt.where(LoginSession.id != except_id)
    return list(db.session.execute(stmt).scalars())


def logout(session_ids: set[str]) -> None:
    """End the sessions named by the tokens presented (access and/or refresh)."""
    sessions = [s for s in (db.session.get(LoginSession, sid) for sid in session_ids) if s]
    _revoke_sessions(sessions, "logout")
    _commit()


def end_session(session_id: str) -> None:
    session = db.session.get(LoginSession, session_id)
    if not session:
        raise ApiError(404, "No such session.")
    _revoke_sessions([session], "ended_by_admin")
    _commit()


def list_sessions(username: str | None, page: int, page_size: int, current_sid: str | None) -> dict:
    stmt = (
        select(LoginSession)
        .join(AdminUser)
        .where(LoginSession.revoked_at.is_(None), LoginSession.expires_at > utcnow())
        .order_by(LoginSession.last_seen_at.desc())
    )
    if username:
        stmt = stmt.where(AdminUser.username.contains(username))
    result = paginate(db.session, stmt, page, page_size)
    result["items"] = [
        {
            "id": s.id,
            "username": s.user.username,
            "ip": s.ip,
            "user_agent": s.user_agent,
            "created_at": s.created_at,
            "last_seen_at": s.last_seen_at,
            "current": s.id == current_sid,
        }
        for s in result["items"]
    ]
    return result


def list_login_logs(username: str | None, success: bool | None, page: int, page_size: int) -> dict:
    stmt = select(LoginLog).order_by(LoginLog.id.desc())
    if username:
        stmt = stmt.where(LoginLog.username.contains(username))
    if success is not None:
        stmt = stmt.where(LoginLog.success.is_(success))
    return paginate(db.session, stmt, page, page_size)


# ---------------------------------------------------------------- users


def get_user(user_id: int) -> AdminUser:
    user = db.session.get(AdminUser, user_id)
    if not user:
        raise ApiError(404, f"No user with id {user_id}.")
    return user


def _roles_by_id(role_ids: list[int]) -> list[Role]:
    roles = list(db.session.execute(select(Role).where(Role.id.in_(role_ids))).scalars()) if role_ids else []
    missing = sorted(set(role_ids) - {r.id for r in roles})
    if missing:
        raise ApiError(
            422, f"Unknown role ids: {missing}.", errors={"role_ids": [f"unknown role {i}" for i in missing]}
        )
    return roles


def list_users(q: str | None, status: str | None, page: int, page_size: int) -> dict:
    stmt = select(AdminUser).order_by(AdminUser.id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(AdminUser.username.like(like), AdminUser.display_name.like(like)))
    if status:
        stmt = stmt.where(AdminUser.status == status)
    return paginate(db.session, stmt, page, page_size)


def create_user(data: dict) -> AdminUser:
    username = data["username"]
    if not USERNAME_RE.match(username):
        raise ApiError(422, "Username must be 3-64 letters, digits, '_', '.' or '-'.", errors={"username": ["invalid"]})
    user = AdminUser(
        username=username,
        password_hash=hash_password(data["password"]),
        display_name=data.get("display_name") or username,
        phone=data.get("phone") or None,
        email=data.get("email") or None,
        roles=_roles_by_id(data.get("role_ids", [])),
    )
    db.session.add(user)
    _commit(f"The username {username!r} is taken.")
    return user


def update_user(user_id: int, data: dict) -> AdminUser:
    user = get_user(user_id)
    if "display_name" in data:
        user.display_name = data["display_name"]
    for field in ("phone", "email"):
        if field in data:
            setattr(user, field, data[field] or None)  # "" clears
    if "role_ids" in data:
        user.roles = _roles_by_id(data["role_ids"])
        # Permissions live in tokens: end sessions so the new roles take effect now.
        _revoke_sessions(_active_sessions(user.id), "roles_changed")
    _commit()
    return user


def set_user_status(user_id: int, status: str, acting_user_id: int) -> AdminUser:
    user = get_user(user_id)
    if status == "disabled" and user.id == acting_user_id:
        raise ApiError(409, "You cannot disable your own account.", "conflict")
    user.status = status
    if status == "disabled":
        _revoke_sessions(_active_sessions(user.id), "user_disabled")
    _commit()
    return user


def reset_password(user_id: int, password: str) -> None:
    user = get_user(user_id)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    _revoke_sessions(_active_sessions(user.id), "password_reset")
    _commit()


def change_own_password(user_id: int, old_password: str, new_password: str, current_sid: str | None) -> None:
    user = get_user(user_id)
    if not _verify(user.password_hash, old_password):
        raise ApiError(422, "The current password is wrong.", errors={"old_password": ["wrong password"]})
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    _revoke_sessions(_active_sessions(user.id, except_id=current_sid), "password_changed")
    _commit()


def get_me(user_id: int) -> AdminUser:
    return get_user(user_id)


# ---------------------------------------------------------------- roles


def _check_permissions(permissions: list[str]) -> list[str]:
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown:
        raise ApiError(422, f"Unknown permissions: {', '.join(unknown)}.", errors={"permissions": unknown})
    return permissions


def get_role(role_id: int) -> Role:
    role = db.session.get(Role, role_id)
    if not role:
        raise ApiError(404, f"No role with id {role_id}.")
    return role


def list_roles(q: str | None, page: int, page_size: int) -> dict:
    stmt = select(Role).order_by(Role.id)
    if q:
        stmt = stmt.where(or_(Role.name.contains(q), Role.description.contains(q)))
    return paginate(db.session, stmt, page, page_size)


def create_role(data: dict) -> Role:
    role = Role(name=data["name"], description=data.get("description", ""), builtin=False)
    role.permissions = _check_permissions(data.get("permissions", []))
    db.session.add(role)
    _commit(f"The role name {role.name!r} is taken.")
    return role


def _editable_role(role_id: int) -> Role:
    role = get_role(role_id)
    if role.builtin:
        raise ApiError(409, f"The built-in role {role.name} cannot be changed.", "conflict")
    return role


def update_role(role_id: int, data: dict) -> Role:
    role = _editable_role(role_id)
    if "name" in data:
        role.name = data["name"]
    if "description" in data:
        role.description = data["description"]
    if "permissions" in data:
        role.permissions = _check_permissions(data["permissions"])
        with db.session.no_autoflush:  # a name conflict surfaces at commit as a 409
            for user in role.users:
                _revoke_sessions(_active_sessions(user.id), "roles_changed")
    _commit(f"The role name {role.name!r} is taken.")
    return role


def delete_role(role_id: int) -> None:
    role = _editable_role(role_id)
    if role.users:
        raise ApiError(409, f"The role {role.name} is still assigned to {len(role.users)} user(s).", "conflict")
    db.session.delete(role)
    _commit()


# ---------------------------------------------------------------- audit


def record_audit(record: dict) -> bool:
    """Store one audit record; a redelivered record (same event id) is stored once."""
    fields = {c.name for c in AuditLog.__table__.columns} - {"id"}
    values = {k: v for k, v in record.items() if k in fields}
    if isinstance(values.get("created_at"), str):
        values["created_at"] = datetime.fromisoformat(values["created_at"])
    for key, size in (("path", 512), ("target", 255), ("action", 128)):
        if values.get(key):
            values[key] = values[key][:size]
    if db.session.execute(select(AuditLog.id).where(AuditLog.event_id == values["event_id"])).first():
        return False
    db.session.add(AuditLog(**values))
    try:
        _commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def search_audit(args: dict) -> dict:
    stmt = select(AuditLog).order_by(AuditLog.id.desc())
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(AuditLog.action.like(like), AuditLog.path.like(like), AuditLog.target.like(like)))
    if args.get("username"):
        stmt = stmt.where(AuditLog.username == args["username"])
    if args.get("action"):
        stmt = stmt.where(AuditLog.action.contains(args["action"]))
    if args.get("service"):
        stmt = stmt.where(AuditLog.service == args["service"])
    if args.get("outcome"):
        stmt = stmt.where(AuditLog.outcome == args["outcome"])
    if args.get("start"):
        stmt = stmt.where(AuditLog.created_at >= naive_utc(args["start"]))
    if args.get("end"):
        stmt = stmt.where(AuditLog.created_at <= naive_utc(args["end"]))
    return paginate(db.session, stmt, args["page"], args["page_size"])


# ---------------------------------------------------------------- seed


def ensure_builtin_roles() -> dict[str, Role]:
    roles = {r.name: r for r in db.session.execute(select(Role)).scalars()}
    for name, definition in BUILTIN_ROLES.items():
        role = roles.get(name)
        if role is None:
            role = Role(name=name, builtin=True)
            db.session.add(role)
            roles[name] = role
        role.description = definition["description"]
        role.permissions = definition["permissions"]
        role.builtin = True
    _commit()
    return roles


def ensure_admin(password: str | None) -> str | None:
    """Create the `admin` super_admin once. Returns the password only when it made one."""
    roles = ensure_builtin_roles()
    existing = db.session.execute(select(AdminUser).where(AdminUser.username == "admin")).scalar_one_or_none()
    if existing:
        return None
    generated = password or secrets.token_urlsafe(12) + "7a"
    user = AdminUser(
        username="admin",
        password_hash=hash_password(generated),
        display_name="管理员",
        roles=[roles["super_admin"]],
    )
    db.session.add(user)
    _commit()
    return generated


def prune_sessions(keep_days: int = 30) -> int:
    """Delete sessions that expired or ended more than `keep_days` ago (nightly job)."""
    from sqlalchemy import delete

    cutoff = utcnow() - timedelta(days=keep_days)
    result = db.session.execute(
        delete(LoginSession).where(or_(LoginSession.expires_at < cutoff, LoginSession.revoked_at < cutoff))
    )
    _commit()
    return result.rowcount or 0


def admin_reset_password(password: str) -> None:
    """Operator recovery from the CLI: new password for `admin`, every session ended."""
    user = db.session.execute(select(AdminUser).where(AdminUser.username == "admin")).scalar_one_or_none()
    if user is None:
        raise ApiError(404, "There is no 'admin' user; run the seed first.")
    reset_password(user.id, password)
