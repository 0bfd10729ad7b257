"""Scheduled reports: every morning yesterday's (and on Mondays last week's) numbers.

The beat job `data_analysis.scheduled_reports` (01:10 China time):
1. rolls the period up again, so late facts are in;
2. queues the report files named in WEDRAW_ANALYTICS_SCHEDULED_REPORTS (e.g.
   `points_ledger:xlsx,orders:csv`), once per period (trigger `daily` / `weekly`);
3. when WEDRAW_ANALYTICS_SUMMARY_ROBOT names a message center group-robot sender (its id, robot
   key or name), posts a markdown summary of the KPIs there through the message center's named
   single-send task `message_center.send`, with an idempotency key per period so a re-run of
   the job never posts twice.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select

from wedraw.core.config import ConfigError
from wedraw.data_analysis.dashboard import kpis
from wedraw.data_analysis.models import Report, db
from wedraw.data_analysis.reports import FORMATS, KINDS, request_report
from wedraw.data_analysis.rollup import rollup_range, today_local

log = logging.getLogger("wedraw.data_analysis.scheduled")

SCHEDULED_TASK = "data_analysis.scheduled_reports"
SEND_TASK, MESSAGE_CENTER_QUEUE = "message_center.send", "message_center"
SUMMARY_METRICS = (
    "new_fans",
    "net_fans",
    "sign_ins",
    "points_earned",
    "points_spent",
    "orders",
    "sends_sent",
    "sends_failed",
    "wecom_members",
)


def scheduled_kinds(settings=None) -> list[tuple[str, str]]:
    settings = settings or current_app.config["WEDRAW_SETTINGS"]
    raw = settings.extra.get("WEDRAW_ANALYTICS_SCHEDULED_REPORTS", "").strip()
    wanted = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        kind, _, fmt = item.partition(":")
        fmt = fmt or "xlsx"
        if kind not in KINDS or fmt not in FORMATS:
            raise ConfigError(
                "WEDRAW_ANALYTICS_SCHEDULED_REPORTS",
                f"must list kind:format pairs (kinds {', '.join(KINDS)}; formats csv, xlsx), got {item!r}",
            )
        wanted.append((kind, fmt))
    return wanted


def summary_robot(settings=None) -> str | None:
    settings = settings or current_app.config["WEDRAW_SETTINGS"]
    return settings.extra.get("WEDRAW_ANALYTICS_SUMMARY_ROBOT", "").strip() or None


def _change(change) -> str:
    if change is None:
        return "上期为 0"
    return f"环比 {'+' if change >= 0 else ''}{change}%"


def summary_markdown(title: str, first: date, last: date) -> str:
    numbers = {item["metric"]: item for item in kpis(first, last)["items"]}
    period = first.isoformat() if first == last else f"{first.isoformat()} 至 {last.isoformat()}"
    lines = [f"### WeDraw {title}", f"> 统计区间：{period}", ""]
    for name in SUMMARY_METRICS:
        item = numbers[name]
        lines.append(f"- {item['label']}：**{item['value']:,}**（{_change(item['change'])}）")
    return "\n".join(lines)


def periods(today: date) -> list[tuple[str, str, date, date]]:
    yesterday = today - timedelta(days=1)
    found = [("daily", "数据日报", yesterday, yesterday)]
    if today.weekday() == 0:  # Monday: last week, Monday to Sunday
        found.append(("weekly", "数据周报", today - timedelta(days=7), yesterday))
    return found


def run_scheduled(today: date | None = None) -> dict:
    today = today or today_local()
    wanted = scheduled_kinds()
    robot = summary_robot()
    done = {"reports": 0, "summaries": 0}
    for trigger, title, first, last in periods(today):
        rollup_range(first, last)
        for kind, fmt in wanted:
            exists = db.session.execute(
                select(Report.id).where(
                    Report.kind == kind,
                    Report.format == fmt,
                    Report.date_from == first,
                    Report.date_to == last,
                    Report.trigger == trigger,
                )
            ).first()
            db.session.rollback()
            if not exists:
                request_report(kind, fmt, first, last, who=None, trigger=trigger)
                done["reports"] += 1
        if robot:
            request = {
                "channel": "group_robot",
                "sender": robot,
                "message": {"msgtype": "markdown", "markdown": {"content": summary_markdown(title, first, last)}},
                "idempotency_key": f"data_analysis:{trigger}:{last.isoformat()}",
            }
            current_app.extensions["celery"].send_task(
                SEND_TASK, kwargs={"message": request, "caller": "data_analysis"}, queue=MESSAGE_CENTER_QUEUE
            )
            done["summaries"] += 1
    return done
