"""Points mall use cases: accounts, the ledger's readers, earning (subscribe bonus, sign-in), admin adjustments.

One transaction per use case; views and tasks call these and nothing else. The mall
(catalog.py), exchange orders (orders.py) and the nightly jobs (settlement.py) follow the
same rules. Every balance change goes through `wedraw.points_mall.ledger`.

Which member is this? A member token names its member by `mkey` (the member key, see
wedraw.miniprogram.identity); an Official Account subscribe event by unionid (else by
appid + openid), turned into the same key by `subscriber_key` below. Accounts are created
once per key, however many requests race (unique key + insert-or-read).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from wedraw.core.auth import current_identity
from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.points_mall import ledger
from wedraw.points_mall.models import (
    ADMIN_DEDUCT,
    ADMIN_GRANT,
    EARNING_TYPES,
    PENDING_SHIPMENT,
    SIGN_IN,
    STREAK_BONUS,
    SUBSCRIBE_BONUS,
    LedgerEntry,
    Order,
    PointsAccount,
    PointsLot,
    Product,
    SignIn,
    db,
)
from wedraw.points_mall.rules import expiry_cutoff, expiry_day_of, get_rules, local_day, streak_bonus

log = logging.getLogger("wedraw.points_mall")

QUEUE = "points"
# MariaDB's deadlock (1213) and lock-wait timeout (1205): the transaction was rolled back, run it again.
RETRYABLE_DB_ERRORS = (1213, 1205)


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def who() -> str | None:
    identity = current_identity()
    return identity["username"] if identity else None


def retry_on_deadlock(fn):
    """Run a use case again (up to 3 times) when MariaDB chose it as a deadlock victim."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        for attempt in range(3):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                db.session.rollback()
                code = getattr(getattr(exc, "orig", None), "args", [None])[0]
                if code not in RETRYABLE_DB_ERRORS or attempt == 2:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    return run


# ---------------------------------------------------------------- accounts


def subscriber_key(unionid: str | None, appid: str, openid: str) -> str:
    """The member key of an Official Account fan: the same rule as wedraw.miniprogram.identity.member_key."""
    return f"unionid:{unionid}" if unionid else f"oa:{appid}:{openid}"


def _find_account(key: str, unionid: str | None) -> PointsAccount | None:
    account = db.session.execute(select(PointsAccount).where(PointsAccount.member_key == key)).scalar_one_or_none()
    if account is None and unionid:
        account = db.session.execute(select(PointsAccount).where(PointsAccount.unionid == unionid)).scalar_one_or_none()
    return account


def ensure_account(key: str, unionid: str | None = None, member_id: int | None = None) -> PointsAccount:
    """The account of a member key, created once however many requests race for it (committed)."""
    account = _find_account(key, unionid)
    if account is None:
        account = PointsAccount(member_key=key, unionid=unionid, member_id=member_id)
        db.session.add(account)
        try:
            db.session.commit()
            return account
        except IntegrityError:
            db.session.rollback()  # a concurrent request created it first: use that one
            account = _find_account(key, unionid)
            if account is None:
                raise
    fills = {}
    if member_id and account.member_id is None:
        fills["member_id"] = member_id
    if unionid and account.unionid is None:
        fills["unionid"] = unionid
    if fills:
        try:
            db.session.execute(update(PointsAccount).where(PointsAccount.id == account.id).values(**fills))
            db.session.commit()
        except IntegrityError:  # that unionid already names another account: leave this one as it is
            db.session.rollback()
        db.session.refresh(account)
    return account


def account_for_member(claims: dict) -> PointsAccount:
    member_id = int(claims["sub"]) if str(claims.get("sub", "")).isdigit() else None
    return ensure_account(claims["mkey"], claims.get("unionid"), member_id)


def _account_filters(stmt, args: dict):
    if args.get("q"):
        q = args["q"].strip()
        stmt = stmt.where(
            or_(PointsAccount.member_key.like(f"%{q}%"), PointsAccount.unionid == q, PointsAccount.id == _int(q))
        )
    if args.get("member_id"):
        stmt = stmt.where(PointsAccount.member_id == args["member_id"])
    if args.get("min_balance") is not None:
        stmt = stmt.where(PointsAccount.balance >= args["min_balance"])
    if args.get("max_balance") is not None:
        stmt = stmt.where(PointsAccount.balance <= args["max_balance"])
    return stmt


def _int(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 12 else -1


def list_accounts(args: dict) -> dict:
    order = {
        "balance": PointsAccount.balance.desc(),
        "created": PointsAccount.id.desc(),
        "updated": PointsAccount.updated_at.desc(),
    }[args.get("sort", "created")]
    stmt = _account_filters(select(PointsAccount), args).order_by(order, PointsAccount.id.desc())
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_account(account_id: int) -> PointsAccount:
    account = db.session.get(PointsAccount, account_id)
    if account is None:
        raise ApiError(404, f"No points account {account_id}.")
    return account


def _ledger_filters(stmt, args: dict):
    if args.get("account_id"):
        stmt = stmt.where(LedgerEntry.account_id == args["account_id"])
    if args.get("member_key"):
        stmt = stmt.where(
            LedgerEntry.account_id.in_(select(PointsAccount.id).where(PointsAccount.member_key == args["member_key"]))
        )
    if args.get("business_type"):
        stmt = stmt.where(LedgerEntry.business_type == args["business_type"])
    if args.get("business_id"):
        stmt = stmt.where(LedgerEntry.business_id == args["business_id"])
    if args.get("direction") == "in":
        stmt = stmt.where(LedgerEntry.amount > 0)
    elif args.get("direction") == "out":
        stmt = stmt.where(LedgerEntry.amount < 0)
    if args.get("created_from"):
        stmt = stmt.where(LedgerEntry.created_at >= args["created_from"])
    if args.get("created_to"):
        stmt = stmt.where(LedgerEntry.created_at < args["created_to"])
    return stmt


def search_ledger(args: dict) -> dict:
    stmt = _ledger_filters(select(LedgerEntry), args).order_by(LedgerEntry.id.desc())
    return paginate(db.session, stmt, args["page"], args["page_size"])


def account_ledger(account_id: int, args: dict) -> dict:
    get_account(account_id)
    return search_ledger({**args, "account_id": account_id})


def _expiring(account: PointsAccount, rules: dict, today: date) -> dict:
    if not rules["expiry"]["enabled"]:
        return {"points": 0, "before": None, "next_expiry_day": None}
    horizon = today + timedelta(days=30)
    soon = db.session.execute(
        select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
            PointsLot.account_id == account.id,
            PointsLot.remaining > 0,
            PointsLot.earned_at < expiry_cutoff(rules, horizon),
        )
    ).scalar_one()
    first = db.session.execute(
        select(func.min(PointsLot.earned_at)).where(PointsLot.account_id == account.id, PointsLot.remaining > 0)
    ).scalar_one()
    return {
        "points": int(soon),
        "before": horizon,
        "next_expiry_day": expiry_day_of(rules, first) if first else None,
    }


def my_summary(claims: dict) -> dict:
    rules = get_rules()
    account = account_for_member(claims)
    today = local_day(rules, ledger.now())
    last = db.session.execute(
        select(SignIn).where(SignIn.account_id == account.id).order_by(SignIn.day.desc()).limit(1)
    ).scalar_one_or_none()
    streak = last.streak if last and last.day >= today - timedelta(days=1) else 0
    pending = db.session.execute(
        select(func.count()).select_from(Order).where(Order.account_id == account.id, Order.status == PENDING_SHIPMENT)
    ).scalar_one()
    return {
        "account_id": account.id,
        "member_key": account.member_key,
        "balance": account.balance,
        "total_earned": account.total_earned,
        "total_spent": account.total_spent,
        "total_expired": account.total_expired,
        "signed_in_today": bool(last and last.day == today),
        "streak": streak,
        "today": today,
        "expiring": _expiring(account, rules, today),
        "orders_pending_shipment": pending,
    }


def my_ledger(claims: dict, args: dict) -> dict:
    account = account_for_member(claims)
    return search_ledger(
        {
            "account_id": account.id,
            "business_type": args.get("business_type"),
            "direction": args.get("direction"),
            "page": args["page"],
            "page_size": args["page_size"],
        }
    )


# ---------------------------------------------------------------- admin grants and deductions


def _entry_by_business(business_type: str, business_id: str) -> LedgerEntry | None:
    return db.session.execute(
        select(LedgerEntry).where(LedgerEntry.business_type == business_type, LedgerEntry.business_id == business_id)
    ).scalar_one_or_none()


def _replay_adjustment(existing: LedgerEntry, account_id: int, signed: int) -> LedgerEntry:
    if existing.account_id != account_id or existing.amount != signed:
        raise ApiError(
            409, "This Idempotency-Key was already used for a different adjustment.", "idempotency_key_reused"
        )
    return existing


@retry_on_deadlock
def adjust(account_id: int, direction: str, amount: int, reason: str, key: str | None) -> tuple[LedgerEntry, bool]:
    """An admin grant or deduction (audited by the platform); (entry, created). A repeated key replays."""
    get_account(account_id)
    business_type = ADMIN_GRANT if direction == "grant" else ADMIN_DEDUCT
    business_id = f"admin:{key}" if key else f"admin:{uuid.uuid4().hex}"
    signed = amount if direction == "grant" else -amount
    existing = _entry_by_business(business_type, business_id)
    if existing is not None:
        return _replay_adjustment(existing, account_id, signed), False
    db.session.rollback()
    operator = who() or "admin"
    try:
        if direction == "grant":
            entry_id = ledger.credit(account_id, amount, business_type, business_id, reason=reason, operator=operator)
        else:
            entry_id = ledger.debit(account_id, amount, business_type, business_id, reason=reason, operator=operator)
        db.session.commit()
    except ledger.InsufficientPoints as exc:
        db.session.rollback()
        raise ApiError(
            409,
            f"Insufficient points: the balance is {exc.balance}, the deduction {exc.needed}.",
            "insufficient_points",
        ) from None
    except IntegrityError:
        db.session.rollback()
        existing = _entry_by_business(business_type, business_id)
        if existing is None:
            raise
        return _replay_adjustment(existing, account_id, signed), False
    return db.session.get(LedgerEntry, entry_id), True


# ---------------------------------------------------------------- earning: the Official Account subscribe bonus


def award_subscribe(event: dict) -> str:
    """`points_mall.award_subscribe`: the subscribe bonus, once per member ever (business id = member key)."""
    appid, openid = str(event.get("appid") or ""), str(event.get("openid") or "")
    if not appid or not openid:
        return "ignored: no appid/openid"
    unionid = str(event.get("unionid") or "") or None
    account = ensure_account(subscriber_key(unionid, appid, openid)[:96], unionid)
    rule = get_rules()["subscribe_bonus"]
    if not rule["enabled"]:
        return "disabled"
    account_id, business_id = account.id, account.member_key
    if _entry_by_business(SUBSCRIBE_BONUS, business_id) is not None:
        return "already awarded"
    db.session.rollback()
    try:
        ledger.credit(
            account_id,
            int(rule["points"]),
            SUBSCRIBE_BONUS,
            business_id,
            reason=f"关注公众号 {appid}",
            operator="system",
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return "already awarded"
    return "awarded"


# ---------------------------------------------------------------- earning: daily sign-in


@retry_on_deadlock
def sign_in(claims: dict) -> dict:
    """One sign-in per member per local day, however fast the clicks (unique (account, day))."""
    rules = get_rules()
    rule = rules["sign_in"]
    if not rule["enabled"]:
        raise ApiError(409, "Daily sign-in is switched off.", "sign_in_disabled")
    account_id = account_for_member(claims).id
    when = ledger.now()
    today = local_day(rules, when)
    db.session.rollback()  # plain values only from here: see orders.redeem
    # The account's row lock first: a second click queues here, then finds today's sign-in taken
    # (and the sign-in row's foreign-key check never holds a shared lock that the credit must wait on).
    ledger.lock_account(account_id, when)
    row = SignIn(account_id=account_id, day=today, streak=1, points=int(rule["daily_points"]), bonus=0, created_at=when)
    db.session.add(row)
    try:
        db.session.flush()  # (account, day) is unique
        yesterday = db.session.execute(
            select(SignIn.streak).where(SignIn.account_id == account_id, SignIn.day == today - timedelta(days=1))
        ).scalar_one_or_none()
        row.streak = (yesterday or 0) + 1
        row.bonus = streak_bonus(rules, row.streak)
        business_id = f"{account_id}:{today.isoformat()}"
        ledger.credit(account_id, row.points, SIGN_IN, business_id, reason="每日签到", operator="member")
        if row.bonus:
            ledger.credit(
                account_id, row.bonus, STREAK_BONUS, business_id, reason=f"连续签到 {row.streak} 天", operator="member"
            )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "Already signed in today.", "already_signed_in") from None
    return {
        "day": today,
        "points": row.points,
        "bonus": row.bonus,
        "streak": row.streak,
        "balance": db.session.get(PointsAccount, account_id).balance,
    }


def _next_bonus(rules: dict, streak: int, signed_today: bool) -> dict | None:
    """The next streak bonus if the member keeps signing in: which streak, how many points, in how many days."""
    for k in range(1, 367):
        points = streak_bonus(rules, streak + k)
        if points:
            return {"streak": streak + k, "points": points, "in_days": k - 1 + (1 if signed_today else 0)}
    return None


def calendar(claims: dict, month: date | None) -> dict:
    rules = get_rules()
    account = account_for_member(claims)
    today = local_day(rules, ledger.now())
    first = (month or today).replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    rows = db.session.execute(
        select(SignIn)
        .where(SignIn.account_id == account.id, SignIn.day >= first, SignIn.day < after)
        .order_by(SignIn.day)
    ).scalars()
    last = db.session.execute(
        select(SignIn).where(SignIn.account_id == account.id).order_by(SignIn.day.desc()).limit(1)
    ).scalar_one_or_none()
    signed_today = bool(last and last.day == today)
    streak = last.streak if last and last.day >= today - timedelta(days=1) else 0
    return {
        "month": first.strftime("%Y-%m"),
        "today": today,
        "signed_in_today": signed_today,
        "streak": streak,
        "days": [{"day": r.day, "points": r.points, "bonus": r.bonus, "streak": r.streak} for r in rows],
        "rule": {
            "enabled": rules["sign_in"]["enabled"],
            "daily_points": rules["sign_in"]["daily_points"],
            "streak_bonuses": rules["sign_in"]["streak_bonuses"],
        },
        "next_bonus": _next_bonus(rules, streak, signed_today) if rules["sign_in"]["enabled"] else None,
    }


def public_rules() -> dict:
    rules = get_rules()
    return {
        "subscribe_bonus": rules["subscribe_bonus"],
        "sign_in": rules["sign_in"],
        "expiry": rules["expiry"],
        "timezone_offset_minutes": rules["timezone_offset_minutes"],
    }


# ---------------------------------------------------------------- dashboard


def stats() -> dict:
    rules = get_rules()
    today_start = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    accounts, balance = db.session.execute(
        select(func.count(), func.coalesce(func.sum(PointsAccount.balance), 0)).select_from(PointsAccount)
    ).one()
    issued_today = db.session.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.business_type.in_(EARNING_TYPES), LedgerEntry.created_at >= today_start
        )
    ).scalar_one()
    by_status = dict(db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all())
    on_shelf = db.session.execute(
        select(func.count()).select_from(Product).where(Product.on_shelf.is_(True))
    ).scalar_one()
    return {
        "accounts": accounts,
        "points_outstanding": int(balance),
        "points_issued_today_utc": int(issued_today),
        "orders_by_status": by_status,
        "products_on_shelf": on_shelf,
        "expiry_enabled": rules["expiry"]["enabled"],
    }
