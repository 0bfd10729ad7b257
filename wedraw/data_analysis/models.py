"""Tables of the data_analysis service (its own database, `data_analysis_db`).

- `Fact`: one event another service reported by the named task `data_analysis.record_fact`.
  `event_id` is unique and facts are inserted with insert-ignore semantics, so a retried or
  duplicated report is stored (and counted) once. `metric`, `account`, `dimension`, `amount`
  and `day` are derived from the reported kind when the fact arrives (see facts.py), so the
  roll-up is one GROUP BY over indexed columns.
- `DailyStat`: the roll-up, one row per (day, metric, account, dimension) with the day's count
  of facts and sum of their amounts (for gauges: the day's highest reported value). A day is
  always rebuilt whole: its rows are deleted and inserted again in one transaction.
- `Report`: an operator's request for a CSV/XLSX file, written by a worker on `reports`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wedraw.core.db import make_db, utcnow

db = make_db()

# SQLite only autoincrements an INTEGER PRIMARY KEY; MariaDB gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Report states.
QUEUED, RUNNING, DONE, FAILED, EXPIRED = "queued", "running", "done", "failed", "expired"
REPORT_STATUSES = (QUEUED, RUNNING, DONE, FAILED, EXPIRED)


class Fact(db.Model):
    __tablename__ = "da_facts"
    __table_args__ = (
        Index("ix_da_facts_day_metric", "day", "metric"),
        Index("ix_da_facts_metric_occurred", "metric", "occurred_at"),
        Index("ix_da_facts_ref", "ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    metric: Mapped[str] = mapped_column(String(64), nullable=False)
    # The Official Account's appid, the WeCom corp id... ('' when the fact belongs to no account).
    account: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    dimension: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    label: Mapped[str | None] = mapped_column(String(128))
    # A business reference: the campaign id of a send, the order number of an order.
    ref: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # The local (China) day of occurred_at: the day it is rolled up into.
    day: Mapped[date] = mapped_column(Date, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    openid: Mapped[str | None] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class DailyStat(db.Model):
    __tablename__ = "da_daily_stats"
    __table_args__ = (
        UniqueConstraint("day", "metric", "account", "dimension"),
        Index("ix_da_daily_stats_metric_day", "metric", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    metric: Mapped[str] = mapped_column(String(64), nullable=False)
    account: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    dimension: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    label: Mapped[str | None] = mapped_column(String(128))
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rolled_up_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Report(db.Model):
    __tablename__ = "da_reports"
    __table_args__ = (Index("ix_da_reports_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    date_from: Mapped[date] = mapped_column(Date, nullable=False)
    date_to: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=QUEUED)
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    file_name: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # "console" for an operator's request, "daily"/"weekly" for a scheduled one.
    trigger: Mapped[str] = mapped_column(String(16), nullable=False, default="console")
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
