"""The nightly jobs: points expiry settlement and reconciliation.

Expiry (`points_mall.expire_points`, beat, locked; `python -m wedraw.cli points expire`):
- settles one members' local day at a time: lots earned before the day's cutoff (its local
  midnight minus the configured number of days) lose what is left of them, oldest first;
- one `ExpiryRun` row per day (unique): a finished day is not settled again (idempotent per
  day); a run records the last account it finished, so a run that crashed resumes there;
- accounts are settled in batches, each account in its own transaction together with the
  run's progress, with entry business id "<account>:<day>" (an account expires at most once
  a day, whatever re-runs);
- off by default (rules: expiry.enabled).

Reconciliation (`points_mall.reconcile`, beat, locked; `python -m wedraw.cli points reconcile`):
every account's balance against the sum of its ledger entries and against the sum of its
open lots, a batch of accounts per statement (one statement reads a consistent snapshot on
both SQLite and MariaDB, so a concurrent redemption never shows as a false mismatch); memory
is bounded by the batch. Every run is recorded; any mismatch is logged as an error.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.points_mall import ledger
from wedraw.points_mall.models import (
    ExpiryRun,
    LedgerEntry,
    PointsAccount,
    PointsLot,
    Reconciliation,
    db,
)
from wedraw.points_mall.rules import expiry_cutoff, get_rules, local_day

log = logging.getLogger("wedraw.points_mall.settlement")

EXPIRY_BATCH = 500
RECONCILE_BATCH = 1000
MISMATCHES_KEPT = 100


# ---------------------------------------------------------------- expiry


def _run_for(day: date, cutoff) -> ExpiryRun:
    run = db.session.execute(select(ExpiryRun).where(ExpiryRun.day == day)).scalar_one_or_none()
    if run is not None:
        return run
    run = ExpiryRun(day=day, cutoff=cutoff, status="running", last_account_id=0, accounts=0, points=0)
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:  # started by another process a moment ago: the lock makes this rare
        db.session.rollback()
        run = db.session.execute(select(ExpiryRun).where(ExpiryRun.day == day)).scalar_one()
    return run


def run_expiry(day: date | None = None, batch: int = EXPIRY_BATCH, stop_after: int | None = None) -> dict:
    """Settle one day's expiry (default: the members' today). `stop_after` accounts: for tests of resuming."""
    rules = get_rules()
    if not rules["expiry"]["enabled"]:
        return {"status": "disabled"}
    day = day or local_day(rules, ledger.now())
    run = _run_for(day, expiry_cutoff(rules, day))
    if run.status == "done":
        return {"status": "already done", "day": day.isoformat(), "accounts": run.accounts, "points": run.points}
    run_id, cutoff, done_here = run.id, run.cutoff, 0
    while True:
        cursor = db.session.get(ExpiryRun, run_id).last_account_id
        account_ids = list(
            db.session.execute(
                select(PointsLot.account_id)
                .where(PointsLot.remaining > 0, PointsLot.earned_at < cutoff, PointsLot.account_id > cursor)
                .group_by(PointsLot.account_id)
                .order_by(PointsLot.account_id)
                .limit(batch)
            ).scalars()
        )
        db.session.rollback()
        if not account_ids:
            break
        for account_id in account_ids:
            if stop_after is not None and done_here >= stop_after:
                return {"status": "stopped", "day": day.isoformat(), "last_account_id": account_id}
            _expire_one(run_id, account_id, cutoff, day)
            done_here += 1
    db.session.execute(
        update(ExpiryRun).where(ExpiryRun.id == run_id).values(status="done", finished_at=utcnow(), updated_at=utcnow())
    )
    db.session.commit()
    run = db.session.get(ExpiryRun, run_id)
    log.info("expiry of %s: %d points from %d accounts", day, run.points, run.accounts)
    return {"status": "done", "day": day.isoformat(), "accounts": run.accounts, "points": run.points}


def _expire_one(run_id: int, account_id: int, cutoff, day: date) -> None:
    try:
        _entry_id, points = ledger.expire(account_id, cutoff, f"{account_id}:{day.isoformat()}")
        values = {"last_account_id": account_id, "updated_at": utcnow()}
        if points:
            values.update(accounts=ExpiryRun.accounts + 1, points=ExpiryRun.points + points)
        db.session.execute(update(ExpiryRun).where(ExpiryRun.id == run_id).values(**values))
        db.session.commit()
    except IntegrityError:
        # This account already expired points today (lots given back by a refund since): tomorrow's run.
        db.session.rollback()
        db.session.execute(
            update(ExpiryRun).where(ExpiryRun.id == run_id).values(last_account_id=account_id, updated_at=utcnow())
        )
        db.session.commit()


def list_expiry_runs(args: dict) -> dict:
    stmt = select(ExpiryRun).order_by(ExpiryRun.day.desc())
    return paginate(db.session, stmt, args["page"], args["page_size"])


# ---------------------------------------------------------------- reconciliation


def _batch(after: int, size: int) -> list:
    entries = (
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .where(LedgerEntry.account_id == PointsAccount.id)
        .scalar_subquery()
    )
    count = select(func.count(LedgerEntry.id)).where(LedgerEntry.account_id == PointsAccount.id).scalar_subquery()
    lots = (
        select(func.coalesce(func.sum(PointsLot.remaining), 0))
        .where(PointsLot.account_id == PointsAccount.id)
        .scalar_subquery()
    )
    stmt = (
        select(PointsAccount.id, PointsAccount.member_key, PointsAccount.balance, entries, count, lots)
        .where(PointsAccount.id > after)
        .order_by(PointsAccount.id)
        .limit(size)
    )
    return db.session.execute(stmt).all()


def reconcile(trigger: str = "manual", batch: int = RECONCILE_BATCH) -> Reconciliation:
    """Check every balance against its ledger and its lots; record and return the run."""
    run = Reconciliation(trigger=trigger, status="running", started_at=utcnow())
    run.mismatches = []
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    accounts = entries = 0
    mismatches: list[dict] = []
    mismatch_count = 0
    after = 0
    while True:
        rows = _batch(after, batch)
        db.session.rollback()
        if not rows:
            break
        for account_id, key, balance, ledger_sum, count, lots_sum in rows:
            accounts += 1
            entries += int(count)
            if balance != int(ledger_sum) or balance != int(lots_sum) or balance < 0:
                mismatch_count += 1
                if len(mismatches) < MISMATCHES_KEPT:
                    mismatches.append(
                        {
                            "account_id": account_id,
                            "member_key": key,
                            "balance": balance,
                            "ledger_sum": int(ledger_sum),
                            "lots_sum": int(lots_sum),
                        }
                    )
        after = rows[-1][0]
    run = db.session.get(Reconciliation, run_id)
    run.accounts_checked, run.entries_checked, run.mismatch_count = accounts, entries, mismatch_count
    run.mismatches = mismatches
    run.status = "mismatch" if mismatch_count else "ok"
    run.finished_at = utcnow()
    db.session.commit()
    if mismatch_count:
        log.error(
            "reconciliation found %d account(s) whose balance is not their ledger",
            mismatch_count,
            extra={"fields": {"mismatches": mismatches[:10]}},
        )
    return run


def list_reconciliations(args: dict) -> dict:
    stmt = select(Reconciliation).order_by(Reconciliation.id.desc())
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_reconciliation(run_id: int) -> Reconciliation:
    run = db.session.get(Reconciliation, run_id)
    if run is None:
        raise ApiError(404, f"No reconciliation {run_id}.")
    return run
