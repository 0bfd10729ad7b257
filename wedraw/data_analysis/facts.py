"""Facts: what other services report by the named tasks `data_analysis.record_fact(s)`.

A fact as sent (every service builds the same shape; see wedraw.wechat_official.services):

    {"event_id": "<unique, the same on redelivery>", "source": "points_mall", "kind": "points.credit",
     "appid": "wx..." | None, "openid": ..., "unionid": ..., "occurred_at": "2026-11-28T01:02:03Z",
     "data": {...kind-specific...}}

On arrival a fact is classified once (`classify`): the metric it counts toward, the account
(Official Account appid, WeCom corp id, or ''), a dimension (QR scene, business type, channel,
product...), a label, a business reference and an amount; and the local day it belongs to.
The insert ignores a duplicate `event_id` (SQLite `INSERT OR IGNORE`, MariaDB `INSERT IGNORE`),
so a retried report is counted once.

Known kinds and their metrics:

    wechat.subscribe / wechat.unsubscribe   fans.follow / fans.unfollow      dimension: QR scene
    wechat.scan                             qrcode.scan                      dimension: QR scene
    wechat.click / view / scancode_*        menu.click                       dimension: the menu key
    wechat.<text|image|voice|...>           messages.inbound                 dimension: message type
    wechat.<other event>                    wechat.event                     dimension: the event
    points.credit / points.debit            points.earned / points.spent     dimension: business type, amount
    points.order                            orders                           dimension: product id, amount: points
    message.send                            sends.sent / sends.failed        dimension: channel, label: reason
    message.campaign                        campaigns.targeted               dimension: channel, amount: recipients
    wecom.members / wecom.groups            wecom.members / wecom.groups     gauges (the day's highest count)

Any other kind is stored under its own name as the metric, so nothing reported is lost.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from wedraw.core.db import utcnow
from wedraw.data_analysis.models import Fact, db

log = logging.getLogger("wedraw.data_analysis.facts")

# Days are China's days (UTC+8, no daylight saving): what operators mean by "yesterday".
LOCAL_OFFSET = timedelta(hours=8)
# Metrics whose facts report a level (how many members now), not an event: a day keeps its highest.
GAUGES = ("wecom.members", "wecom.groups")
INBOUND_TYPES = ("text", "image", "voice", "video", "shortvideo", "location", "link", "file")
MENU_EVENTS = ("click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "location_select")
MAX_BATCH = 1000  # rows per INSERT


class InvalidFact(ValueError):
    """A report that cannot be stored (no event id, no kind, a bad time): dropped, never retried."""


def local_day(moment: datetime) -> date:
    return (moment + LOCAL_OFFSET).date()


def day_start_utc(day: date) -> datetime:
    """The naive-UTC moment the local day starts."""
    return datetime(day.year, day.month, day.day) - LOCAL_OFFSET


def _text(value, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_time(value) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidFact(f"occurred_at is not an ISO time: {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def classify(kind: str, appid: str | None, data: dict) -> dict:
    """metric, account, dimension, label, ref and amount of one fact."""
    out = {"metric": kind, "account": _text(appid, 64), "dimension": "", "label": None, "ref": None, "amount": 0}
    family, _, name = kind.partition(".")
    if family == "wechat":
        scene = _text(data.get("qr_scene"), 128)
        if name == "subscribe":
            out.update(metric="fans.follow", dimension=scene)
        elif name == "unsubscribe":
            out.update(metric="fans.unfollow")
        elif name == "scan":
            out.update(metric="qrcode.scan", dimension=scene)
        elif name in MENU_EVENTS:
            out.update(metric="menu.click", dimension=_text(data.get("event_key"), 128))
        elif name in INBOUND_TYPES:
            out.update(metric="messages.inbound", dimension=name)
        else:
            out.update(metric="wechat.event", dimension=_text(name, 128))
    elif kind in ("points.credit", "points.debit"):
        out.update(
            metric="points.earned" if kind == "points.credit" else "points.spent",
            dimension=_text(data.get("business_type"), 128),
            amount=abs(_int(data.get("amount"))),
            ref=_text(data.get("business_id"), 64) or None,
        )
    elif kind == "points.order":
        out.update(
            metric="orders",
            dimension=_text(data.get("product_id"), 128),
            label=_text(data.get("product_name"), 128) or None,
            ref=_text(data.get("order_no"), 64) or None,
            amount=_int(data.get("points_total")),
        )
    elif kind == "message.send":
        sent = data.get("outcome") == "sent"
        out.update(
            metric="sends.sent" if sent else "sends.failed",
            dimension=_text(data.get("channel"), 128),
            label=None if sent else (_text(data.get("reason"), 128) or "unknown"),
            ref=_text(data.get("campaign_id"), 64) or None,
            amount=1,
        )
    elif kind == "message.campaign":
        out.update(
            metric="campaigns.targeted",
            dimension=_text(data.get("channel"), 128),
            label=_text(data.get("name"), 128) or None,
            ref=_text(data.get("campaign_id"), 64) or None,
            amount=_int(data.get("total")),
        )
    elif kind in GAUGES:
        out.update(metric=kind, account=_text(data.get("corp_id") or appid, 64), amount=_int(data.get("count")))
    return out


def row_of(fact: dict) -> dict:
    """The table row of one reported fact; InvalidFact when it cannot be stored."""
    if not isinstance(fact, dict):
        raise InvalidFact("a fact is an object")
    event_id, kind, source = fact.get("event_id"), fact.get("kind"), fact.get("source")
    if not event_id or not isinstance(event_id, str) or len(event_id) > 191:
        raise InvalidFact("event_id is required (a string of at most 191 characters)")
    if not kind or not isinstance(kind, str) or len(kind) > 64:
        raise InvalidFact("kind is required (a string of at most 64 characters)")
    if not source or not isinstance(source, str):
        raise InvalidFact("source is required")
    data = fact.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidFact("data is an object")
    occurred_at = parse_time(fact.get("occurred_at"))
    return {
        "event_id": event_id,
        "source": source[:32],
        "kind": kind,
        **classify(kind, fact.get("appid"), data),
        "day": local_day(occurred_at),
        "occurred_at": occurred_at,
        "openid": _text(fact.get("openid"), 64) or None,
        "unionid": _text(fact.get("unionid"), 64) or None,
        "data": data,
        "received_at": utcnow(),
    }


def insert_ignoring_duplicates():
    """INSERT that skips a row whose event_id is already stored, on SQLite and on MariaDB/MySQL."""
    return insert(Fact).prefix_with("OR IGNORE", dialect="sqlite").prefix_with("IGNORE", dialect="mysql")


def record(facts: list[dict]) -> dict:
    """Store reported facts, each at most once. Returns {"stored": n, "duplicates": n, "invalid": n}."""
    rows, invalid = [], 0
    seen: set[str] = set()
    for fact in facts:
        try:
            row = row_of(fact)
        except InvalidFact as exc:
            invalid += 1
            log.warning("fact dropped: %s", exc)
            continue
        if row["event_id"] not in seen:
            seen.add(row["event_id"])
            rows.append(row)
    stored = 0
    for start in range(0, len(rows), MAX_BATCH):
        chunk = rows[start : start + MAX_BATCH]
        result = db.session.connection().execute(insert_ignoring_duplicates(), chunk)
        stored += result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(chunk)
    if rows:
        db.session.commit()
    return {"stored": stored, "duplicates": len(facts) - invalid - stored, "invalid": invalid}
