"""The points ledger: every change of a balance, with its entry, inside the caller's transaction.

Rules every function here keeps (DESIGN §4):
- The balance moves only by a guarded UPDATE on the account row (`balance = balance + x`,
  or `balance = balance - x WHERE balance >= x`), never by writing a number read earlier;
  that UPDATE also takes the account's row lock, so everything after it in the transaction
  (lots, the entry) is serialised per account, on MariaDB and on SQLite alike.
- The entry is inserted in the same transaction; (business_type, business_id) is unique, so a
  repeated business event fails the insert and the caller rolls the whole change back.
- Lots: a credit opens a lot; a debit takes lots oldest first (conditional UPDATEs on
  `remaining`) and records what it took (`LotUse`); a refund puts exactly that back; expiry
  empties the lots earned before the cutoff. balance == SUM(entries) == SUM(lots.remaining).

Nothing here commits: the use case in services.py does, once, or rolls back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from wedraw.core.db import utcnow
from wedraw.points_mall import facts
from wedraw.points_mall.models import (
    EARNING_TYPES,
    LedgerEntry,
    LotUse,
    PointsAccount,
    PointsLot,
    db,
)

# The clock of every ledger write; tests move it (hypothesis state machine, expiry).
clock = utcnow


class InsufficientPoints(Exception):
    def __init__(self, balance: int, needed: int):
        super().__init__(f"balance {balance} < {needed}")
        self.balance = balance
        self.needed = needed


class LedgerInconsistent(RuntimeError):
    """The lots do not cover the balance (reconciliation would report the account): refuse to go on."""


def now() -> datetime:
    return clock()


def balance_of(account_id: int) -> int:
    """The current balance (a locking read on MariaDB: the latest committed value, never a stale snapshot)."""
    return db.session.execute(
        select(PointsAccount.balance).where(PointsAccount.id == account_id).with_for_update()
    ).scalar_one()


def lock_account(account_id: int, when: datetime) -> None:
    """Take the account's row lock (and, on SQLite, the write lock) before reading what will be changed."""
    db.session.execute(update(PointsAccount).where(PointsAccount.id == account_id).values(updated_at=when))


def _entry(account_id: int, amount: int, business_type: str, business_id: str, balance: int, **extra) -> int:
    values = {
        "account_id": account_id,
        "business_type": business_type,
        "business_id": business_id,
        "amount": amount,
        "balance_after": balance,
        "reason": (extra.get("reason") or None) and extra["reason"][:255],
        "operator": (extra.get("operator") or None) and extra["operator"][:64],
        "created_at": extra["when"],
    }
    # Core insert: the unique (business_type, business_id) raises IntegrityError right here.
    entry_id = db.session.execute(insert(LedgerEntry).values(**values)).inserted_primary_key[0]
    # Reported to data analysis once this transaction commits (dropped if it rolls back).
    facts.stage_entry(entry_id, account_id, amount, business_type, business_id, balance, extra["when"])
    return entry_id


def credit(
    account_id: int,
    amount: int,
    business_type: str,
    business_id: str,
    *,
    reason: str | None = None,
    operator: str | None = None,
) -> int:
    """Add `amount` points (a new lot); returns the entry id. IntegrityError when the business event posted."""
    if amount <= 0:
        raise ValueError("a credit is positive")
    when = now()
    earned = amount if business_type in EARNING_TYPES else 0
    db.session.execute(
        update(PointsAccount)
        .where(PointsAccount.id == account_id)
        .values(
            balance=PointsAccount.balance + amount,
            total_earned=PointsAccount.total_earned + earned,
            updated_at=when,
        )
    )
    entry_id = _entry(
        account_id,
        amount,
        business_type,
        business_id,
        balance_of(account_id),
        reason=reason,
        operator=operator,
        when=when,
    )
    db.session.execute(
        insert(PointsLot).values(
            account_id=account_id, entry_id=entry_id, amount=amount, remaining=amount, earned_at=when
        )
    )
    return entry_id


def _take_lots(account_id: int, entry_id: int, amount: int, lots: list) -> None:
    """Take `amount` from `lots` (id, remaining), in order, recording each take."""
    left = amount
    uses = []
    for lot_id, remaining in lots:
        if left == 0:
            break
        take = min(remaining, left)
        if take <= 0:
            continue
        taken = db.session.execute(
            update(PointsLot)
            .where(PointsLot.id == lot_id, PointsLot.remaining >= take)
            .values(remaining=PointsLot.remaining - take)
        ).rowcount
        if taken != 1:
            raise LedgerInconsistent(f"lot {lot_id} changed under the account lock")
        uses.append({"entry_id": entry_id, "lot_id": lot_id, "amount": take})
        left -= take
    if left:
        raise LedgerInconsistent(f"account {account_id}: lots cover {amount - left} of {amount}")
    if uses:
        db.session.execute(insert(LotUse), uses)


def _open_lots(account_id: int, earned_before: datetime | None = None) -> list:
    stmt = select(PointsLot.id, PointsLot.remaining).where(PointsLot.account_id == account_id, PointsLot.remaining > 0)
    if earned_before is not None:
        stmt = stmt.where(PointsLot.earned_at < earned_before)
    return db.session.execute(stmt.order_by(PointsLot.id).with_for_update()).all()


def debit(
    account_id: int,
    amount: int,
    business_type: str,
    business_id: str,
    *,
    reason: str | None = None,
    operator: str | None = None,
) -> int:
    """Take `amount` points, oldest lots first; InsufficientPoints (nothing changed) when the balance is short."""
    if amount <= 0:
        raise ValueError("a debit is positive")
    when = now()
    taken = db.session.execute(
        update(PointsAccount)
        .where(PointsAccount.id == account_id, PointsAccount.balance >= amount)
        .values(
            balance=PointsAccount.balance - amount,
            total_spent=PointsAccount.total_spent + amount,
            updated_at=when,
        )
    ).rowcount
    if not taken:
        raise InsufficientPoints(balance_of(account_id), amount)
    entry_id = _entry(
        account_id,
        -amount,
        business_type,
        business_id,
        balance_of(account_id),
        reason=reason,
        operator=operator,
        when=when,
    )
    _take_lots(account_id, entry_id, amount, _open_lots(account_id))
    return entry_id


def refund(
    original_entry_id: int,
    business_type: str,
    business_id: str,
    *,
    reason: str | None = None,
    operator: str | None = None,
) -> int:
    """Give back what a debit entry took, into the very lots it took them from; returns the new entry id."""
    original = db.session.get(LedgerEntry, original_entry_id)
    if original is None or original.amount >= 0:
        raise ValueError(f"entry {original_entry_id} is not a debit")
    amount = -original.amount
    when = now()
    db.session.execute(
        update(PointsAccount)
        .where(PointsAccount.id == original.account_id)
        .values(
            balance=PointsAccount.balance + amount,
            total_spent=PointsAccount.total_spent - amount,
            updated_at=when,
        )
    )
    entry_id = _entry(
        original.account_id,
        amount,
        business_type,
        business_id,
        balance_of(original.account_id),
        reason=reason,
        operator=operator,
        when=when,
    )
    uses = db.session.execute(select(LotUse.lot_id, LotUse.amount).where(LotUse.entry_id == original.id)).all()
    if sum(u.amount for u in uses) != amount:
        raise LedgerInconsistent(f"entry {original.id}: recorded lot uses do not add up to {amount}")
    for lot_id, used in uses:
        back = db.session.execute(
            update(PointsLot)
            .where(PointsLot.id == lot_id, PointsLot.remaining + used <= PointsLot.amount)
            .values(remaining=PointsLot.remaining + used)
        ).rowcount
        if back != 1:
            raise LedgerInconsistent(f"lot {lot_id} cannot take back {used}")
    return entry_id


def expire(account_id: int, earned_before: datetime, business_id: str) -> tuple[int | None, int]:
    """Expire what is left of the account's lots earned before the cutoff: (entry id or None, points)."""
    from wedraw.points_mall.models import EXPIRY

    when = now()
    lock_account(account_id, when)
    lots = _open_lots(account_id, earned_before)
    amount = sum(remaining for _id, remaining in lots)
    if amount == 0:
        return None, 0
    taken = db.session.execute(
        update(PointsAccount)
        .where(PointsAccount.id == account_id, PointsAccount.balance >= amount)
        .values(
            balance=PointsAccount.balance - amount,
            total_expired=PointsAccount.total_expired + amount,
            updated_at=when,
        )
    ).rowcount
    if not taken:
        raise LedgerInconsistent(f"account {account_id}: open lots exceed the balance")
    entry_id = _entry(
        account_id,
        -amount,
        EXPIRY,
        business_id,
        balance_of(account_id),
        reason=f"积分过期（{earned_before:%Y-%m-%d %H:%M} UTC 前获得）",
        operator="system",
        when=when,
    )
    _take_lots(account_id, entry_id, amount, lots)
    return entry_id, amount
