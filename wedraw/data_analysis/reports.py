"""Reports: an operator asks for one, a worker on the `reports` queue writes it, streaming.

Where each report's rows come from (all of them from what the owning services reported to data
analysis as facts, read on the read replica when one is configured; the owning services'
databases stay theirs, and their own consoles export their current state):

    fans              follow and unfollow events in the range (facts from the Official Account)
    points_ledger     every points ledger entry in the range (facts from the points mall, one per entry)
    orders            exchange orders placed in the range (facts from the points mall)
    campaign_results  per campaign: targeted, sent, failed by reason (facts from the message center)
    members           per day and WeCom corp: members and customer groups after each sync (daily stats)

The worker reads in keyset-paged chunks and writes as it reads (the csv module, or openpyxl in
write-only mode for XLSX), so memory stays flat whatever the size; it records its progress after
every chunk. A failure records why and leaves the report `failed`, to be retried from the console.
Finished files are removed after the retention period (WEDRAW_ANALYTICS_REPORT_RETENTION_DAYS).
"""

from __future__ import annotations

import csv
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from wedraw.core.config import ConfigError
from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.data_analysis.dashboard import campaign_funnels
from wedraw.data_analysis.facts import LOCAL_OFFSET
from wedraw.data_analysis.models import DONE, EXPIRED, FAILED, QUEUED, RUNNING, DailyStat, Fact, Report, db
from wedraw.data_analysis.reading import read_session

log = logging.getLogger("wedraw.data_analysis.reports")

REPORTS_QUEUE = "reports"
GENERATE_TASK = "data_analysis.generate_report"
CLEANUP_TASK = "data_analysis.cleanup_reports"
CHUNK = 5000
MAX_RANGE_DAYS = 366
XLSX_MAX_ROWS = 1_048_576  # Excel's rows per sheet, the header included
STALE_RUNNING = timedelta(hours=1)  # a report "running" this long lost its worker: it may be retried

KINDS = {
    "fans": "粉丝关注明细",
    "points_ledger": "积分流水",
    "orders": "兑换订单",
    "campaign_results": "群发活动结果",
    "members": "企业成员与客户群",
}
FORMATS = ("csv", "xlsx")
BUSINESS_TYPES = {
    "subscribe_bonus": "关注奖励",
    "sign_in": "每日签到",
    "streak_bonus": "连续签到奖励",
    "admin_grant": "后台发放",
    "admin_deduct": "后台扣减",
    "redemption": "积分兑换",
    "redemption_refund": "兑换退回",
    "expiry": "积分过期",
}


def retention_days(settings=None) -> int:
    settings = settings or current_app.config["WEDRAW_SETTINGS"]
    raw = settings.extra.get("WEDRAW_ANALYTICS_REPORT_RETENTION_DAYS", "7")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError("WEDRAW_ANALYTICS_REPORT_RETENTION_DAYS", f"must be an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError("WEDRAW_ANALYTICS_REPORT_RETENTION_DAYS", f"must be at least 1, got {value}")
    return value


def reports_dir(settings=None) -> Path:
    settings = settings or current_app.config["WEDRAW_SETTINGS"]
    path = settings.var_dir / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _local(moment: datetime) -> str:
    return (moment + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- row sources


def _facts(session, metrics: tuple[str, ...], first: date, last: date, columns: tuple) -> Iterator:
    """Facts of the metrics in the range, in id order, fetched a chunk at a time (keyset paging)."""
    after = 0
    while True:
        chunk = session.execute(
            select(Fact.id, *columns)
            .where(Fact.metric.in_(metrics), Fact.day >= first, Fact.day <= last, Fact.id > after)
            .order_by(Fact.id)
            .limit(CHUNK)
        ).all()
        if not chunk:
            return
        yield from chunk
        after = chunk[-1][0]


def _count(session, metrics: tuple[str, ...], first: date, last: date) -> int:
    return session.execute(
        select(func.count()).where(Fact.metric.in_(metrics), Fact.day >= first, Fact.day <= last)
    ).scalar_one()


def _fans(session, first, last):
    metrics = ("fans.follow", "fans.unfollow")
    headers = ["时间", "公众号 AppID", "OpenID", "UnionID", "事件", "场景值"]

    def rows():
        for _id, at, account, openid, unionid, metric, scene in _facts(
            session,
            metrics,
            first,
            last,
            (Fact.occurred_at, Fact.account, Fact.openid, Fact.unionid, Fact.metric, Fact.dimension),
        ):
            yield [
                _local(at),
                account,
                openid or "",
                unionid or "",
                "关注" if metric == "fans.follow" else "取消关注",
                scene,
            ]

    return headers, _count(session, metrics, first, last), rows()


def _ledger(session, first, last):
    metrics = ("points.earned", "points.spent")
    headers = ["时间", "流水号", "积分账户", "业务类型", "业务单号", "积分变动", "变动后余额"]

    def rows():
        for _id, at, metric, business_type, data in _facts(
            session, metrics, first, last, (Fact.occurred_at, Fact.metric, Fact.dimension, Fact.data)
        ):
            data = data or {}
            amount = abs(int(data.get("amount") or 0))
            yield [
                _local(at),
                data.get("entry_id", ""),
                data.get("account_id", ""),
                BUSINESS_TYPES.get(business_type, business_type),
                data.get("business_id", ""),
                amount if metric == "points.earned" else -amount,
                data.get("balance_after", ""),
            ]

    return headers, _count(session, metrics, first, last), rows()


def _orders(session, first, last):
    metrics = ("orders",)
    headers = ["时间", "订单号", "商品 ID", "商品名称", "数量", "积分"]

    def rows():
        for _id, at, ref, product, label, amount, data in _facts(
            session,
            metrics,
            first,
            last,
            (Fact.occurred_at, Fact.ref, Fact.dimension, Fact.label, Fact.amount, Fact.data),
        ):
            yield [_local(at), ref or "", product, label or "", (data or {}).get("quantity", ""), amount]

    return headers, _count(session, metrics, first, last), rows()


def _campaigns(session, first, last):
    funnels = campaign_funnels(first, last, limit=100_000)
    headers = ["活动 ID", "活动名称", "渠道", "目标人数", "发送成功", "发送失败", "失败原因"]
    rows = (
        [
            f["campaign_id"],
            f["name"],
            f["channel"],
            f["targeted"],
            f["sent"],
            f["failed"],
            "；".join(f"{r['reason']}: {r['count']}" for r in f["failed_by_reason"]),
        ]
        for f in funnels
    )
    return headers, len(funnels), rows


def _members(session, first, last):
    found = session.execute(
        select(DailyStat.day, DailyStat.account, DailyStat.metric, func.sum(DailyStat.total))
        .where(DailyStat.metric.in_(("wecom.members", "wecom.groups")), DailyStat.day >= first, DailyStat.day <= last)
        .group_by(DailyStat.day, DailyStat.account, DailyStat.metric)
        .order_by(DailyStat.day, DailyStat.account)
    ).all()
    table: dict[tuple, dict] = {}
    for day, account, metric, total in found:
        table.setdefault((day, account), {})[metric] = int(total or 0)
    headers = ["日期", "企业 ID", "成员数", "客户群数"]
    rows = (
        [day.isoformat(), account, values.get("wecom.members", ""), values.get("wecom.groups", "")]
        for (day, account), values in table.items()
    )
    return headers, len(table), rows


SOURCES: dict[str, Callable] = {
    "fans": _fans,
    "points_ledger": _ledger,
    "orders": _orders,
    "campaign_results": _campaigns,
    "members": _members,
}


# ---------------------------------------------------------------- writers


def write_csv(path: Path, headers: list, rows, on_chunk: Callable[[int], None]) -> int:
    written = 0
    # utf-8-sig: Excel opens a CSV with Chinese text correctly only with the BOM.
    with open(path, "w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(row)
            written += 1
            if written % CHUNK == 0:
                on_chunk(written)
    return written


def write_xlsx(path: Path, headers: list, rows, on_chunk: Callable[[int], None], title: str = "报表") -> int:
    from openpyxl import Workbook

    # Write-only: every row goes straight to the sheet's XML on disk; memory does not grow with rows.
    workbook = Workbook(write_only=True)
    sheet, in_sheet, sheets, written = None, XLSX_MAX_ROWS, 0, 0
    for row in rows:
        if in_sheet >= XLSX_MAX_ROWS:  # a sheet is full: go on in the next one
            sheets += 1
            sheet = workbook.create_sheet(title if sheets == 1 else f"{title}{sheets}")
            sheet.append(headers)
            in_sheet = 1
        sheet.append(row)
        in_sheet += 1
        written += 1
        if written % CHUNK == 0:
            on_chunk(written)
    if sheet is None:
        workbook.create_sheet(title).append(headers)
    workbook.save(path)
    return written


# ---------------------------------------------------------------- use cases


def _queue(report_id: int) -> None:
    try:
        current_app.extensions["celery"].send_task(GENERATE_TASK, args=[report_id], queue=REPORTS_QUEUE, retry=False)
    except Exception as exc:
        db.session.execute(
            update(Report)
            .where(Report.id == report_id, Report.status == QUEUED)
            .values(status=FAILED, error=f"任务队列不可用（{type(exc).__name__}），请稍后重试", finished_at=utcnow())
        )
        db.session.commit()


def request_report(kind: str, fmt: str, first: date, last: date, who: str | None, trigger: str = "console") -> Report:
    if kind not in KINDS:
        raise ApiError(422, f"Unknown report kind {kind!r}.", errors={"kind": [f"Must be one of: {', '.join(KINDS)}."]})
    if fmt not in FORMATS:
        raise ApiError(422, f"Unknown format {fmt!r}.", errors={"format": ["Must be csv or xlsx."]})
    if last < first:
        raise ApiError(422, "The date range ends before it starts.", errors={"to": ["Must not be before from."]})
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(422, "A report covers at most one year.", errors={"to": [f"At most {MAX_RANGE_DAYS} days."]})
    report = Report(kind=kind, format=fmt, date_from=first, date_to=last, requested_by=who, trigger=trigger)
    db.session.add(report)
    db.session.commit()
    _queue(report.id)
    db.session.refresh(report)
    return report


def get_report(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        raise ApiError(404, "No such report.")
    return report


def list_reports(args: dict) -> dict:
    stmt = select(Report).order_by(Report.id.desc())
    if args.get("status"):
        stmt = stmt.where(Report.status == args["status"])
    if args.get("kind"):
        stmt = stmt.where(Report.kind == args["kind"])
    return paginate(db.session, stmt, args["page"], args["page_size"])


def retry_report(report_id: int) -> Report:
    report = get_report(report_id)
    stale = report.status == RUNNING and report.started_at and report.started_at < utcnow() - STALE_RUNNING
    if report.status not in (FAILED, EXPIRED) and not stale:
        raise ApiError(409, f"Only a failed or expired report can be run again (this one is {report.status}).")
    claimed = db.session.execute(
        update(Report)
        .where(Report.id == report_id, Report.status == report.status)
        .values(status=QUEUED, progress=0, rows=0, error=None, started_at=None, finished_at=None, expires_at=None)
    ).rowcount
    db.session.commit()
    if not claimed:
        raise ApiError(409, "The report changed meanwhile; look again.")
    _queue(report_id)
    db.session.refresh(report)
    return report


def download_path(report: Report) -> Path:
    if report.status != DONE or not report.file_name:
        raise ApiError(409, f"The report is not ready to download (it is {report.status}).")
    path = reports_dir() / report.file_name
    if not path.is_file():
        raise ApiError(410, "The report's file is gone; run it again.", "gone")
    return path


def download_name(report: Report) -> str:
    return f"{KINDS[report.kind]}_{report.date_from:%Y%m%d}-{report.date_to:%Y%m%d}.{report.format}"


def generate(report_id: int) -> str:
    """Write one report (the task's body). Idempotent: only a queued report is claimed, or one whose
    worker died while writing it (running for longer than any task may: a redelivered task)."""
    now = utcnow()
    claimed = db.session.execute(
        update(Report)
        .where(
            Report.id == report_id,
            or_(Report.status == QUEUED, and_(Report.status == RUNNING, Report.started_at < now - STALE_RUNNING)),
        )
        .values(status=RUNNING, started_at=now, attempts=Report.attempts + 1, progress=0, error=None)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "not queued"
    report = db.session.get(Report, report_id)
    directory = reports_dir()
    file_name = f"{report.id}-{secrets.token_hex(8)}.{report.format}"
    part = directory / (file_name + ".part")
    try:
        with read_session() as session:
            headers, total, rows = SOURCES[report.kind](session, report.date_from, report.date_to)

            def on_chunk(done: int) -> None:
                db.session.execute(
                    update(Report)
                    .where(Report.id == report_id)
                    .values(progress=min(99, done * 100 // max(total, 1)), rows=done)
                )
                db.session.commit()

            writer = write_xlsx if report.format == "xlsx" else write_csv
            if writer is write_xlsx:
                written = write_xlsx(part, headers, rows, on_chunk, title=KINDS[report.kind])
            else:
                written = write_csv(part, headers, rows, on_chunk)
        os.replace(part, directory / file_name)
    except Exception as exc:
        db.session.rollback()
        part.unlink(missing_ok=True)
        log.exception("report %s failed", report_id)
        db.session.execute(
            update(Report)
            .where(Report.id == report_id)
            .values(status=FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow())
        )
        db.session.commit()
        return "failed"
    finished = utcnow()
    db.session.execute(
        update(Report)
        .where(Report.id == report_id)
        .values(
            status=DONE,
            progress=100,
            rows=written,
            file_name=file_name,
            size=(directory / file_name).stat().st_size,
            finished_at=finished,
            expires_at=finished + timedelta(days=retention_days()),
        )
    )
    db.session.commit()
    return "done"


def cleanup(now: datetime | None = None) -> int:
    """Remove the files of reports past their retention; the rows stay, marked expired."""
    now = now or utcnow()
    due = db.session.execute(
        select(Report.id, Report.file_name).where(Report.status == DONE, Report.expires_at < now)
    ).all()
    directory = reports_dir()
    for report_id, file_name in due:
        if file_name:
            (directory / file_name).unlink(missing_ok=True)
        db.session.execute(
            update(Report)
            .where(Report.id == report_id, Report.status == DONE)
            .values(status=EXPIRED, file_name=None, size=None)
        )
    db.session.commit()
    return len(due)
