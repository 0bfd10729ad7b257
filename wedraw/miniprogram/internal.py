"""Internal routes of the miniprogram service, for other WeDraw services (service tokens only).

- `GET  /internal/miniprogram/apps/<appid>/credentials`  appid + decrypted AppSecret, to send as the Mini Program
- `POST /internal/miniprogram/grants/claim`              use one of a member's subscribe grants for a template,
                                                         once per `use_key`: {granted, appid, openid} (the points
                                                         mall asks before an order notification)
- `GET  /internal/miniprogram/members/by-key`            a member's public profile by member key
- `GET  /internal/miniprogram/audience[/count]`          members by filter as a campaign audience: their
                                                         openids in one Mini Program, paged (the message center)

Not part of the public API (not in the OpenAPI document; Nginx does not route /internal).
"""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, g, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from wedraw.core.auth import internal
from wedraw.core.errors import ApiError
from wedraw.miniprogram import audience, services

bp = Blueprint("miniprogram-internal", __name__, url_prefix="/internal/miniprogram")


class ClaimBody(Schema):
    member_key = fields.String(required=True, validate=validate.Length(min=1, max=96))
    template_id = fields.String(required=True, validate=validate.Regexp(r"^[0-9A-Za-z_-]{1,64}$"))
    use_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    appid = fields.String(validate=validate.Length(min=1, max=32))


class AudienceArgs(Schema):
    appid = fields.String(required=True, validate=validate.Length(min=1, max=32))
    status = fields.String(load_default="active", validate=validate.OneOf(["active", "disabled"]))
    joined_after = fields.AwareDateTime(default_timezone=UTC)
    joined_before = fields.AwareDateTime(default_timezone=UTC)
    active_after = fields.AwareDateTime(default_timezone=UTC)
    phone_bound = fields.Boolean()
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=5000, validate=validate.Range(min=1, max=10_000))


class KeyArgs(Schema):
    member_key = fields.String(required=True, validate=validate.Length(min=1, max=96))


def _load(schema: Schema, data) -> dict:
    try:
        return schema.load(data or {})
    except ValidationError as exc:
        raise ApiError(422, "Invalid internal request.", errors=exc.normalized_messages()) from None


@bp.route("/apps/<string:appid>/credentials", methods=["GET"])
@internal
def credentials(appid: str):
    app = services.app_credentials(appid)
    return jsonify(
        {"appid": app.appid, "name": app.name, "enabled": app.enabled, "secret": services.decrypted_secret(app)}
    )


@bp.route("/grants/claim", methods=["POST"])
@internal
def claim_grant():
    body = _load(ClaimBody(), request.get_json(silent=True))
    return jsonify(
        services.claim_grant(
            body["member_key"], body["template_id"], body["use_key"], body.get("appid"), g.get("caller_service")
        )
    )


@bp.route("/members/by-key", methods=["GET"])
@internal
def member_by_key():
    args = _load(KeyArgs(), request.args)
    member = services._member_by_key(args["member_key"])
    if member is None:
        raise ApiError(404, "No member has this key.")
    return jsonify(
        {
            "id": member.id,
            "member_key": member.member_key,
            "unionid": member.unionid,
            "nickname": member.nickname,
            "avatar_url": member.avatar_url,
            "status": member.status,
        }
    )


@bp.route("/audience/count", methods=["GET"])
@internal
def audience_count():
    args = _load(AudienceArgs(), request.args)
    return jsonify({"count": audience.count(args.pop("appid"), args)})


@bp.route("/audience", methods=["GET"])
@internal
def audience_page():
    args = _load(AudienceArgs(), request.args)
    return jsonify(audience.page(args.pop("appid"), args, args.pop("after"), args.pop("limit")))
