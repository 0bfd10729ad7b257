"""Mini Program use cases: one transaction each. Views, internal routes and tasks call these and nothing else.

WeChat is reached only through `wedraw.wechat` (shared token, call policy). Login answers:
a bad or used `wx.login` code (40029, 40163) is 400, a user WeChat's risk control refuses
(40226) is 403, WeChat's per-minute limit (45011) is 429 with Retry-After, WeChat busy or
unreachable is 424 `wechat_unavailable`, any other refusal 409 `wechat_<errcode>`.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import timedelta

import requests
from flask import current_app, g
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.auth import revoked_session_key
from wedraw.core.crypto import cipher_for
from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.core.store import store_for
from wedraw.miniprogram.identity import (
    DecryptError,
    decrypt_wechat_data,
    issue_member_token,
    member_key,
    member_sid,
    phone_hash,
    token_lifetime,
)
from wedraw.miniprogram.models import GrantUse, Member, MpApp, MpUser, SubscribeGrant, db
from wedraw.wechat import CallPolicy, Final, MiniProgram, MiniProgramConfig, mini_program

log = logging.getLogger("wedraw.miniprogram")

INTERACTIVE_POLICY = CallPolicy(max_retries=1, backoff=0.05, backoff_cap=0.5)
INTERACTIVE_TIMEOUT = 5.0
BACKGROUND_TIMEOUT = 10.0
CODE_ERRORS = (40029, 40163)
RETRY_AFTER_THROTTLED = 60
TEMPLATE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def _cipher():
    return cipher_for(_settings())


def _hint(value: str) -> str:
    return "****" + value[-4:] if len(value) > 8 else "****"


# ---------------------------------------------------------------- Mini Program apps (settings)


def list_apps(args: dict) -> dict:
    stmt = select(MpApp)
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(MpApp.name.like(like), MpApp.appid.like(like)))
    if args.get("enabled") is not None:
        stmt = stmt.where(MpApp.enabled.is_(args["enabled"]))
    return paginate(db.session, stmt.order_by(MpApp.id), args["page"], args["page_size"])


def get_app(app_id: int) -> MpApp:
    app = db.session.get(MpApp, app_id)
    if app is None:
        raise ApiError(404, f"No Mini Program {app_id}.")
    return app


def create_app(data: dict) -> MpApp:
    app = MpApp(appid=data["appid"], name=data["name"], enabled=data.get("enabled", True))
    app.secret_enc, app.secret_hint = _cipher().encrypt(data["secret"]), _hint(data["secret"])
    db.session.add(app)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, f"The Mini Program {data['appid']} is already registered.", "conflict") from None
    return app


def update_app(app_id: int, data: dict) -> MpApp:
    app = get_app(app_id)
    for name in ("name", "enabled"):
        if name in data:
            setattr(app, name, data[name])
    if data.get("secret"):
        app.secret_enc, app.secret_hint = _cipher().encrypt(data["secret"]), _hint(data["secret"])
    app.updated_at = utcnow()
    db.session.commit()
    return app


def delete_app(app_id: int) -> None:
    app = get_app(app_id)
    used = db.session.execute(select(MpUser.id).where(MpUser.app_id == app.id).limit(1)).first()
    if used:
        raise ApiError(409, "Members have logged in through this Mini Program: disable it instead.", "app_in_use")
    db.session.delete(app)
    db.session.commit()


def resolve_app(appid: str | None) -> MpApp:
    """The enabled Mini Program a request names, or the only enabled one when it names none."""
    stmt = select(MpApp).where(MpApp.enabled.is_(True))
    if appid:
        app = db.session.execute(stmt.where(MpApp.appid == appid)).scalar_one_or_none()
        if app is None:
            raise ApiError(404, "No enabled Mini Program has this appid.", "app_not_found")
        return app
    found = db.session.execute(stmt.order_by(MpApp.id).limit(2)).scalars().all()
    if len(found) != 1:
        raise ApiError(
            400,
            "Name the Mini Program (appid): " + ("none is enabled." if not found else "several are enabled."),
            "appid_required",
        )
    return found[0]


def client(app: MpApp, background: bool = False) -> MiniProgram:
    config = MiniProgramConfig(app.appid, _cipher().decrypt(app.secret_enc))
    if background:
        return mini_program(_settings(), config, timeout=BACKGROUND_TIMEOUT)
    return mini_program(_settings(), config, timeout=INTERACTIVE_TIMEOUT, policy=INTERACTIVE_POLICY)


def app_credentials(appid: str) -> MpApp:
    app = db.session.execute(select(MpApp).where(MpApp.appid == appid)).scalar_one_or_none()
    if app is None:
        raise ApiError(404, f"No Mini Program with appid {appid}.")
    return app


def decrypted_secret(app: MpApp) -> str:
    return _cipher().decrypt(app.secret_enc)


# ---------------------------------------------------------------- login


def _login_refusal(result) -> ApiError:
    if isinstance(result, Final):
        if result.errcode in CODE_ERRORS:
            return ApiError(
                400,
                f"WeChat did not accept the login code: {result.meaning} (errcode {result.errcode}). "
                "Call wx.login again for a new code.",
                f"wechat_{result.errcode}",
            )
        if result.errcode == 40226:
            return ApiError(403, "WeChat's risk control refused this user's login (errcode 40226).", "wechat_40226")
        return ApiError(
            409, f"WeChat refused the login: {result.meaning} (errcode {result.errcode}).", f"wechat_{result.errcode}"
        )
    if result.errcode == 45011:
        # Whole seconds, rounded up: a client that waits this long is never early.
        g.retry_after = math.ceil(result.retry_after or RETRY_AFTER_THROTTLED)
        return ApiError(
            429,
            "WeChat is throttling logins for this Mini Program (errcode 45011): try again in a minute.",
            "wechat_45011",
        )
    return ApiError(424, f"WeChat is unavailable ({result.meaning}): try again shortly.", "wechat_unavailable")


def _insert_or_fetch(row, fetch):
    """Insert `row` in its own transaction; when a concurrent request inserted the same unique key first,
    return the winner's row instead (`fetch()`)."""
    db.session.add(row)
    try:
        db.session.commit()
        return row
    except IntegrityError:
        db.session.rollback()
        found = fetch()
        if found is None:
            raise
        return found


def _member_by_key(key: str) -> Member | None:
    return db.session.execute(select(Member).where(Member.member_key == key)).scalar_one_or_none()


def _member_by_unionid(unionid: str) -> Member | None:
    return db.session.execute(select(Member).where(Member.unionid == unionid)).scalar_one_or_none()


def _mp_user(app: MpApp, openid: str) -> MpUser | None:
    return db.session.execute(
        select(MpUser).where(MpUser.app_id == app.id, MpUser.openid == openid)
    ).scalar_one_or_none()


def find_or_create_member(app: MpApp, openid: str, unionid: str | None) -> tuple[Member, MpUser, bool]:
    """The member behind a Mini Program user, created once however many logins race (unique keys)."""
    created = False
    mp_user = _mp_user(app, openid)
    member = db.session.get(Member, mp_user.member_id) if mp_user else None
    if member is None and unionid:
        member = _member_by_unionid(unionid)  # known from another channel or another Mini Program
    if member is None:
        key = member_key(unionid, "mp", app.appid, openid)
        existing = _member_by_key(key)
        if existing is None:
            fresh = Member(member_key=key, unionid=unionid, status="active", token_version=1)
            member = _insert_or_fetch(fresh, lambda: _member_by_key(key) or (unionid and _member_by_unionid(unionid)))
            created = member is fresh
        else:
            member = existing
    if mp_user is None:
        mp_user = _insert_or_fetch(
            MpUser(member_id=member.id, app_id=app.id, openid=openid), lambda: _mp_user(app, openid)
        )
        if mp_user.member_id != member.id:  # another login linked this openid first: follow it
            member = db.session.get(Member, mp_user.member_id)
            created = False
    return member, mp_user, created


def login(code: str, appid: str | None) -> dict:
    app = resolve_app(appid)
    mp = client(app)
    result = mp.code_to_session(code)
    if not result.ok:
        raise _login_refusal(result)
    openid, session_key = result.data.get("openid"), result.data.get("session_key")
    unionid = result.data.get("unionid") or None
    if not openid or not session_key:
        raise ApiError(424, "WeChat's login answer had no openid or session_key.", "wechat_unavailable")
    member, mp_user, created = find_or_create_member(app, openid, unionid)
    if member.status != "active":
        raise ApiError(403, "This member is disabled.", "member_disabled")
    now = utcnow()
    db.session.execute(
        update(MpUser)
        .where(MpUser.id == mp_user.id)
        .values(session_key_enc=_cipher().encrypt(session_key), session_key_at=now, last_login_at=now)
    )
    db.session.execute(
        update(Member)
        .where(Member.id == member.id)
        .values(login_count=Member.login_count + 1, last_login_at=now, updated_at=now)
    )
    if unionid and member.unionid is None:
        # Learnt now (the app was bound to the Open Platform later): recorded, the key stays.
        db.session.execute(
            update(Member).where(Member.id == member.id, Member.unionid.is_(None)).values(unionid=unionid)
        )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # that unionid already names another member: keep the login, skip the link
        log.warning("unionid of member %s already belongs to another member", member.id)
        db.session.execute(
            update(MpUser)
            .where(MpUser.id == mp_user.id)
            .values(session_key_enc=_cipher().encrypt(session_key), session_key_at=now, last_login_at=now)
        )
        db.session.commit()
    db.session.refresh(member)
    token, expires_in = issue_member_token(_settings(), member, app.appid, openid)
    return {
        "token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "is_new_member": created,
        "member": self_view(member, app, mp_user),
    }


def _sandbox(path: str, body: dict) -> requests.Response:
    """A call to the WeChat sandbox's control surface (embedded and test profiles only, WeChat being the sandbox)."""
    settings = _settings()
    if settings.is_production or not settings.wechat_api_base:
        raise ApiError(404, "Only when WeChat is the sandbox (embedded profile).", "sandbox_only")
    try:
        response = requests.post(settings.wechat_api_base.rstrip("/") + "/__sandbox" + path, json=body, timeout=5)
    except requests.RequestException:
        raise ApiError(424, "The WeChat sandbox is not reachable.", "wechat_unavailable") from None
    if response.status_code == 404:
        raise ApiError(404, f"The sandbox does not know that: {response.text[:200]}", "not_found")
    if response.status_code >= 400:
        raise ApiError(424, f"The sandbox answered HTTP {response.status_code}.", "wechat_unavailable")
    return response


def sandbox_login_code(data: dict) -> dict:
    """A `wx.login` code minted by the sandbox, as the Mini Program runtime would get one."""
    settings = _settings()
    if settings.is_production or not settings.wechat_api_base:
        raise ApiError(404, "Only when WeChat is the sandbox (embedded profile).", "sandbox_only")
    app = resolve_app(data.get("appid"))
    body = {"appid": app.appid, **{k: data[k] for k in ("openid", "new") if data.get(k)}}
    answer = _sandbox("/wxlogin", body).json()
    return {"code": answer["code"], "openid": answer["openid"], "expires_in": answer["expires_in"], "appid": app.appid}


def sandbox_request_subscribe(claims: dict, results: dict[str, str]) -> list[SubscribeGrant]:
    """What `wx.requestSubscribeMessage` does, in the sandbox: WeChat (the sandbox) records the grants the
    member accepts, and the answer is recorded here exactly as `POST /me/subscriptions` records it."""
    _member, app, mp_user = _claims_member(claims)
    for template_id, answer in results.items():
        if answer == "accept":
            _sandbox("/subscribe-grants", {"appid": app.appid, "openid": mp_user.openid, "template_id": template_id})
    return record_subscriptions(claims, results)


# ---------------------------------------------------------------- the member's own views


def phone_of(member: Member) -> str | None:
    return _cipher().decrypt(member.phone_enc) if member.phone_enc else None


def self_view(member: Member, app: MpApp | None, mp_user: MpUser | None) -> dict:
    from wedraw.core.pii import mask_phone

    return {
        "id": member.id,
        "member_key": member.member_key,
        "unionid": member.unionid,
        "nickname": member.nickname,
        "avatar_url": member.avatar_url,
        "phone_masked": mask_phone(phone_of(member)),
        "phone_bound": member.phone_enc is not None,
        "appid": app.appid if app else None,
        "openid": mp_user.openid if mp_user else None,
        "created_at": member.created_at,
    }


def _claims_member(claims: dict) -> tuple[Member, MpApp, MpUser]:
    member = db.session.get(Member, int(claims["sub"])) if str(claims.get("sub", "")).isdigit() else None
    if member is None or member.member_key != claims.get("mkey"):
        raise ApiError(401, "The member token names no member: log in again.", "member_token_invalid")
    if member.status != "active":
        raise ApiError(403, "This member is disabled.", "member_disabled")
    app = db.session.execute(select(MpApp).where(MpApp.appid == claims.get("appid"))).scalar_one_or_none()
    mp_user = _mp_user(app, claims.get("openid") or "") if app else None
    if app is None or mp_user is None or mp_user.member_id != member.id:
        raise ApiError(401, "The member token's Mini Program login is gone: log in again.", "member_token_invalid")
    return member, app, mp_user


def me(claims: dict) -> dict:
    member, app, mp_user = _claims_member(claims)
    return self_view(member, app, mp_user)


def update_profile(claims: dict, data: dict) -> dict:
    member, app, mp_user = _claims_member(claims)
    for name in ("nickname", "avatar_url"):
        if name in data:
            setattr(member, name, data[name])
    member.updated_at = utcnow()
    db.session.commit()
    return self_view(member, app, mp_user)


def bind_phone(claims: dict, encrypted_data: str, iv: str) -> dict:
    """Decrypt getPhoneNumber's data with the session_key of this login and bind the number."""
    member, app, mp_user = _claims_member(claims)
    if not mp_user.session_key_enc:
        raise ApiError(409, "No WeChat session for this login: log in again (wx.login).", "session_key_missing")
    session_key = _cipher().decrypt(mp_user.session_key_enc)
    try:
        payload = decrypt_wechat_data(session_key, encrypted_data, iv, app.appid)
    except DecryptError as exc:
        raise ApiError(
            409,
            f"The phone data could not be read ({exc}): call wx.login again, then ask for the number again.",
            "phone_data_unreadable",
        ) from None
    phone = str(payload.get("purePhoneNumber") or payload.get("phoneNumber") or "").strip()
    if not phone.isdigit() or not 5 <= len(phone) <= 15:
        raise ApiError(409, "WeChat's data holds no phone number.", "phone_data_unreadable")
    now = utcnow()
    member.phone_enc = _cipher().encrypt(phone)
    member.phone_hash = phone_hash(_settings(), phone)
    member.phone_country = str(payload.get("countryCode") or "")[:8] or None
    member.phone_bound_at = now
    member.updated_at = now
    db.session.commit()
    return self_view(member, app, mp_user)


def _grant_row(member: Member, mp_user: MpUser, template_id: str) -> SubscribeGrant:
    def fetch():
        return db.session.execute(
            select(SubscribeGrant).where(
                SubscribeGrant.mp_user_id == mp_user.id, SubscribeGrant.template_id == template_id
            )
        ).scalar_one_or_none()

    return fetch() or _insert_or_fetch(
        SubscribeGrant(member_id=member.id, mp_user_id=mp_user.id, template_id=template_id), fetch
    )


def record_subscriptions(claims: dict, results: dict[str, str]) -> list[SubscribeGrant]:
    """What wx.requestSubscribeMessage answered: an `accept` grants one more send of that template."""
    member, _app, mp_user = _claims_member(claims)
    rows = {template_id: _grant_row(member, mp_user, template_id) for template_id in results}
    now = utcnow()
    for template_id, answer in results.items():
        accepted = answer == "accept"
        values = {"last_result": answer, "last_answered_at": now, "updated_at": now}
        if accepted:
            values.update(remaining=SubscribeGrant.remaining + 1, accepted_total=SubscribeGrant.accepted_total + 1)
        else:
            values["rejected_total"] = SubscribeGrant.rejected_total + 1
            if answer == "ban":  # the template was banned: nothing can be sent with it
                values["remaining"] = 0
        db.session.execute(update(SubscribeGrant).where(SubscribeGrant.id == rows[template_id].id).values(**values))
    db.session.commit()
    return grants_of(member.id)


def grants_of(member_id: int) -> list[SubscribeGrant]:
    return list(
        db.session.execute(
            select(SubscribeGrant).where(SubscribeGrant.member_id == member_id).order_by(SubscribeGrant.id)
        ).scalars()
    )


def my_grants(claims: dict) -> list[SubscribeGrant]:
    member, _app, _mp_user = _claims_member(claims)
    return grants_of(member.id)


# ---------------------------------------------------------------- members (admin)


def _member_filters(stmt, args: dict):
    if args.get("q"):
        q = args["q"].strip()
        conditions = [
            Member.nickname.like(f"%{q}%"),
            Member.member_key == q,
            Member.unionid == q,
            Member.id.in_(select(MpUser.member_id).where(MpUser.openid == q)),
        ]
        if q.isdigit() and 5 <= len(q) <= 15:
            conditions.append(Member.phone_hash == phone_hash(_settings(), q))
        stmt = stmt.where(or_(*conditions))
    if args.get("member_key"):
        stmt = stmt.where(Member.member_key == args["member_key"])
    if args.get("status"):
        stmt = stmt.where(Member.status == args["status"])
    if args.get("has_phone") is not None:
        stmt = stmt.where(Member.phone_enc.is_not(None) if args["has_phone"] else Member.phone_enc.is_(None))
    if args.get("appid"):
        stmt = stmt.where(
            Member.id.in_(
                select(MpUser.member_id).join(MpApp, MpApp.id == MpUser.app_id).where(MpApp.appid == args["appid"])
            )
        )
    if args.get("created_from"):
        stmt = stmt.where(Member.created_at >= args["created_from"])
    if args.get("created_to"):
        stmt = stmt.where(Member.created_at < args["created_to"])
    return stmt


def list_members(args: dict) -> dict:
    stmt = _member_filters(select(Member), args).order_by(Member.id.desc())
    page = paginate(db.session, stmt, args["page"], args["page_size"])
    page["items"] = [_admin_view(m) for m in page["items"]]
    return page


def _identities(member_id: int) -> list[dict]:
    rows = db.session.execute(
        select(MpUser, MpApp.appid).join(MpApp, MpApp.id == MpUser.app_id).where(MpUser.member_id == member_id)
    ).all()
    return [
        {
            "appid": appid,
            "openid": u.openid,
            "created_at": u.created_at,
            "last_login_at": u.last_login_at,
            "has_session": u.session_key_enc is not None,
        }
        for u, appid in rows
    ]


def _admin_view(member: Member, detail: bool = False) -> dict:
    view = {
        "id": member.id,
        "member_key": member.member_key,
        "unionid": member.unionid,
        "nickname": member.nickname,
        "avatar_url": member.avatar_url,
        "phone": phone_of(member),
        "phone_bound_at": member.phone_bound_at,
        "status": member.status,
        "remark": member.remark,
        "login_count": member.login_count,
        "last_login_at": member.last_login_at,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
        "identities": _identities(member.id),
    }
    if detail:
        view["grants"] = grants_of(member.id)
    return view


def get_member(member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None:
        raise ApiError(404, f"No member {member_id}.")
    return member


def member_detail(member_id: int) -> dict:
    return _admin_view(get_member(member_id), detail=True)


def update_member(member_id: int, data: dict) -> dict:
    """Remark and status; disabling ends the member's sessions in every service at once."""
    member = get_member(member_id)
    revoke = None
    if "remark" in data:
        member.remark = data["remark"]
    if data.get("status") and data["status"] != member.status:
        if data["status"] == "disabled":
            revoke = member_sid(member.id, member.token_version)
            member.token_version += 1
        member.status = data["status"]
    member.updated_at = utcnow()
    db.session.commit()
    if revoke:
        # Every member token of this member carries this sid; the revocation outlives the longest token.
        ttl = int(token_lifetime(_settings()).total_seconds()) + 60
        store_for(_settings()).set(revoked_session_key(revoke), "member disabled", ttl=ttl)
    return _admin_view(member, detail=True)


def member_stats() -> dict:
    total = db.session.execute(select(func.count()).select_from(Member)).scalar_one()
    with_phone = db.session.execute(
        select(func.count()).select_from(Member).where(Member.phone_enc.is_not(None))
    ).scalar_one()
    since = utcnow() - timedelta(days=1)
    active = db.session.execute(
        select(func.count()).select_from(Member).where(Member.last_login_at >= since)
    ).scalar_one()
    return {"members": total, "with_phone": with_phone, "logged_in_last_24h": active}


# ---------------------------------------------------------------- grants claimed by other services


def claim_grant(member_key_: str, template_id: str, use_key: str, appid: str | None, caller: str | None) -> dict:
    """Use one of a member's subscribe grants for `template_id` (once per `use_key`, however often asked)."""

    def previous():
        return db.session.execute(select(GrantUse).where(GrantUse.use_key == use_key)).scalar_one_or_none()

    done = previous()
    if done is not None:
        return _use_view(done)
    member = _member_by_key(member_key_)
    use = GrantUse(use_key=use_key, member_key=member_key_, template_id=template_id, caller=caller)
    if member is None:
        use.outcome = "no_member"
    else:
        stmt = (
            select(SubscribeGrant.id, MpUser.openid, MpApp.appid)
            .join(MpUser, MpUser.id == SubscribeGrant.mp_user_id)
            .join(MpApp, MpApp.id == MpUser.app_id)
            .where(
                SubscribeGrant.member_id == member.id,
                SubscribeGrant.template_id == template_id,
                SubscribeGrant.remaining > 0,
            )
            .order_by(SubscribeGrant.last_answered_at.desc(), SubscribeGrant.id.desc())
        )
        if appid:
            stmt = stmt.where(MpApp.appid == appid)
        use.outcome = "no_grant"
        for grant_id, openid, grant_appid in db.session.execute(stmt).all():
            taken = db.session.execute(
                update(SubscribeGrant)
                .where(SubscribeGrant.id == grant_id, SubscribeGrant.remaining > 0)
                .values(remaining=SubscribeGrant.remaining - 1, used_total=SubscribeGrant.used_total + 1)
            ).rowcount
            if taken:
                use.outcome, use.grant_id, use.openid, use.appid = "granted", grant_id, openid, grant_appid
                break
    db.session.add(use)
    try:
        db.session.commit()
    except IntegrityError:  # the same use_key, claimed concurrently: its answer stands (this one is undone)
        db.session.rollback()
        return _use_view(previous())
    return _use_view(use)


def _use_view(use: GrantUse) -> dict:
    return {
        "outcome": use.outcome,
        "granted": use.outcome == "granted",
        "appid": use.appid,
        "openid": use.openid,
        "template_id": use.template_id,
        "use_key": use.use_key,
    }


# ---------------------------------------------------------------- periodic jobs


def forget_session_keys(older_than_days: int = 30) -> int:
    """WeChat's session keys are secrets: ones not renewed by a login for a month are dropped."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    count = db.session.execute(
        update(MpUser)
        .where(MpUser.session_key_enc.is_not(None), MpUser.session_key_at < cutoff)
        .values(session_key_enc=None)
    ).rowcount
    db.session.commit()
    return count
