"""The daily roll-up: facts of one local day into `da_daily_stats`, rebuilt whole each time.

Rolling up a day deletes that day's rows and inserts them again from one
`INSERT ... SELECT ... GROUP BY metric, account, dimension` in the same transaction, so running
a day twice (the beat job every few minutes, a backfill, a retry) gives the same numbers, and
readers never see a half-built day. Counts are facts; totals are summed amounts, except for
gauges (member counts), where the day keeps its highest reported value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import case, delete, func, insert, literal, select
from sqlalchemy.exc import IntegrityError, OperationalError

from wedraw.core.db import utcnow
from wedraw.data_analysis.facts import GAUGES, LOCAL_OFFSET
from wedraw.data_analysis.models import DailyStat, Fact, db

ROLLUP_TASK = "data_analysis.rollup"
MAX_BACKFILL_DAYS = 3660


def _day_select(day: date):
    total = case((Fact.metric.in_(GAUGES), func.max(Fact.amount)), else_=func.sum(Fact.amount))
    return (
        select(
            literal(day, DailyStat.day.type).label("day"),
            Fact.metric,
            Fact.account,
            Fact.dimension,
            func.max(Fact.label).label("label"),
            func.count().label("count"),
            func.coalesce(total, 0).label("total"),
            literal(utcnow(), DailyStat.rolled_up_at.type).label("rolled_up_at"),
        )
        .where(Fact.day == day)
        .group_by(Fact.metric, Fact.account, Fact.dimension)
    )


def rollup_day(day: date, attempts: int = 3) -> int:
    """Rebuild one day's statistics; returns how many rows the day has now."""
    columns = ["day", "metric", "account", "dimension", "label", "count", "total", "rolled_up_at"]
    for attempt in range(attempts):
        try:
            db.session.execute(delete(DailyStat).where(DailyStat.day == day))
            db.session.execute(insert(DailyStat).from_select(columns, _day_select(day)))
            rows = db.session.execute(select(func.count()).where(DailyStat.day == day)).scalar_one()
            db.session.commit()
            return rows
        except (IntegrityError, OperationalError):
            # Two roll-ups of the same day at once (a backfill beside the beat job): the later one redoes it.
            db.session.rollback()
            if attempt == attempts - 1:
                raise
    return 0


def today_local() -> date:
    return (utcnow() + LOCAL_OFFSET).date()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def rollup_range(first: date, last: date, progress: Callable[[date, int], None] | None = None) -> dict:
    """Roll up every day from `first` to `last` (inclusive), calling progress(day, rows) after each."""
    if last < first:
        raise ValueError("the range ends before it starts")
    if (last - first).days >= MAX_BACKFILL_DAYS:
        raise ValueError(f"at most {MAX_BACKFILL_DAYS} days at once")
    total = 0
    span = days(first, last)
    for day in span:
        rows = rollup_day(day)
        total += rows
        if progress is not None:
            progress(day, rows)
    return {"days": len(span), "rows": total, "from": first.isoformat(), "to": last.isoformat()}


def rollup_recent() -> dict:
    """The beat job: yesterday (late facts still arrive after midnight) and today so far."""
    today = today_local()
    return rollup_range(today - timedelta(days=1), today)
