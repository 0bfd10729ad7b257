"""Request and response schemas of the Official Account API (marshmallow, unknown fields rejected)."""

from __future__ import annotations

from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from wedraw.core.db import utcnow
from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs
from wedraw.wechat_official.menu_rules import BUTTON_TYPES
from wedraw.wechat_official.models import MESSAGE_MODES
from wedraw.wechat_official.replies import MATCH_TYPES, MAX_ARTICLES, REPLY_TYPES, TRIGGERS

APPID = validate.Regexp(r"^wx[0-9A-Za-z]{16}$", error="An appid is 'wx' and 16 letters or digits.")
SECRET = validate.Regexp(r"^[0-9A-Za-z]{16,64}$", error="An AppSecret is 16 to 64 letters or digits.")
TOKEN = validate.Regexp(r"^[0-9A-Za-z]{3,32}$", error="A token is 3 to 32 letters or digits (WeChat's rule).")
AES_KEY = validate.Regexp(r"^[0-9A-Za-z]{43}$", error="An EncodingAESKey is 43 letters or digits.")
ORIGINAL_ID = validate.Regexp(r"^gh_[0-9a-f]{12}$", error="An original id is 'gh_' and 12 hex digits.")
OPENID = validate.Regexp(r"^[0-9A-Za-z_-]{6,64}$", error="Not an openid.")
SCENE = validate.Regexp(r"^[0-9A-Za-z_\-.:]{1,64}$", error="A scene is 1 to 64 letters, digits or _-.:")
NAME = validate.Length(min=1, max=64)
CS_WINDOW = timedelta(hours=48)


# ---------------------------------------------------------------- accounts


class AccountSchema(Schema):
    id = fields.Integer()
    appid = fields.String()
    name = fields.String()
    original_id = fields.String(allow_none=True)
    message_mode = fields.String(metadata={"enum": list(MESSAGE_MODES)})
    enabled = fields.Boolean()
    demo = fields.Boolean(metadata={"description": "The sandbox's demo account (seeded)"})
    secret_hint = fields.String(metadata={"description": "Masked AppSecret; the secret itself is never returned"})
    token_hint = fields.String(metadata={"description": "Masked callback token"})
    aes_key_hint = fields.String(allow_none=True, metadata={"description": "Masked EncodingAESKey, null if unset"})
    callback_path = fields.Function(
        lambda a: f"/api/wechat/callback/{a.appid}",
        metadata={"description": "Path of the callback URL to configure in WeChat (behind this site's address)"},
    )
    last_check_at = UtcDateTime(allow_none=True)
    last_check_ok = fields.Boolean(allow_none=True)
    last_check_error = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AccountCreateSchema(Schema):
    appid = fields.String(required=True, validate=APPID)
    name = fields.String(required=True, validate=NAME)
    secret = fields.String(required=True, validate=SECRET, load_only=True)
    token = fields.String(required=True, validate=TOKEN, load_only=True)
    aes_key = fields.String(
        validate=AES_KEY,
        load_only=True,
        allow_none=True,
        metadata={"description": "Required for the compatible and safe message modes"},
    )
    message_mode = fields.String(load_default="safe", validate=validate.OneOf(MESSAGE_MODES))
    original_id = fields.String(validate=ORIGINAL_ID, allow_none=True)
    enabled = fields.Boolean(load_default=True)


class AccountUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    secret = fields.String(validate=SECRET, load_only=True, metadata={"description": "Omit to keep the secret"})
    token = fields.String(validate=TOKEN, load_only=True)
    aes_key = fields.String(
        validate=AES_KEY, load_only=True, allow_none=True, metadata={"description": "null removes it (plain mode only)"}
    )
    message_mode = fields.String(validate=validate.OneOf(MESSAGE_MODES))
    original_id = fields.String(validate=ORIGINAL_ID, allow_none=True)
    enabled = fields.Boolean()


class AccountQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64))
    enabled = fields.Boolean()


# ---------------------------------------------------------------- messages


class MessageSchema(Schema):
    id = fields.Integer()
    direction = fields.String(metadata={"enum": ["in", "out"]})
    openid = fields.String(allow_none=True)
    msg_type = fields.String()
    event = fields.String(allow_none=True)
    event_key = fields.String(allow_none=True)
    msg_id = fields.String(allow_none=True)
    content = fields.String(allow_none=True)
    payload = fields.Function(lambda m: m.data, metadata={"type": "object"})
    reply_type = fields.String(allow_none=True)
    reply_content = fields.String(allow_none=True)
    auto_reply_id = fields.Integer(allow_none=True)
    wechat_time = UtcDateTime(allow_none=True)
    received_at = UtcDateTime()
    handed_on_at = UtcDateTime(allow_none=True)
    processed_at = UtcDateTime(allow_none=True)
    status = fields.String()


class MessageQuerySchema(PageArgs):
    direction = fields.String(validate=validate.OneOf(["in", "out"]))
    msg_type = fields.String(validate=validate.Length(max=32))
    event = fields.String(validate=validate.Length(max=64))
    openid = fields.String(validate=validate.Length(max=64))
    q = fields.String(validate=validate.Length(max=100))
    start = UtcDateTime()
    end = UtcDateTime()


class ArticleSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=64))
    description = fields.String(load_default="", validate=validate.Length(max=120))
    url = fields.String(
        load_default="",
        validate=[validate.Length(max=1024), validate.Regexp(r"^(https?://.*)?$", error="Not an http(s) URL.")],
    )
    picurl = fields.String(
        load_default="",
        validate=[validate.Length(max=1024), validate.Regexp(r"^(https?://.*)?$", error="Not an http(s) URL.")],
    )


class CustomMessageSchema(Schema):
    msgtype = fields.String(required=True, validate=validate.OneOf(["text", "image", "news"]))
    content = fields.String(
        validate=validate.Length(min=1, max=2000), metadata={"description": "Text messages: the text"}
    )
    media_id = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "Image messages: an image material's media_id"},
    )
    articles = fields.List(
        fields.Nested(ArticleSchema),
        validate=validate.Length(min=1, max=1),
        metadata={"description": "News messages: one article"},
    )


# ---------------------------------------------------------------- auto-replies


class AutoReplySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    trigger = fields.String(metadata={"enum": list(TRIGGERS)})
    match_type = fields.String(allow_none=True, metadata={"enum": list(MATCH_TYPES)})
    keywords = fields.List(fields.String())
    priority = fields.Integer()
    reply_type = fields.String(metadata={"enum": list(REPLY_TYPES)})
    content = fields.String(allow_none=True)
    media_id = fields.String(allow_none=True)
    articles = fields.List(fields.Nested(ArticleSchema))
    enabled = fields.Boolean()
    hit_count = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AutoReplyCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    trigger = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    match_type = fields.String(validate=validate.OneOf(MATCH_TYPES), allow_none=True)
    keywords = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)), load_default=list, validate=validate.Length(max=50)
    )
    priority = fields.Integer(load_default=0, validate=validate.Range(min=-1000, max=1000))
    reply_type = fields.String(required=True, validate=validate.OneOf(REPLY_TYPES))
    content = fields.String(validate=validate.Length(max=2000), allow_none=True)
    media_id = fields.String(validate=validate.Length(max=128), allow_none=True)
    articles = fields.List(fields.Nested(ArticleSchema), load_default=list, validate=validate.Length(max=MAX_ARTICLES))
    enabled = fields.Boolean(load_default=True)


class AutoReplyUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    trigger = fields.String(validate=validate.OneOf(TRIGGERS))
    match_type = fields.String(validate=validate.OneOf(MATCH_TYPES), allow_none=True)
    keywords = fields.List(fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(max=50))
    priority = fields.Integer(validate=validate.Range(min=-1000, max=1000))
    reply_type = fields.String(validate=validate.OneOf(REPLY_TYPES))
    content = fields.String(validate=validate.Length(max=2000), allow_none=True)
    media_id = fields.String(validate=validate.Length(max=128), allow_none=True)
    articles = fields.List(fields.Nested(ArticleSchema), validate=validate.Length(max=MAX_ARTICLES))
    enabled = fields.Boolean()


class AutoReplyQuerySchema(PageArgs):
    trigger = fields.String(validate=validate.OneOf(TRIGGERS))
    enabled = fields.Boolean()
    q = fields.String(validate=validate.Length(max=64))


class PreviewSchema(Schema):
    kind = fields.String(
        required=True,
        validate=validate.OneOf(["text", "subscribe", "click"]),
        metadata={"description": "What the fan does: sends text, follows, or clicks a menu key"},
    )
    text = fields.String(validate=validate.Length(max=2048), metadata={"description": "The text or the click key"})
    openid = fields.String(validate=OPENID)


class PreviewResultSchema(Schema):
    matched = fields.Boolean(required=True)
    rule = fields.Nested(AutoReplySchema, allow_none=True)
    reply_type = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    xml = fields.String(allow_none=True, metadata={"description": "The passive reply XML the fan's WeChat gets"})


# ---------------------------------------------------------------- fans


def _window_until(fan):
    if fan.last_interaction_at is None:
        return None
    return fan.last_interaction_at + CS_WINDOW


class FanSchema(Schema):
    id = fields.Integer()
    openid = fields.String()
    unionid = fields.String(allow_none=True)
    subscribed = fields.Boolean()
    subscribe_time = UtcDateTime(allow_none=True)
    unsubscribe_time = UtcDateTime(allow_none=True)
    subscribe_scene = fields.String(allow_none=True)
    qr_scene = fields.String(allow_none=True)
    nickname = fields.String(allow_none=True)
    sex = fields.Integer(allow_none=True)
    language = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    province = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    headimgurl = fields.String(allow_none=True)
    remark = fields.String()
    blacklisted = fields.Boolean()
    tag_ids = fields.Function(lambda f: f.tag_id_list, metadata={"type": "array", "items": {"type": "integer"}})
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    location_at = UtcDateTime(allow_none=True)
    last_interaction_at = UtcDateTime(allow_none=True)
    cs_window_until = fields.Method(
        "window_until",
        allow_none=True,
        metadata={
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "description": "Customer-service messages are possible until then (48 h after the last interaction)",
        },
    )
    cs_window_open = fields.Method("window_open", metadata={"type": "boolean"})
    profile_synced_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()

    def window_until(self, fan):
        until = _window_until(fan)
        return UtcDateTime()._serialize(until, None, None) if until else None

    def window_open(self, fan):
        until = _window_until(fan)
        return bool(until and until > utcnow())


class TagRefSchema(Schema):
    id = fields.Integer(metadata={"description": "WeChat's tag id"})
    name = fields.String()


class FanDetailSchema(Schema):
    fan = fields.Nested(FanSchema, required=True)
    tags = fields.List(fields.Nested(TagRefSchema), required=True)
    recent_messages = fields.List(
        fields.Nested(MessageSchema),
        required=True,
        metadata={"description": "The 20 latest messages in both directions"},
    )


class FanQuerySchema(PageArgs):
    subscribed = fields.Boolean()
    blacklisted = fields.Boolean(metadata={"description": "on the account's blacklist or not"})
    tag_id = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1), metadata={"description": "WeChat tag id"})
    scene = fields.String(
        validate=validate.Length(max=64), metadata={"description": "subscribe_scene, e.g. ADD_SCENE_QR_CODE"}
    )
    qr_scene = fields.String(validate=validate.Length(max=64))
    subscribed_from = UtcDateTime()
    subscribed_to = UtcDateTime()
    q = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "openid or unionid (exact), remark or nickname (contains)"},
    )
    sort = fields.String(
        load_default="subscribe_time", validate=validate.OneOf(["subscribe_time", "last_interaction", "id"])
    )
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))


class FanUpdateSchema(Schema):
    remark = fields.String(required=True, validate=validate.Length(max=30))


class SyncJobSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["full", "incremental"]})
    status = fields.String(metadata={"enum": ["pending", "running", "succeeded", "failed"]})
    total = fields.Integer()
    processed = fields.Integer()
    progress = fields.Function(
        lambda j: round(j.processed / j.total, 4) if j.total else (1.0 if j.status == "succeeded" else 0.0),
        metadata={"type": "number"},
    )
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    unsubscribed = fields.Integer()
    error = fields.String(allow_none=True)
    requested_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class SyncStartSchema(Schema):
    kind = fields.String(load_default="full", validate=validate.OneOf(["full", "incremental"]))


# ---------------------------------------------------------------- tags


class TagSchema(Schema):
    id = fields.Integer()
    wechat_id = fields.Integer()
    name = fields.String()
    fan_count = fields.Integer(metadata={"description": "WeChat's count at the last tag sync"})
    system = fields.Boolean()
    synced_at = UtcDateTime()


class TagCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=30))


class TagQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=30))


def _openid_batch_list(batch: int) -> fields.List:
    """1 to 1,000 openids, which the service sends to WeChat `batch` at a time."""
    return fields.List(
        fields.String(validate=OPENID),
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": f"Sent to WeChat in batches of {batch}"},
    )


class TagMembersSchema(Schema):
    openids = _openid_batch_list(50)


class BlacklistMembersSchema(Schema):
    openids = _openid_batch_list(20)


class BlacklistSyncSchema(Schema):
    total = fields.Integer(required=True, metadata={"description": "openids on WeChat's blacklist"})
    stored = fields.Integer(required=True, metadata={"description": "stored fans now marked blacklisted"})
    marked = fields.Integer(required=True, metadata={"description": "fans newly marked by this sync"})
    released = fields.Integer(required=True, metadata={"description": "fans no longer on the blacklist"})


class TagBatchSchema(Schema):
    size = fields.Integer()
    ok = fields.Boolean()
    errcode = fields.Integer(allow_none=True)
    message = fields.String(allow_none=True)


class TagMembersResultSchema(Schema):
    requested = fields.Integer(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    batches = fields.List(fields.Nested(TagBatchSchema), required=True)


# ---------------------------------------------------------------- menus

_BYTES = validate.Length(max=1024)


class SubButtonSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=60))
    type = fields.String(required=True, validate=validate.OneOf(BUTTON_TYPES))
    key = fields.String(validate=validate.Length(max=128))
    url = fields.String(validate=_BYTES)
    appid = fields.String(validate=validate.Length(max=32))
    pagepath = fields.String(validate=validate.Length(max=256))
    media_id = fields.String(validate=validate.Length(max=128))
    article_id = fields.String(validate=validate.Length(max=128))


class ButtonSchema(SubButtonSchema):
    type = fields.String(
        validate=validate.OneOf(BUTTON_TYPES), metadata={"description": "Omitted for a button with sub-buttons"}
    )
    sub_button = fields.List(fields.Nested(SubButtonSchema), validate=validate.Length(max=10))


class MenuSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    buttons = fields.List(fields.Nested(ButtonSchema))
    status = fields.String(metadata={"enum": ["draft", "published"]})
    published_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class MenuCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    buttons = fields.List(fields.Nested(ButtonSchema), required=True, validate=validate.Length(max=10))


class MenuUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    buttons = fields.List(fields.Nested(ButtonSchema), validate=validate.Length(max=10))


class MenuValidateSchema(Schema):
    buttons = fields.List(fields.Nested(ButtonSchema), required=True, validate=validate.Length(max=10))


class MenuValidResultSchema(Schema):
    valid = fields.Boolean(required=True)


class LiveMenuSchema(Schema):
    exists = fields.Boolean(required=True)
    buttons = fields.List(fields.Nested(ButtonSchema), required=True)


class MenuStatSchema(Schema):
    event = fields.String()
    key = fields.String(metadata={"description": "The button's key (CLICK) or URL (VIEW)"})
    clicks = fields.Integer()
    fans = fields.Integer(metadata={"description": "Distinct fans"})


class DateRangeSchema(Schema):
    start = UtcDateTime()
    end = UtcDateTime()


# ---------------------------------------------------------------- QR codes


class QrCodeSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    channel = fields.String()
    kind = fields.String(metadata={"enum": ["temporary", "permanent"]})
    scene = fields.String()
    ticket = fields.String()
    url = fields.String(metadata={"description": "The URL the QR code encodes"})
    expire_seconds = fields.Integer(allow_none=True)
    expires_at = UtcDateTime(allow_none=True)
    scan_count = fields.Integer(metadata={"description": "Scans by followers and by new followers"})
    subscribe_count = fields.Integer(metadata={"description": "New followers who followed by scanning it"})
    created_at = UtcDateTime()


class QrCodeCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    channel = fields.String(load_default="", validate=validate.Length(max=64))
    kind = fields.String(required=True, validate=validate.OneOf(["temporary", "permanent"]))
    scene = fields.String(required=True, validate=SCENE)
    expire_seconds = fields.Integer(
        validate=validate.Range(min=60, max=2_592_000),
        metadata={"description": "Temporary codes: 60 s to 30 days (default 30 days)"},
    )


class QrCodeUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    channel = fields.String(validate=validate.Length(max=64))


class QrCodeQuerySchema(PageArgs):
    channel = fields.String(validate=validate.Length(max=64))
    kind = fields.String(validate=validate.OneOf(["temporary", "permanent"]))
    q = fields.String(validate=validate.Length(max=64))


# ---------------------------------------------------------------- materials

MATERIAL_TYPES = ("image", "voice", "video", "thumb")


class MaterialSchema(Schema):
    id = fields.Integer()
    media_id = fields.String()
    type = fields.String(metadata={"enum": list(MATERIAL_TYPES)})
    name = fields.String()
    url = fields.String(allow_none=True)
    content_type = fields.String(allow_none=True)
    size = fields.Integer()
    title = fields.String(allow_none=True)
    introduction = fields.String(allow_none=True)
    created_at = UtcDateTime()


class UploadField(fields.Raw):
    """A multipart file part (werkzeug FileStorage)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ValidationError("A file part is required.")
        return value


class MaterialUploadSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(MATERIAL_TYPES))
    title = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "Videos: required"})
    introduction = fields.String(validate=validate.Length(max=255))
    file = UploadField(required=True, metadata={"type": "string", "format": "binary"})


class MaterialQuerySchema(PageArgs):
    type = fields.String(validate=validate.OneOf(MATERIAL_TYPES))
    q = fields.String(validate=validate.Length(max=64))


class VideoContentSchema(Schema):
    title = fields.String()
    description = fields.String()
    down_url = fields.String()
