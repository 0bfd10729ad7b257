"""Request and response schemas of the message center (marshmallow; unknown fields rejected)."""

from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs
from wedraw.message_center.channels import CHANNELS
from wedraw.message_center.models import CAMPAIGN_STATES, DELIVERY_STATES, SENDER_KINDS
from wedraw.message_center.templating import TYPES

CHANNEL = validate.OneOf(list(CHANNELS))


def _id(required: bool = False, strict: bool = True, **kwargs):
    """A row id; strict (JSON numbers only) in bodies, not in query strings."""
    return fields.Integer(strict=strict, required=required, validate=validate.Range(min=1, max=2**31 - 1), **kwargs)


def _data():
    return fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        metadata={"description": "Template variable values by name (text or numbers)"},
    )


def _options():
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(["url", "miniprogram", "page", "miniprogram_state"])),
        metadata={
            "description": "WeChat template extras: url, miniprogram {appid, pagepath} (template messages); "
            "page, miniprogram_state (subscribe messages)"
        },
    )


def _message():
    return fields.Dict(
        metadata={
            "description": "A whole message as the channel takes it, e.g. {msgtype: text, text: {content}}; "
            "robot images {msgtype: image, image: {base64, md5}}; news {msgtype: news, news: {articles: [...]}}"
        }
    )


# ---------------------------------------------------------------- channels


class ChannelSchema(Schema):
    name = fields.String()
    title = fields.String()
    sender_kind = fields.String()
    target_kind = fields.String(allow_none=True, metadata={"description": "openid, userid or null (robot's group)"})
    campaigns = fields.Boolean(metadata={"description": "Whether campaigns can use this channel"})
    per_call = fields.Integer(metadata={"description": "Recipients per WeChat call"})
    template_format = fields.String(metadata={"description": "wechat ({{x.DATA}}) or text ({{x}})"})
    msgtypes = fields.List(fields.String(), metadata={"description": "Message types accepted without a template"})
    fallback_on = fields.List(fields.Integer(), metadata={"description": "errcodes that trigger a campaign fallback"})
    default_limit = fields.String()


# ---------------------------------------------------------------- senders


class RateLimitSchema(Schema):
    limit = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000))
    window = fields.Float(required=True, validate=validate.Range(min=0.01, max=3600))


class SenderSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    name = fields.String()
    app_key = fields.String(metadata={"description": "appid, corp_id/agent_id, or the robot key's fingerprint"})
    secret_hint = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "active, broken (WeChat refused its key) or disabled"})
    broken_reason = fields.String(allow_none=True)
    broken_at = UtcDateTime(allow_none=True)
    rate_limits = fields.Dict(
        keys=fields.String(), values=fields.Nested(RateLimitSchema), metadata={"description": "Per-channel overrides"}
    )
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class SenderQuerySchema(PageArgs):
    kind = fields.String(validate=validate.OneOf(SENDER_KINDS))
    status = fields.String(validate=validate.OneOf(["active", "broken", "disabled"]))
    q = fields.String(validate=validate.Length(min=1, max=64))


class SenderCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(SENDER_KINDS))
    name = fields.String(validate=validate.Length(min=1, max=64))
    appid = fields.String(
        validate=validate.Length(min=1, max=32), metadata={"description": "official_account, mini_program"}
    )
    secret = fields.String(validate=validate.Length(min=1, max=128), load_only=True)
    corp_id = fields.String(validate=validate.Length(min=1, max=32), metadata={"description": "wecom_app"})
    agent_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    key = fields.String(
        validate=validate.Length(min=1, max=128), load_only=True, metadata={"description": "group_robot webhook key"}
    )
    rate_limits = fields.Dict(keys=fields.String(validate=CHANNEL), values=fields.Nested(RateLimitSchema))


class SenderUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=64))
    status = fields.String(
        validate=validate.OneOf(["active", "disabled"]),
        metadata={"description": "active also clears a broken state"},
    )
    secret = fields.String(validate=validate.Length(min=1, max=128), load_only=True)
    key = fields.String(validate=validate.Length(min=1, max=128), load_only=True)
    rate_limits = fields.Dict(keys=fields.String(validate=CHANNEL), values=fields.Nested(RateLimitSchema))


class OfficialAccountRefSchema(Schema):
    appid = fields.String()
    name = fields.String()
    enabled = fields.Boolean()
    registered = fields.Boolean(metadata={"description": "Already a sender"})


# ---------------------------------------------------------------- templates


class VariableSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$"))
    type = fields.String(load_default="string", validate=validate.OneOf(list(TYPES)))
    required = fields.Boolean(load_default=True)
    max_length = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=4096))
    description = fields.String(load_default="", validate=validate.Length(max=255))


class TemplateSchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    sender_id = fields.Integer(allow_none=True)
    name = fields.String()
    wechat_template_id = fields.String(allow_none=True)
    msgtype = fields.String()
    content = fields.String()
    variables = fields.List(fields.Nested(VariableSchema))
    example = fields.String(allow_none=True)
    options = fields.Dict()
    source = fields.String(metadata={"description": "wechat (synced) or local"})
    synced_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class TemplateQuerySchema(PageArgs):
    channel = fields.String(validate=CHANNEL)
    sender_id = _id(strict=False)
    source = fields.String(validate=validate.OneOf(["wechat", "local"]))
    q = fields.String(validate=validate.Length(min=1, max=64))


class TemplateCreateSchema(Schema):
    channel = fields.String(required=True, validate=CHANNEL)
    sender_id = _id()
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    wechat_template_id = fields.String(validate=validate.Length(min=1, max=64))
    msgtype = fields.String(validate=validate.OneOf(["text", "markdown"]))
    content = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    variables = fields.List(fields.Nested(VariableSchema), load_default=list, validate=validate.Length(max=50))
    example = fields.String(validate=validate.Length(max=4096))
    options = _options()


class TemplateUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=64))
    wechat_template_id = fields.String(validate=validate.Length(min=1, max=64))
    msgtype = fields.String(validate=validate.OneOf(["text", "markdown"]))
    content = fields.String(validate=validate.Length(min=1, max=4096))
    variables = fields.List(fields.Nested(VariableSchema), validate=validate.Length(max=50))
    example = fields.String(validate=validate.Length(max=4096))
    options = _options()


class TemplateSyncSchema(Schema):
    sender_id = _id(required=True)


class JsonObject(fields.String):
    """A query parameter holding a JSON object (GET requests carry no body)."""

    def _deserialize(self, value, attr, data, **kwargs):
        import json

        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValidationError("Not JSON.") from None
        if not isinstance(parsed, dict):
            raise ValidationError("Must be a JSON object.")
        return parsed


class PreviewSchema(Schema):
    data = JsonObject(
        load_default=dict,
        validate=validate.Length(max=8000),
        metadata={"description": 'Template variable values as a JSON object, e.g. {"keyword1": "P1"}'},
    )
    options = JsonObject(
        load_default=dict,
        validate=validate.Length(max=2000),
        metadata={"description": "url, miniprogram, page, miniprogram_state, as a JSON object"},
    )


class PreviewResultSchema(Schema):
    text = fields.String(metadata={"description": "What the recipient reads"})
    message = fields.Dict(metadata={"description": "The message body sent to WeChat (without the recipient)"})
    values = fields.Dict(keys=fields.String(), values=fields.String())


# ---------------------------------------------------------------- audiences


class MemberFilterSchema(Schema):
    """Which Mini Program members a `members` audience holds (all given conditions must hold)."""

    status = fields.String(load_default="active", validate=validate.OneOf(["active", "disabled"]))
    joined_after = UtcDateTime(metadata={"description": "Became a member at or after"})
    joined_before = UtcDateTime(metadata={"description": "Became a member before"})
    active_after = UtcDateTime(metadata={"description": "Used this Mini Program at or after"})
    phone_bound = fields.Boolean(metadata={"description": "Has (true) or has not (false) bound a phone number"})

    @validates_schema
    def _range(self, data, **_):
        check_member_range(data)

    @post_load
    def _as_json(self, data, **_):
        # Stored in the campaign's audience (JSON) and passed on as query parameters.
        return member_filter(data)


def check_member_range(data: dict) -> None:
    if data.get("joined_after") and data.get("joined_before") and data["joined_after"] >= data["joined_before"]:
        raise ValidationError("Must be after joined_after.", "joined_before")


def member_filter(values: dict) -> dict:
    """A `members` filter as stored: the given conditions, times as ISO strings."""
    found = {k: values[k] for k in MemberFilterSchema().fields if values.get(k) is not None}
    found.setdefault("status", "active")
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in found.items()}


class AudienceSpecSchema(Schema):
    kind = fields.String(
        required=True,
        validate=validate.OneOf(["fans", "tag", "list", "openids", "members"]),
        metadata={
            "description": "fans: all subscribed fans; tag: fans with a WeChat tag; list: an uploaded list; "
            "openids: an inline list (stored as a list); members: Mini Program members by filter"
        },
    )
    filter = fields.Nested(MemberFilterSchema, metadata={"description": "members: which members"})
    tag_id = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=2**31 - 1), metadata={"description": "WeChat's tag id"}
    )
    tag_name = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "The tag's name, as stored campaigns show it; looked up again, so ignored here"},
    )
    list_id = _id()
    openids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=20_000))


class AudienceItemInSchema(Schema):
    target = fields.String(required=True, validate=validate.Length(min=1, max=64))
    unionid = fields.String(validate=validate.Length(max=64), allow_none=True)


class AudienceListCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    target_kind = fields.String(load_default="openid", validate=validate.OneOf(["openid", "userid"]))
    targets = fields.List(
        fields.Raw(metadata={"description": "an openid/userid, or {target, unionid}"}),
        validate=validate.Length(max=30_000),
    )
    csv = fields.String(
        validate=validate.Length(max=900_000),
        metadata={"description": "CSV text: one target per line, optionally `,unionid`; a header line is skipped"},
    )

    @validates_schema
    def _one_source(self, data, **_):
        if not data.get("targets") and not data.get("csv"):
            raise ValidationError("Give targets or csv.", "targets")


class AudienceListSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    target_kind = fields.String()
    size = fields.Integer()
    created_by = fields.String(allow_none=True)
    created_at = UtcDateTime()


class AudienceItemSchema(Schema):
    id = fields.Integer()
    target = fields.String()
    unionid = fields.String(allow_none=True)


class QuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(min=1, max=64))


class EstimateSchema(Schema):
    sender_id = _id(required=True, strict=False)
    kind = fields.String(required=True, validate=validate.OneOf(["fans", "tag", "list", "members"]))
    status = fields.String(validate=validate.OneOf(["active", "disabled"]), metadata={"description": "members"})
    joined_after = UtcDateTime(metadata={"description": "members"})
    joined_before = UtcDateTime(metadata={"description": "members"})
    active_after = UtcDateTime(metadata={"description": "members"})
    phone_bound = fields.Boolean(metadata={"description": "members"})

    @validates_schema
    def _range(self, data, **_):
        check_member_range(data)

    tag_id = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1), metadata={"description": "WeChat's tag id"})
    list_id = _id(strict=False)


class EstimateResultSchema(Schema):
    count = fields.Integer()
    description = fields.String()


# ---------------------------------------------------------------- campaigns


class FallbackSchema(Schema):
    channel = fields.String(load_default="oa_template", validate=validate.OneOf(["oa_template"]))
    sender_id = _id(required=True)
    template_id = _id(required=True)
    data = _data()
    options = _options()


class CampaignSchema(Schema):
    id = fields.Integer()
    uid = fields.String()
    name = fields.String()
    channel = fields.String()
    sender_id = fields.Integer()
    template_id = fields.Integer(allow_none=True)
    data = fields.Dict(allow_none=True)
    message = fields.Dict()
    audience = fields.Dict()
    audience_estimate = fields.Integer(metadata={"description": "Audience size when last checked"})
    fallback = fields.Dict(allow_none=True)
    status = fields.String(metadata={"description": ", ".join(CAMPAIGN_STATES)})
    scheduled_at = UtcDateTime(allow_none=True)
    total = fields.Integer(metadata={"description": "Recipients stored so far"})
    materialized = fields.Boolean()
    error = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    paused_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class CampaignQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(CAMPAIGN_STATES))
    channel = fields.String(validate=CHANNEL)
    sender_id = _id(strict=False)
    q = fields.String(validate=validate.Length(min=1, max=64))


class CampaignCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channel = fields.String(required=True, validate=CHANNEL)
    sender_id = _id(required=True)
    template_id = _id()
    data = _data()
    options = _options()
    message = _message()
    audience = fields.Nested(AudienceSpecSchema, required=True)
    fallback = fields.Nested(FallbackSchema, allow_none=True)
    scheduled_at = UtcDateTime(allow_none=True, metadata={"description": "Send at this time (future); else a draft"})
    start = fields.Boolean(load_default=False, metadata={"description": "Send now (ignored with scheduled_at)"})


class CampaignUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=64))
    sender_id = _id()
    template_id = _id()
    data = _data()
    options = _options()
    message = _message()
    audience = fields.Nested(AudienceSpecSchema)
    fallback = fields.Nested(FallbackSchema, allow_none=True)
    scheduled_at = UtcDateTime(allow_none=True, metadata={"description": "null turns it back into a draft"})


class CountsSchema(Schema):
    pending = fields.Integer()
    sending = fields.Integer()
    sent = fields.Integer()
    failed_retrying = fields.Integer()
    failed_final = fields.Integer()
    cancelled = fields.Integer()


class ReportedSchema(Schema):
    delivered = fields.Integer(metadata={"description": "WeChat's job reports saying success"})
    failed = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class MassJobSchema(Schema):
    batch_no = fields.Integer()
    size = fields.Integer(metadata={"description": "Openids in the call; 0 for a tag or everyone"})
    status = fields.String()
    msg_id = fields.String(allow_none=True)
    errcode = fields.Integer(allow_none=True)
    errmsg = fields.String(allow_none=True)
    report_status = fields.String(allow_none=True)
    total_count = fields.Integer(allow_none=True)
    filter_count = fields.Integer(allow_none=True)
    sent_count = fields.Integer(allow_none=True)
    error_count = fields.Integer(allow_none=True)


class ProgressSchema(Schema):
    campaign_id = fields.Integer()
    status = fields.String()
    total = fields.Integer()
    materialized = fields.Boolean()
    counts = fields.Nested(CountsSchema)
    done = fields.Integer(metadata={"description": "sent + failed_final + cancelled"})
    percent = fields.Float()
    rate_per_second = fields.Float(metadata={"description": "Sends in the last 10 seconds, per second"})
    average_per_second = fields.Float(allow_none=True)
    eta_seconds = fields.Float(allow_none=True)
    reported = fields.Nested(ReportedSchema)
    mass_jobs = fields.List(fields.Nested(MassJobSchema))
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class FailureReasonSchema(Schema):
    status = fields.String()
    errcode = fields.Integer(allow_none=True)
    count = fields.Integer()
    meaning = fields.String(allow_none=True, metadata={"description": "WeChat's meaning of the errcode"})
    example = fields.String(allow_none=True)


# ---------------------------------------------------------------- deliveries (recipients, sends)


class DeliverySchema(Schema):
    id = fields.Integer()
    campaign_id = fields.Integer(allow_none=True)
    channel = fields.String()
    sender_id = fields.Integer()
    target = fields.String()
    status = fields.String(metadata={"description": ", ".join(DELIVERY_STATES)})
    attempts = fields.Integer()
    errcode = fields.Integer(allow_none=True, metadata={"description": "The last WeChat error seen"})
    errmsg = fields.String(allow_none=True, metadata={"description": "WeChat's meaning (and message)"})
    category = fields.String(allow_none=True)
    msgid = fields.String(allow_none=True)
    report_status = fields.String(allow_none=True, metadata={"description": "From WeChat's job-finished report"})
    fallback_channel = fields.String(allow_none=True)
    fallback_target = fields.String(allow_none=True)
    detail = fields.Dict(allow_none=True, metadata={"description": "e.g. WeCom's invalid users, parties and tags"})
    next_attempt_at = UtcDateTime()
    sent_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    idempotency_key = fields.String(allow_none=True)
    requested_by = fields.String(allow_none=True)
    preview = fields.Method("_preview", allow_none=True)

    def _preview(self, row):
        if row.payload is None:
            return None
        return CHANNELS[row.channel].preview(row.payload)


class SendLogSchema(DeliverySchema):
    campaign_name = fields.String(allow_none=True, metadata={"description": "The campaign's name (campaign rows)"})


class DeliveryQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATES))
    errcode = fields.Integer(strict=False, validate=validate.Range(min=-1, max=10**7))
    q = fields.String(validate=validate.Length(min=1, max=128), metadata={"description": "target, key or msgid"})


class SendQuerySchema(DeliveryQuerySchema):
    kind = fields.String(validate=validate.OneOf(["single", "campaign"]))
    campaign_id = _id(strict=False)
    channel = fields.String(validate=CHANNEL)
    sender_id = _id(strict=False)
    start = UtcDateTime()
    end = UtcDateTime()


class SendCreateSchema(Schema):
    channel = fields.String(required=True, validate=CHANNEL)
    sender_id = _id()
    sender = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "Or the sender's appid / name"}
    )
    to = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "openid, or WeCom userids joined by |; not for robots"},
    )
    template_id = _id()
    data = _data()
    options = _options()
    message = _message()
    idempotency_key = fields.String(
        validate=validate.Length(min=1, max=128), metadata={"description": "A repeated key never sends twice"}
    )

    @validates_schema
    def _sender(self, data, **_):
        if data.get("sender_id") is None and not data.get("sender"):
            raise ValidationError("Give sender_id (or sender).", "sender_id")


# ---------------------------------------------------------------- workers


class WorkerSchema(Schema):
    node = fields.String()
    hostname = fields.String(allow_none=True)
    pid = fields.Integer(allow_none=True)
    pool = fields.String(allow_none=True)
    concurrency = fields.Integer(allow_none=True)
    last_seen = UtcDateTime(allow_none=True)
    age_seconds = fields.Float()
    alive = fields.Boolean()


class QueueSchema(Schema):
    queue = fields.String()
    service = fields.String()
    program = fields.String(allow_none=True)
    pool = fields.String(allow_none=True)
    concurrency = fields.Integer(allow_none=True)
    length = fields.Integer(allow_none=True, metadata={"description": "Messages waiting; null when unknown"})
    workers = fields.List(fields.Nested(WorkerSchema))
    alive = fields.Integer(metadata={"description": "Workers with a recent heartbeat"})


class BeatSchema(Schema):
    alive = fields.Boolean()
    last_seen = UtcDateTime(allow_none=True)
    hostname = fields.String(allow_none=True)
    pid = fields.Integer(allow_none=True)


class PeriodicJobSchema(Schema):
    name = fields.String()
    task = fields.String()
    queue = fields.String()
    schedule = fields.String()


class FleetSchema(Schema):
    broker = fields.String()
    unacked = fields.Integer(allow_none=True)
    queues = fields.List(fields.Nested(QueueSchema))
    beat = fields.Nested(BeatSchema)
    periodic_jobs = fields.List(fields.Nested(PeriodicJobSchema))
    heartbeat_ttl = fields.Integer()
