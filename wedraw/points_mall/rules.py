"""Earning rules, expiry and order notifications: console-configurable, one JSON document.

subscribe_bonus   {enabled, points}: once per member ever, from the Official Account's subscribe event
sign_in           {enabled, daily_points, streak_bonuses: [{days, points, repeat}]}: one sign-in per
                  member per local day; a bonus when the streak reaches `days` (every multiple if `repeat`)
expiry            {enabled, days}: points expire `days` after they were earned, oldest first (off by default)
timezone_offset_minutes   the members' local day (sign-in days, expiry days); 480 = China time
notifications     per order event (redeemed, shipped, completed, cancelled, refunded):
                  {enabled, message_template_id, wechat_template_id, data: {variable: "text with {field}"}}
                  `message_template_id` is the message center's mp_subscribe template, `wechat_template_id`
                  the WeChat template a member's grant is for; fields: order_no, product_name, quantity,
                  points, status, carrier, tracking_no, reason, time
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.exc import IntegrityError

from wedraw.core.db import utcnow
from wedraw.points_mall.models import ORDER_EVENTS, PointsSettings, db

NOTIFICATION_FIELDS = (
    "order_no",
    "product_name",
    "quantity",
    "points",
    "status",
    "carrier",
    "tracking_no",
    "reason",
    "time",
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

DEFAULT_RULES: dict = {
    "subscribe_bonus": {"enabled": True, "points": 100},
    "sign_in": {
        "enabled": True,
        "daily_points": 10,
        "streak_bonuses": [{"days": 7, "points": 50, "repeat": True}],
    },
    "expiry": {"enabled": False, "days": 365},
    "timezone_offset_minutes": 480,
    "notifications": {
        event: {"enabled": False, "message_template_id": None, "wechat_template_id": None, "data": {}}
        for event in ORDER_EVENTS
    },
}


# ---------------------------------------------------------------- schemas (also the API's)


class SubscribeBonusSchema(Schema):
    enabled = fields.Boolean(required=True)
    points = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))


class StreakBonusSchema(Schema):
    days = fields.Integer(required=True, validate=validate.Range(min=2, max=366))
    points = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))
    repeat = fields.Boolean(load_default=False, metadata={"description": "Also at every multiple of `days`"})


class SignInRuleSchema(Schema):
    enabled = fields.Boolean(required=True)
    daily_points = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))
    streak_bonuses = fields.List(fields.Nested(StreakBonusSchema), load_default=list, validate=validate.Length(max=20))

    @validates_schema
    def _distinct_days(self, data, **_):
        days = [b["days"] for b in data.get("streak_bonuses") or []]
        if len(days) != len(set(days)):
            raise ValidationError("Each streak length may have one bonus.", "streak_bonuses")


class ExpiryRuleSchema(Schema):
    enabled = fields.Boolean(required=True)
    days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))


class NotificationRuleSchema(Schema):
    enabled = fields.Boolean(required=True)
    message_template_id = fields.Integer(
        allow_none=True, validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "Message center"}
    )
    wechat_template_id = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[0-9A-Za-z_-]{1,64}$"),
        metadata={"description": "The WeChat subscribe template the member's grant is for"},
    )
    data = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z_]+[0-9]*$", error="A template variable name.")),
        values=fields.String(validate=validate.Length(max=64)),
        load_default=dict,
        metadata={"description": "Template variable -> text with {order_no}, {product_name}, {points}, ..."},
    )

    @validates_schema
    def _complete(self, data, **_):
        if data.get("enabled") and not (data.get("message_template_id") and data.get("wechat_template_id")):
            raise ValidationError("An enabled notification needs both template ids.", "message_template_id")
        for variable, text in (data.get("data") or {}).items():
            unknown = [f for f in _PLACEHOLDER.findall(text) if f not in NOTIFICATION_FIELDS]
            if unknown:
                raise ValidationError(f"{variable}: unknown field(s) {', '.join(unknown)}.", "data")


class NotificationRulesSchema(Schema):
    redeemed = fields.Nested(NotificationRuleSchema)
    shipped = fields.Nested(NotificationRuleSchema)
    completed = fields.Nested(NotificationRuleSchema)
    cancelled = fields.Nested(NotificationRuleSchema)
    refunded = fields.Nested(NotificationRuleSchema)


class RulesSchema(Schema):
    subscribe_bonus = fields.Nested(SubscribeBonusSchema, required=True)
    sign_in = fields.Nested(SignInRuleSchema, required=True)
    expiry = fields.Nested(ExpiryRuleSchema, required=True)
    timezone_offset_minutes = fields.Integer(required=True, validate=validate.Range(min=-720, max=840))
    notifications = fields.Nested(NotificationRulesSchema, required=True)


class RulesUpdateSchema(Schema):
    """Any of the sections; a section given replaces that section (notifications: per event)."""

    subscribe_bonus = fields.Nested(SubscribeBonusSchema)
    sign_in = fields.Nested(SignInRuleSchema)
    expiry = fields.Nested(ExpiryRuleSchema)
    timezone_offset_minutes = fields.Integer(validate=validate.Range(min=-720, max=840))
    notifications = fields.Nested(NotificationRulesSchema)


# ---------------------------------------------------------------- reading and writing


def _merged(stored: dict) -> dict:
    rules = copy.deepcopy(DEFAULT_RULES)
    for section, value in stored.items():
        if section == "notifications" and isinstance(value, dict):
            rules["notifications"].update(value)
        elif section in rules:
            rules[section] = value
    return rules


def _row() -> PointsSettings | None:
    return db.session.get(PointsSettings, 1)


def get_rules() -> dict:
    row = _row()
    return _merged(row.data if row else {})


def rules_version() -> tuple[dict, int, datetime | None, str | None]:
    row = _row()
    if row is None:
        return get_rules(), 0, None, None
    return _merged(row.data), row.version, row.updated_at, row.updated_by


def update_rules(changes: dict, who: str | None) -> dict:
    """Replace the given sections (notifications per event); one transaction."""
    row = _row()
    if row is None:
        row = PointsSettings(id=1, version=0)
        row.data = {}
        db.session.add(row)
        try:
            db.session.flush()
        except IntegrityError:  # created concurrently: use that row
            db.session.rollback()
            row = _row()
    data = dict(row.data)
    for section, value in changes.items():
        if section == "notifications":
            data["notifications"] = {**(data.get("notifications") or {}), **value}
        else:
            data[section] = value
    row.data = data
    row.version = (row.version or 0) + 1
    row.updated_by = who
    row.updated_at = utcnow()
    db.session.commit()
    return _merged(row.data)


# ---------------------------------------------------------------- the members' local day


def offset(rules: dict) -> timedelta:
    return timedelta(minutes=int(rules.get("timezone_offset_minutes", 480)))


def local_day(rules: dict, when: datetime | None = None) -> date:
    """The members' calendar day of a (naive UTC) time."""
    return ((when or utcnow()) + offset(rules)).date()


def day_start_utc(rules: dict, day: date) -> datetime:
    """Naive UTC of the local midnight that starts `day`."""
    return datetime(day.year, day.month, day.day) - offset(rules)


def expiry_cutoff(rules: dict, day: date) -> datetime:
    """Lots earned before this (naive UTC) expire in the settlement of `day`: at least `days` full days old."""
    return day_start_utc(rules, day) - timedelta(days=int(rules["expiry"]["days"]))


def expiry_day_of(rules: dict, earned_at: datetime) -> date:
    """The settlement day that expires points earned at `earned_at`."""
    days = int(rules["expiry"]["days"])
    return local_day(rules, earned_at + timedelta(days=days)) + timedelta(days=1)


def streak_bonus(rules: dict, streak: int) -> int:
    total = 0
    for bonus in rules["sign_in"].get("streak_bonuses") or []:
        days = int(bonus["days"])
        if streak == days or (bonus.get("repeat") and streak > 0 and streak % days == 0):
            total += int(bonus["points"])
    return total


def render(text: str, values: dict) -> str:
    """`{field}` placeholders of a notification's data, from the order's fields (nothing else)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), text)


def aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
