"""Request and response schemas of the data analysis API (marshmallow; unknown fields rejected)."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs, page_of
from wedraw.data_analysis.dashboard import GRANULARITIES, METRICS
from wedraw.data_analysis.models import REPORT_STATUSES
from wedraw.data_analysis.reports import FORMATS, KINDS

# Days the statistics can cover: far enough either way, and never near date's own limits.
DAYS = validate.Range(min=date(2000, 1, 1), max=date(2099, 12, 31), error="Must be between 2000-01-01 and 2099-12-31.")


class RangeArgs(Schema):
    date_from = fields.Date(
        required=True, data_key="from", validate=DAYS, metadata={"description": "First local day (YYYY-MM-DD)"}
    )
    date_to = fields.Date(
        required=True, data_key="to", validate=DAYS, metadata={"description": "Last local day, inclusive"}
    )
    account = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Only this Official Account appid / WeCom corp"}
    )

    @validates_schema
    def _ordered(self, data, **_):
        if "date_from" in data and "date_to" in data and data["date_to"] < data["date_from"]:
            raise ValidationError("Must not be before from.", "to")


class SeriesArgs(RangeArgs):
    metric = fields.String(required=True, validate=validate.OneOf(list(METRICS)))
    granularity = fields.String(load_default="day", validate=validate.OneOf(GRANULARITIES))
    dimension = fields.String(
        validate=validate.Length(max=128), metadata={"description": "One dimension (business type, channel...)"}
    )


class BreakdownArgs(RangeArgs):
    metric = fields.String(required=True, validate=validate.OneOf(list(METRICS)))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class BreakdownItemSchema(Schema):
    dimension = fields.String()
    label = fields.String(allow_none=True)
    value = fields.Integer()


class BreakdownSchema(Schema):
    metric = fields.String()
    label = fields.String()
    items = fields.List(fields.Nested(BreakdownItemSchema))


class AccountSchema(Schema):
    account = fields.String()
    kind = fields.String(metadata={"description": "official_account, wecom or other"})


class TopArgs(RangeArgs):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


class FunnelArgs(TopArgs):
    campaign_id = fields.String(validate=validate.Length(max=64))


class MetricSchema(Schema):
    metric = fields.String()
    label = fields.String()
    gauge = fields.Boolean()
    derived = fields.Boolean()


class KpiSchema(Schema):
    metric = fields.String()
    label = fields.String()
    value = fields.Integer()
    previous = fields.Integer(metadata={"description": "The same number of days just before the range"})
    change = fields.Float(allow_none=True, metadata={"description": "Percent change; null when previous is 0"})


class KpisSchema(Schema):
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    previous_from = fields.Date()
    previous_to = fields.Date()
    items = fields.List(fields.Nested(KpiSchema))


class PointSchema(Schema):
    period = fields.String(metadata={"description": "YYYY-MM-DD (day, or the Monday of a week) or YYYY-MM"})
    value = fields.Integer()


class SeriesSchema(Schema):
    metric = fields.String()
    label = fields.String()
    granularity = fields.String()
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    points = fields.List(fields.Nested(PointSchema))
    total = fields.Integer(metadata={"description": "Sum over the range (for gauges: the last day's value)"})


class TopProductSchema(Schema):
    product_id = fields.String()
    name = fields.String()
    orders = fields.Integer()
    points = fields.Integer()


class TopQrCodeSchema(Schema):
    account = fields.String()
    scene = fields.String()
    follows = fields.Integer()
    scans = fields.Integer()


class ReasonSchema(Schema):
    reason = fields.String()
    count = fields.Integer()


class FunnelSchema(Schema):
    campaign_id = fields.String()
    name = fields.String()
    channel = fields.String()
    targeted = fields.Integer()
    sent = fields.Integer()
    failed = fields.Integer()
    failed_by_reason = fields.List(fields.Nested(ReasonSchema))


class ReportRequestSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(list(KINDS)))
    format = fields.String(load_default="xlsx", validate=validate.OneOf(FORMATS))
    date_from = fields.Date(required=True, data_key="from", validate=DAYS)
    date_to = fields.Date(required=True, data_key="to", validate=DAYS)

    @validates_schema
    def _ordered(self, data, **_):
        if "date_from" in data and "date_to" in data and data["date_to"] < data["date_from"]:
            raise ValidationError("Must not be before from.", "to")


class ReportQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(REPORT_STATUSES))
    kind = fields.String(validate=validate.OneOf(list(KINDS)))


class ReportSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    kind_label = fields.Method("_kind_label")
    format = fields.String()
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    status = fields.String()
    progress = fields.Integer()
    rows = fields.Integer()
    size = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    trigger = fields.String()
    requested_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    expires_at = UtcDateTime(allow_none=True)

    def _kind_label(self, obj) -> str:
        return KINDS.get(obj.kind, obj.kind)


class ReportKindSchema(Schema):
    kind = fields.String()
    label = fields.String()


page_of_reports = page_of(ReportSchema)
