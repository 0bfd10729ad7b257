"""The dashboard's numbers, read from the daily statistics (on the read replica when configured).

Every public metric is one stored metric (optionally one dimension of it), its daily count or
total, or a difference of two metrics (net follows). Ranges are local days, inclusive.
Gauges (member counts) are levels: a range's value is its last day's, never a sum.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select

from wedraw.core.errors import ApiError
from wedraw.data_analysis.models import DailyStat, Fact
from wedraw.data_analysis.reading import read_session

MAX_DAY_SPAN = 366  # days in one day-granularity request (a leap year)
MAX_SPAN = 5 * 366  # days in one week/month request
GRANULARITIES = ("day", "week", "month")


@dataclass(frozen=True)
class Metric:
    label: str
    stored: str = ""
    field: str = "count"  # or "total"
    dimension: str | None = None
    gauge: bool = False
    plus: str | None = None  # derived: plus - minus
    minus: str | None = None


METRICS: dict[str, Metric] = OrderedDict(
    new_fans=Metric("新增关注", "fans.follow"),
    unfollows=Metric("取消关注", "fans.unfollow"),
    net_fans=Metric("净增关注", plus="new_fans", minus="unfollows"),
    qr_scans=Metric("扫码次数", "qrcode.scan"),
    menu_clicks=Metric("菜单点击", "menu.click"),
    inbound_messages=Metric("粉丝消息", "messages.inbound"),
    points_earned=Metric("发放积分", "points.earned", "total"),
    points_spent=Metric("消耗积分", "points.spent", "total"),
    sign_ins=Metric("签到次数", "points.earned", "count", dimension="sign_in"),
    orders=Metric("兑换订单", "orders"),
    order_points=Metric("订单积分", "orders", "total"),
    sends_sent=Metric("发送成功", "sends.sent"),
    sends_failed=Metric("发送失败", "sends.failed"),
    wecom_members=Metric("企业成员", "wecom.members", "total", gauge=True),
    wecom_groups=Metric("客户群", "wecom.groups", "total", gauge=True),
)


def check_range(first: date, last: date, granularity: str = "day") -> None:
    if last < first:
        raise ApiError(422, "The date range ends before it starts.", errors={"to": ["Must not be before from."]})
    span = (last - first).days + 1
    if granularity == "day" and span > MAX_DAY_SPAN:
        raise ApiError(
            422,
            "At day granularity a range covers at most one year; use week or month for longer ones.",
            errors={"to": [f"At most {MAX_DAY_SPAN} days at day granularity."]},
        )
    if span > MAX_SPAN:
        raise ApiError(422, "A range covers at most five years.", errors={"to": [f"At most {MAX_SPAN} days."]})


def metric_of(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ApiError(
            422, f"Unknown metric {name!r}.", errors={"metric": [f"Must be one of: {', '.join(METRICS)}."]}
        ) from None


def _daily(session, metric: Metric, first: date, last: date, account: str | None, dimension: str | None) -> dict:
    """{day: value} of a stored metric."""
    column = DailyStat.total if metric.field == "total" else DailyStat.count
    stmt = (
        select(DailyStat.day, func.sum(column))
        .where(DailyStat.metric == metric.stored, DailyStat.day >= first, DailyStat.day <= last)
        .group_by(DailyStat.day)
    )
    dimension = dimension if dimension is not None else metric.dimension
    if dimension is not None:
        stmt = stmt.where(DailyStat.dimension == dimension)
    if account:
        stmt = stmt.where(DailyStat.account == account)
    return {day: int(value or 0) for day, value in session.execute(stmt)}


def daily_values(session, name: str, first: date, last: date, account=None, dimension=None) -> dict:
    metric = metric_of(name)
    if metric.plus:
        plus = daily_values(session, metric.plus, first, last, account, dimension)
        minus = daily_values(session, metric.minus, first, last, account, dimension)
        return {d: plus.get(d, 0) - minus.get(d, 0) for d in set(plus) | set(minus)}
    return _daily(session, metric, first, last, account, dimension)


def _bucket(day: date, granularity: str) -> str:
    if granularity == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if granularity == "month":
        return f"{day:%Y-%m}"
    return day.isoformat()


def _aggregate(values: dict, first: date, last: date, gauge: bool) -> int:
    if gauge:
        known = [d for d in values if first <= d <= last]
        return values[max(known)] if known else 0
    return sum(v for d, v in values.items() if first <= d <= last)


def series(name: str, first: date, last: date, granularity: str, account=None, dimension=None) -> dict:
    check_range(first, last, granularity)
    metric = metric_of(name)
    with read_session() as session:
        values = daily_values(session, name, first, last, account, dimension)
    buckets: OrderedDict[str, list[date]] = OrderedDict()
    day = first
    while day <= last:
        buckets.setdefault(_bucket(day, granularity), []).append(day)
        day += timedelta(days=1)
    points = [
        {"period": period, "value": _aggregate(values, span[0], span[-1], metric.gauge)}
        for period, span in buckets.items()
    ]
    return {
        "metric": name,
        "label": metric.label,
        "granularity": granularity,
        "from": first,
        "to": last,
        "points": points,
        "total": _aggregate(values, first, last, metric.gauge),
    }


def kpis(first: date, last: date, account=None) -> dict:
    """Every metric over the range, beside the same number of days just before it."""
    check_range(first, last, "day" if (last - first).days < MAX_DAY_SPAN else "month")
    span = (last - first).days + 1
    prev_last = first - timedelta(days=1)
    prev_first = prev_last - timedelta(days=span - 1)
    items = []
    with read_session() as session:
        for name, metric in METRICS.items():
            values = daily_values(session, name, prev_first, last, account)
            current = _aggregate(values, first, last, metric.gauge)
            previous = _aggregate(values, prev_first, prev_last, metric.gauge)
            change = None if previous == 0 else round((current - previous) * 100.0 / abs(previous), 1)
            items.append(
                {
                    "metric": name,
                    "label": metric.label,
                    "value": current,
                    "previous": previous,
                    "change": change,
                }
            )
    return {"from": first, "to": last, "previous_from": prev_first, "previous_to": prev_last, "items": items}


def top_products(first: date, last: date, limit: int) -> list[dict]:
    check_range(first, last, "month")
    with read_session() as session:
        rows = session.execute(
            select(
                DailyStat.dimension,
                func.max(DailyStat.label),
                func.sum(DailyStat.count).label("orders"),
                func.sum(DailyStat.total).label("points"),
            )
            .where(DailyStat.metric == "orders", DailyStat.day >= first, DailyStat.day <= last)
            .group_by(DailyStat.dimension)
            .order_by(func.sum(DailyStat.count).desc(), func.sum(DailyStat.total).desc(), DailyStat.dimension)
            .limit(limit)
        ).all()
    return [
        {"product_id": dim, "name": label or f"商品 {dim}", "orders": int(orders), "points": int(points or 0)}
        for dim, label, orders, points in rows
    ]


def top_qrcodes(first: date, last: date, limit: int) -> list[dict]:
    """QR scenes by follows they brought, then by scans."""
    check_range(first, last, "month")
    with read_session() as session:
        rows = session.execute(
            select(DailyStat.account, DailyStat.dimension, DailyStat.metric, func.sum(DailyStat.count))
            .where(
                DailyStat.metric.in_(("fans.follow", "qrcode.scan")),
                DailyStat.dimension != "",
                DailyStat.day >= first,
                DailyStat.day <= last,
            )
            .group_by(DailyStat.account, DailyStat.dimension, DailyStat.metric)
        ).all()
    scenes: dict[tuple[str, str], dict] = {}
    for account, scene, metric, count in rows:
        item = scenes.setdefault((account, scene), {"account": account, "scene": scene, "follows": 0, "scans": 0})
        item["follows" if metric == "fans.follow" else "scans"] += int(count)
    ranked = sorted(scenes.values(), key=lambda i: (-i["follows"], -i["scans"], i["account"], i["scene"]))
    return ranked[:limit]


def campaign_funnels(first: date, last: date, limit: int, campaign_id: str | None = None) -> list[dict]:
    """Per campaign with sends in the range: targeted → sent → failed, failures by reason (from the facts)."""
    check_range(first, last, "month")
    with read_session() as session:
        stmt = (
            select(Fact.ref, Fact.metric, Fact.dimension, Fact.label, func.count(), func.sum(Fact.amount))
            .where(
                Fact.metric.in_(("sends.sent", "sends.failed", "campaigns.targeted")),
                Fact.ref.is_not(None),
                Fact.day >= first,
                Fact.day <= last,
            )
            .group_by(Fact.ref, Fact.metric, Fact.dimension, Fact.label)
        )
        if campaign_id:
            stmt = stmt.where(Fact.ref == str(campaign_id))
        rows = session.execute(stmt).all()
    funnels: dict[str, dict] = {}
    for ref, metric, channel, label, count, amount in rows:
        item = funnels.setdefault(
            ref,
            {
                "campaign_id": ref,
                "name": None,
                "channel": channel,
                "targeted": None,
                "sent": 0,
                "failed": 0,
                "failed_by_reason": {},
            },
        )
        if metric == "campaigns.targeted":
            item["targeted"] = int(amount or 0)
            item["name"] = label
            item["channel"] = channel
        elif metric == "sends.sent":
            item["sent"] += int(count)
        else:
            item["failed"] += int(count)
            reasons = item["failed_by_reason"]
            reasons[label or "unknown"] = reasons.get(label or "unknown", 0) + int(count)
    result = []
    for item in funnels.values():
        if item["targeted"] is None:  # still running: everyone with an outcome so far was targeted
            item["targeted"] = item["sent"] + item["failed"]
        item["name"] = item["name"] or f"活动 #{item['campaign_id']}"
        item["failed_by_reason"] = [
            {"reason": reason, "count": count}
            for reason, count in sorted(item["failed_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        result.append(item)
    result.sort(key=lambda i: (-i["targeted"], i["campaign_id"]))
    return result[:limit]


def metrics_catalogue() -> list[dict]:
    return [
        {"metric": name, "label": m.label, "gauge": m.gauge, "derived": bool(m.plus)} for name, m in METRICS.items()
    ]


def breakdown(name: str, first: date, last: date, account=None, limit: int = 20) -> dict:
    """A counted metric split by its dimension (points by business type, sends by channel...)."""
    check_range(first, last, "month")
    metric = metric_of(name)
    if metric.plus or metric.gauge or metric.dimension is not None:
        raise ApiError(
            422,
            f"The metric {name!r} has no breakdown.",
            errors={"metric": ["Only a counted metric without a fixed dimension can be broken down."]},
        )
    column = DailyStat.total if metric.field == "total" else DailyStat.count
    stmt = (
        select(DailyStat.dimension, func.max(DailyStat.label), func.sum(column))
        .where(DailyStat.metric == metric.stored, DailyStat.day >= first, DailyStat.day <= last)
        .group_by(DailyStat.dimension)
        .order_by(func.sum(column).desc(), DailyStat.dimension)
        .limit(limit)
    )
    if account:
        stmt = stmt.where(DailyStat.account == account)
    with read_session() as session:
        rows = session.execute(stmt).all()
    return {
        "metric": name,
        "label": metric.label,
        "items": [{"dimension": dim, "label": label, "value": int(value or 0)} for dim, label, value in rows],
    }


def accounts() -> list[dict]:
    """The accounts (Official Account appids, WeCom corp ids) the statistics know, with their metrics."""
    with read_session() as session:
        rows = session.execute(
            select(DailyStat.account, DailyStat.metric).where(DailyStat.account != "").distinct()
        ).all()
    found: dict[str, set[str]] = {}
    for account, stored in rows:
        found.setdefault(account, set()).add(stored.split(".", 1)[0])
    kinds = {
        "fans": "official_account",
        "qrcode": "official_account",
        "menu": "official_account",
        "messages": "official_account",
        "wechat": "official_account",
        "wecom": "wecom",
    }
    return [
        {"account": account, "kind": next((kinds[f] for f in sorted(families) if f in kinds), "other")}
        for account, families in sorted(found.items())
    ]
