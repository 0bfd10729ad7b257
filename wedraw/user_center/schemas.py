"""Request and response schemas of the user center (marshmallow, unknown fields rejected)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wedraw.core.auth import can_see_pii
from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs
from wedraw.core.pii import mask_email, mask_phone

# An empty string clears the field (the console sends "" when an operator empties it).
PHONE = validate.Regexp(r"^(\+?[0-9-]{5,20})?$", error="Not a phone number.")
EMAIL = validate.Regexp(r"^([^@\s]{1,64}@[^@\s]+\.[^@\s]+)?$", error="Not an e-mail address.")


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String()
    expires_in = fields.Integer(required=True)
    token_type = fields.String(required=True)


class LogoutSchema(Schema):
    refresh_token = fields.String(validate=validate.Length(max=4096))


class ChangePasswordSchema(Schema):
    old_password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)


class RoleRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class MeSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    roles = fields.Function(lambda u: [r.name for r in u.roles])
    permissions = fields.List(fields.String())


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    phone = fields.Function(lambda u: u.phone if can_see_pii() else mask_phone(u.phone), allow_none=True)
    email = fields.Function(lambda u: u.email if can_see_pii() else mask_email(u.email), allow_none=True)
    status = fields.String()
    roles = fields.List(fields.Nested(RoleRefSchema))
    created_at = UtcDateTime()
    last_login_at = UtcDateTime(allow_none=True)


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=3, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)
    display_name = fields.String(validate=validate.Length(max=64))
    phone = fields.String(validate=PHONE, allow_none=True)
    email = fields.String(validate=[validate.Length(max=255), EMAIL], allow_none=True)
    role_ids = fields.List(fields.Integer(strict=True), load_default=list, validate=validate.Length(max=50))


class UserUpdateSchema(Schema):
    display_name = fields.String(validate=validate.Length(max=64))
    phone = fields.String(validate=PHONE, allow_none=True)
    email = fields.String(validate=[validate.Length(max=255), EMAIL], allow_none=True)
    role_ids = fields.List(fields.Integer(strict=True), validate=validate.Length(max=50))


class PasswordSchema(Schema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)


class UserQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64))
    status = fields.String(validate=validate.OneOf(["active", "disabled"]))


class RoleSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    builtin = fields.Boolean()
    permissions = fields.List(fields.String())
    user_count = fields.Function(lambda r: len(r.users))


class RoleCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_\-\u4e00-\u9fff]{2,64}$"))
    description = fields.String(validate=validate.Length(max=255), load_default="")
    permissions = fields.List(
        fields.String(validate=validate.Length(max=64)), load_default=list, validate=validate.Length(max=500)
    )


class RoleUpdateSchema(Schema):
    name = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_\-\u4e00-\u9fff]{2,64}$"))
    description = fields.String(validate=validate.Length(max=255))
    permissions = fields.List(fields.String(validate=validate.Length(max=64)), validate=validate.Length(max=500))


class RoleQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64))


class PermissionSchema(Schema):
    code = fields.String()
    area = fields.String()
    description = fields.String()


class AuditSchema(Schema):
    id = fields.Integer()
    created_at = UtcDateTime()
    username = fields.String(allow_none=True)
    service = fields.String()
    action = fields.String()
    method = fields.String()
    path = fields.String()
    target = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    outcome = fields.String()
    status_code = fields.Integer()
    request_id = fields.String(allow_none=True)


class AuditQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=128))
    username = fields.String(validate=validate.Length(max=64))
    action = fields.String(validate=validate.Length(max=128))
    service = fields.String(validate=validate.Length(max=32))
    outcome = fields.String(validate=validate.OneOf(["success", "failure"]))
    start = UtcDateTime()
    end = UtcDateTime()


class LoginLogSchema(Schema):
    id = fields.Integer()
    created_at = UtcDateTime()
    username = fields.String()
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    success = fields.Boolean()
    reason = fields.String(allow_none=True)


class LoginLogQuerySchema(PageArgs):
    username = fields.String(validate=validate.Length(max=64))
    success = fields.Boolean()


class SessionSchema(Schema):
    id = fields.String()
    username = fields.String()
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    created_at = UtcDateTime()
    last_seen_at = UtcDateTime()
    current = fields.Boolean()


class SessionQuerySchema(PageArgs):
    username = fields.String(validate=validate.Length(max=64))
