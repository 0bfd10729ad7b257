"""Request and response schemas of the Mini Program API (marshmallow, unknown fields rejected).

Schema names are prefixed (`Mp...`, `Member...`): page envelopes are shared by name across services.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from wedraw.core.auth import can_see_pii
from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs, page_of
from wedraw.core.pii import mask_phone
from wedraw.miniprogram.models import GRANT_RESULTS, MEMBER_STATUSES

APPID = validate.Regexp(r"^wx[0-9A-Za-z]{16}$", error="An appid is 'wx' and 16 letters or digits.")
SECRET = validate.Regexp(r"^[0-9A-Za-z]{16,64}$", error="An AppSecret is 16 to 64 letters or digits.")
OPENID = validate.Regexp(r"^[0-9A-Za-z_-]{6,64}$", error="Not an openid.")
CODE = validate.Regexp(r"^[0-9A-Za-z_-]{1,128}$", error="Not a wx.login code.")
TEMPLATE_ID = r"^[0-9A-Za-z_-]{1,64}$"
BASE64 = validate.Regexp(r"^[0-9A-Za-z+/=]+$", error="Not base64.")


# ---------------------------------------------------------------- apps


class MpAppSchema(Schema):
    id = fields.Integer()
    appid = fields.String()
    name = fields.String()
    enabled = fields.Boolean()
    demo = fields.Boolean(metadata={"description": "The sandbox's demo Mini Program (seeded)"})
    secret_hint = fields.String(metadata={"description": "Masked AppSecret; the secret itself is never returned"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class MpAppQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64), metadata={"description": "Name or appid contains"})
    enabled = fields.Boolean()


class MpAppCreateSchema(Schema):
    appid = fields.String(required=True, validate=APPID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    secret = fields.String(required=True, validate=SECRET, load_only=True)
    enabled = fields.Boolean(load_default=True)


class MpAppUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=64))
    secret = fields.String(validate=SECRET, load_only=True, metadata={"description": "Omit to keep the secret"})
    enabled = fields.Boolean()


class MpPublicConfigSchema(Schema):
    appid = fields.String(required=True)
    name = fields.String(required=True)
    sandbox = fields.Boolean(
        required=True, metadata={"description": "WeChat is the sandbox: `POST /sandbox/wxlogin` mints login codes"}
    )


class MpConfigArgs(Schema):
    appid = fields.String(validate=APPID, metadata={"description": "May be omitted when one Mini Program is enabled"})


# ---------------------------------------------------------------- login and the member's own views


class MpLoginSchema(Schema):
    code = fields.String(required=True, validate=CODE, metadata={"description": "The code from `wx.login()`"})
    appid = fields.String(validate=APPID, metadata={"description": "May be omitted when one Mini Program is enabled"})


class MemberSelfSchema(Schema):
    id = fields.Integer(required=True)
    member_key = fields.String(required=True, metadata={"description": "Names the member across channels"})
    unionid = fields.String(allow_none=True)
    nickname = fields.String(allow_none=True)
    avatar_url = fields.String(allow_none=True)
    phone_masked = fields.String(allow_none=True, metadata={"description": "The bound number, masked"})
    phone_bound = fields.Boolean(required=True)
    appid = fields.String(allow_none=True)
    openid = fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)


class MpLoginResultSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Member token: `Authorization: Bearer <token>`"})
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds; log in again (wx.login) after"})
    is_new_member = fields.Boolean(required=True)
    member = fields.Nested(MemberSelfSchema, required=True)


class SandboxWxloginSchema(Schema):
    appid = fields.String(validate=APPID)
    openid = fields.String(validate=OPENID, metadata={"description": "Which sandbox user (default: the first)"})
    new = fields.Boolean(metadata={"description": "A new sandbox user"})


class SandboxCodeSchema(Schema):
    code = fields.String(required=True)
    openid = fields.String(required=True)
    appid = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class MemberProfileUpdateSchema(Schema):
    nickname = fields.String(validate=validate.Length(min=1, max=64))
    avatar_url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=512))


class PhoneBindSchema(Schema):
    encrypted_data = fields.String(
        required=True,
        validate=[validate.Length(min=16, max=4096), BASE64],
        metadata={"description": "`encryptedData` from getPhoneNumber"},
    )
    iv = fields.String(required=True, validate=[validate.Length(min=16, max=64), BASE64])


class SubscriptionResultsSchema(Schema):
    results = fields.Dict(
        keys=fields.String(validate=validate.Regexp(TEMPLATE_ID, error="Not a template id.")),
        values=fields.String(validate=validate.OneOf(GRANT_RESULTS)),
        required=True,
        metadata={"description": "wx.requestSubscribeMessage's answer: template id -> accept | reject | ban | filter"},
    )

    @validates_schema
    def _size(self, data, **_):
        if not 1 <= len(data.get("results") or {}) <= 10:
            raise ValidationError("1 to 10 templates.", "results")


class SubscribeGrantSchema(Schema):
    template_id = fields.String(required=True)
    remaining = fields.Integer(required=True, metadata={"description": "Sends still granted"})
    accepted_total = fields.Integer()
    rejected_total = fields.Integer()
    used_total = fields.Integer()
    last_result = fields.String(allow_none=True)
    last_answered_at = UtcDateTime(allow_none=True)


# ---------------------------------------------------------------- members (admin)


class MemberQuerySchema(PageArgs):
    q = fields.String(
        validate=validate.Length(min=1, max=96),
        metadata={"description": "Nickname contains, or an exact openid, unionid, member key or phone number"},
    )
    member_key = fields.String(validate=validate.Length(min=1, max=96))
    status = fields.String(validate=validate.OneOf(MEMBER_STATUSES))
    has_phone = fields.Boolean()
    appid = fields.String(validate=APPID)
    created_from = fields.DateTime()
    created_to = fields.DateTime()


class MemberIdentitySchema(Schema):
    appid = fields.String(required=True)
    openid = fields.String(required=True)
    has_session = fields.Boolean(metadata={"description": "A WeChat session_key is held (encrypted, never returned)"})
    created_at = UtcDateTime()
    last_login_at = UtcDateTime(allow_none=True)


class MpMemberSchema(Schema):
    id = fields.Integer(required=True)
    member_key = fields.String(required=True)
    unionid = fields.String(allow_none=True)
    nickname = fields.String(allow_none=True)
    avatar_url = fields.String(allow_none=True)
    phone = fields.Function(
        lambda m: m["phone"] if can_see_pii() else mask_phone(m["phone"]),
        allow_none=True,
        metadata={"description": "Masked without pii:personal:read", "type": "string"},
    )
    phone_bound_at = UtcDateTime(allow_none=True)
    status = fields.String(metadata={"enum": list(MEMBER_STATUSES)})
    remark = fields.String()
    login_count = fields.Integer()
    last_login_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    identities = fields.List(fields.Nested(MemberIdentitySchema))


class MpMemberDetailSchema(MpMemberSchema):
    grants = fields.List(fields.Nested(SubscribeGrantSchema))


class MemberUpdateSchema(Schema):
    status = fields.String(
        validate=validate.OneOf(MEMBER_STATUSES), metadata={"description": "disabled ends the member's sessions"}
    )
    remark = fields.String(validate=validate.Length(max=255))


class MemberStatsSchema(Schema):
    members = fields.Integer(required=True)
    with_phone = fields.Integer(required=True)
    logged_in_last_24h = fields.Integer(required=True)


page_of_apps = page_of(MpAppSchema)
page_of_members = page_of(MpMemberSchema)
