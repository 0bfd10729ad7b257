"""Members by filter, as a campaign audience: the Mini Program openids of the members that match.

The message center asks for the count (shown before sending) and then pages through the
openids with a keyset cursor (`mp_users.id`), so a restarted campaign start continues where
it stopped. Filters: member status, when they joined, when they last used the Mini Program,
whether a phone number is bound.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select

from wedraw.core.db import naive_utc
from wedraw.core.errors import ApiError
from wedraw.miniprogram.models import Member, MpApp, MpUser, db

FILTERS = ("status", "joined_after", "joined_before", "active_after", "phone_bound")


def _app(appid: str) -> MpApp:
    app = db.session.execute(select(MpApp).where(MpApp.appid == appid)).scalar_one_or_none()
    if app is None:
        raise ApiError(404, f"No Mini Program {appid}.")
    return app


def _query(appid: str, filters: dict, columns) -> Select:
    app = _app(appid)
    stmt = select(*columns).join(Member, Member.id == MpUser.member_id).where(MpUser.app_id == app.id)
    stmt = stmt.where(Member.status == (filters.get("status") or "active"))
    if filters.get("joined_after"):
        stmt = stmt.where(Member.created_at >= naive_utc(filters["joined_after"]))
    if filters.get("joined_before"):
        stmt = stmt.where(Member.created_at < naive_utc(filters["joined_before"]))
    if filters.get("active_after"):
        stmt = stmt.where(MpUser.last_login_at >= naive_utc(filters["active_after"]))
    if filters.get("phone_bound") is not None:
        bound = Member.phone_hash.is_not(None)
        stmt = stmt.where(bound if filters["phone_bound"] else ~bound)
    return stmt


def count(appid: str, filters: dict) -> int:
    return db.session.execute(_query(appid, filters, [func.count(MpUser.id)])).scalar_one()


def page(appid: str, filters: dict, after: int, limit: int) -> dict:
    rows = db.session.execute(
        _query(appid, filters, [MpUser.id, MpUser.openid, Member.unionid])
        .where(MpUser.id > after)
        .order_by(MpUser.id)
        .limit(limit)
    ).all()
    return {
        "members": [{"openid": r.openid, "unionid": r.unionid} for r in rows],
        "next": rows[-1].id if len(rows) == limit else None,
    }
