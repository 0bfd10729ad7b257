"""Internal routes of the message center for the WeCom service (service tokens only; not in the OpenAPI document).

The WeCom service owns its corp's apps and its group robots, credentials included. It
passes what a send needs with each request; the message center keeps its own encrypted
copy as a sender (found by app key, created or updated on the way), so its engine can send,
wait and retry later without asking again.

- `POST /internal/message/wecom/robot-sends`   queue one robot message (a single send of the
  `group_robot` channel: the robot's sliding window makes the 21st message of a minute wait,
  never drop); 202 with the delivery, or 200 with the earlier one for a repeated idempotency key.
  409 when the message center holds the robot as broken (WeCom answered 93000), unless the WeCom
  service made it active again since (`active_since`).
- `POST /internal/message/wecom/app-sends`     an app message to members / departments / tags,
  sent now (the agent's rate limit is waited out up to 10 s) and answered with WeCom's outcome:
  `sent` or `failed`, the msgid, and the recipients WeCom reports invalid; `not_sent` when WeCom
  could not be reached (nothing recorded, nothing sent). Recorded in the send log.
- `POST /internal/message/wecom/appchat-sends` the same for a message to an app chat.
- `POST /internal/message/wecom/sends/status`  deliveries by idempotency key, with their sender's state.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wedraw.core.auth import internal
from wedraw.core.db import naive_utc, utcnow
from wedraw.core.errors import ApiError
from wedraw.core.store import store_for
from wedraw.message_center import credentials, services
from wedraw.message_center.channels import CHANNELS, ContentError
from wedraw.message_center.config import message_settings
from wedraw.message_center.delivery import _limit_key
from wedraw.message_center.limits import limiter_for
from wedraw.message_center.models import FAILED_FINAL, SENT, Delivery, Sender, db
from wedraw.wechat import Final, Ok, invalid_recipients

bp = Blueprint("message-wecom-internal", __name__, url_prefix="/internal/message/wecom")

RATE_WAIT_SECONDS = 10.0
MAX_KEYS = 1000
_ID = validate.Regexp(r"^[^|]{1,64}$")


class RobotSendBody(Schema):
    key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    message = fields.Dict(required=True)
    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    requested_by = fields.String(allow_none=True, validate=validate.Length(max=64))
    active_since = fields.AwareDateTime(allow_none=True, default_timezone=UTC)


class AppBody(Schema):
    corp_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    agent_id = fields.Integer(required=True, validate=validate.Range(min=0, max=2**31 - 1))
    secret = fields.String(required=True, validate=validate.Length(min=1, max=128))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    message = fields.Dict(required=True)
    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    requested_by = fields.String(allow_none=True, validate=validate.Length(max=64))


class AppSendBody(AppBody):
    touser = fields.List(fields.String(validate=_ID), load_default=list, validate=validate.Length(max=1000))
    toparty = fields.List(fields.String(validate=_ID), load_default=list, validate=validate.Length(max=100))
    totag = fields.List(fields.String(validate=_ID), load_default=list, validate=validate.Length(max=100))


class AppChatSendBody(AppBody):
    chatid = fields.String(required=True, validate=validate.Length(min=1, max=32))


class StatusBody(Schema):
    keys = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)), required=True, validate=validate.Length(max=MAX_KEYS)
    )


def _load(schema: Schema, data) -> dict:
    try:
        return schema.load(data or {})
    except ValidationError as exc:
        raise ApiError(422, "Invalid internal request.", errors=exc.normalized_messages()) from None


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def _sender(kind: str, app_key: str, name: str, config: dict) -> Sender:
    """The sender of these credentials, created or brought up to date (its copy of the secret follows)."""
    settings = _settings()
    for _ in range(2):
        sender = db.session.execute(
            select(Sender).where(Sender.kind == kind, Sender.app_key == app_key)
        ).scalar_one_or_none()
        if sender is None:
            sender = Sender(kind=kind, app_key=app_key, name=name, status="active")
            db.session.add(sender)
        elif sender.config_enc and credentials.decrypt_config(settings, sender) == config:
            if sender.name != name:  # renamed in the WeCom service
                sender.name = name
                db.session.commit()
            return sender
        sender.name = name
        sender.config_enc = credentials.encrypt_config(settings, config)
        sender.secret_hint = "****" + str(config.get("secret") or config.get("key"))[-4:]
        sender.updated_at = utcnow()
        try:
            db.session.commit()
            return sender
        except IntegrityError:  # created concurrently by another request: use that one
            db.session.rollback()
    raise ApiError(409, "The sender could not be recorded; try again.", "conflict")


def _sender_dict(sender: Sender) -> dict:
    return {"id": sender.id, "status": sender.status, "broken_reason": sender.broken_reason}


def _delivery_dict(row: Delivery) -> dict:
    return {
        "id": row.id,
        "status": row.status,
        "attempts": row.attempts,
        "errcode": row.errcode,
        "errmsg": row.errmsg,
        "category": row.category,
        "msgid": row.msgid,
        "sent_at": _iso(row.sent_at),
        "created_at": _iso(row.created_at),
    }


# ---------------------------------------------------------------- robots


@bp.route("/robot-sends", methods=["POST"])
@internal
def robot_send():
    body = _load(RobotSendBody(), request.get_json(silent=True))
    channel = CHANNELS["group_robot"]
    channel.check_message(body["message"])  # 422 before a sender is recorded for a message WeCom would refuse
    sender = _sender("group_robot", services._robot_fingerprint(body["key"]), body["name"], {"key": body["key"]})
    since = body.get("active_since")
    if sender.status == "broken" and since and sender.broken_at and sender.broken_at < naive_utc(since):
        sender.status, sender.broken_reason, sender.broken_at = "active", None, None
        db.session.commit()
    if sender.status == "broken":
        raise ApiError(409, f"The robot is broken: {sender.broken_reason}.", "sender_broken")
    row, created = services.create_send(
        {
            "channel": channel.name,
            "sender_id": sender.id,
            "message": body["message"],
            "idempotency_key": body["idempotency_key"],
        },
        body.get("requested_by") or "wecom",
    )
    return jsonify({"delivery": _delivery_dict(row), "sender": _sender_dict(sender), "created": created}), (
        202 if created else 200
    )


# ---------------------------------------------------------------- app messages, sent now


def _request_hash(parts: list) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _result(row: Delivery) -> dict:
    payload = row.payload or {}
    return {
        "delivery_id": row.id,
        "status": "sent" if row.status == SENT else "failed",
        "msgid": row.msgid,
        "errcode": row.errcode,
        "errmsg": row.errmsg,
        "invalid": payload.get("invalid") or {"users": [], "parties": [], "tags": []},
    }


def _wait_for_permit(sender: Sender, channel) -> None:
    settings = _settings()
    limiter = limiter_for(store_for(settings))
    limit = channel.limit(message_settings(settings), sender.rate_limits)
    key = _limit_key(sender, channel)
    deadline = time.monotonic() + RATE_WAIT_SECONDS
    while True:
        grant = limiter.acquire(key, limit, 1)
        if grant.granted:
            return
        if time.monotonic() + grant.wait > deadline:
            raise ApiError(
                409,
                f"The app's send rate is used up; try again in {max(1, round(grant.wait))} s.",
                "rate_limited",
            )
        time.sleep(grant.wait)


def _send_now(body: dict, target: str, path: str, wechat_body: dict, recipients: dict) -> Any:
    """Send one app (or app chat) message through the agent's sender, now; record it in the send log."""
    channel = CHANNELS["wecom_app"]
    message = channel.check_message(body["message"])
    config = {"corp_id": body["corp_id"], "agent_id": body["agent_id"], "secret": body["secret"]}
    sender = _sender("wecom_app", f"{body['corp_id']}/{body['agent_id']}", body["name"], config)
    services._usable_sender(sender.id, channel, "sender")
    digest = _request_hash([target, message, recipients])
    existing = db.session.execute(
        select(Delivery).where(Delivery.idempotency_key == body["idempotency_key"])
    ).scalar_one_or_none()
    if existing is not None:
        if existing.request_hash != digest:
            raise ApiError(409, "This idempotency key was already used for another message.", "idempotency_key_reused")
        return jsonify(_result(existing))
    _wait_for_permit(sender, channel)
    app = credentials.app_for(_settings(), sender)
    result = app.call(app.api.post, path, data={**wechat_body, **{k: v for k, v in message.items() if k != "toparty"}})
    if not isinstance(result, (Ok, Final)):  # WeCom busy or unreachable: nothing was sent, nothing is recorded
        if result.errcode in (45009, 45011):
            limiter_for(store_for(_settings())).block(
                _limit_key(sender, channel), message_settings(_settings()).quota_pause_seconds
            )
        return jsonify(
            {
                "delivery_id": None,
                "status": "not_sent",
                "msgid": None,
                "errcode": result.errcode,
                "errmsg": f"WeCom could not be reached ({result.meaning}); nothing was sent.",
                "invalid": {"users": [], "parties": [], "tags": []},
            }
        )
    now = utcnow()
    invalid = {"users": [], "parties": [], "tags": []}
    if isinstance(result, Ok):
        found = invalid_recipients(result.data or {})
        invalid = {
            "users": found["invaliduser"] + found["unlicenseduser"],
            "parties": found["invalidparty"],
            "tags": found["invalidtag"],
        }
        data = result.data if isinstance(result.data, dict) else {}
        status, errcode, msgid = SENT, None, str(data.get("msgid") or "") or None
        summary = "; ".join(f"invalid {k}: {'|'.join(v)}" for k, v in invalid.items() if v)
        errmsg, category = summary[:255] or None, None
    else:
        if result.errcode == 81013:  # every recipient was invalid: WeCom names them only in its error body
            invalid = {k: list(recipients.get(k) or []) for k in ("users", "parties", "tags")}
        status, errcode, msgid, category = FAILED_FINAL, result.errcode, None, result.category
        errmsg = (result.meaning + (f" ({result.errmsg})" if result.errmsg else ""))[:255]
    row = Delivery(
        channel=channel.name,
        sender_id=sender.id,
        target=target[:255],
        status=status,
        attempts=1,
        errcode=errcode,
        errmsg=errmsg,
        category=category,
        msgid=msgid,
        next_attempt_at=now,
        sent_at=now if status == SENT else None,
        created_at=now,
        updated_at=now,
        idempotency_key=body["idempotency_key"],
        request_hash=digest,
        requested_by=body.get("requested_by") or "wecom",
    )
    row.payload = {**message, **recipients, "invalid": invalid}
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # the same key, committed by a concurrent request
        db.session.rollback()
        row = db.session.execute(
            select(Delivery).where(Delivery.idempotency_key == body["idempotency_key"])
        ).scalar_one()
    return jsonify(_result(row))


@bp.route("/app-sends", methods=["POST"])
@internal
def app_send():
    body = _load(AppSendBody(), request.get_json(silent=True))
    recipients = {"users": body["touser"], "parties": body["toparty"], "tags": body["totag"]}
    if not any(recipients.values()):
        raise ContentError("Name at least one recipient (touser, toparty or totag).", "touser")
    wechat_body: dict[str, Any] = {"agentid": body["agent_id"]}
    for name in ("touser", "toparty", "totag"):
        if body[name]:
            wechat_body[name] = "|".join(body[name])
    target = ";".join(f"{k}={'|'.join(v)}" for k, v in recipients.items() if v)
    return _send_now(body, target, "message/send", wechat_body, recipients)


@bp.route("/appchat-sends", methods=["POST"])
@internal
def appchat_send():
    body = _load(AppChatSendBody(), request.get_json(silent=True))
    if body["message"].get("msgtype") not in ("text", "markdown", "textcard", "news"):
        raise ContentError("An app chat message is text, markdown, textcard or news.", "message.msgtype")
    return _send_now(body, f"appchat:{body['chatid']}", "appchat/send", {"chatid": body["chatid"]}, {})


# ---------------------------------------------------------------- outcomes


@bp.route("/sends/status", methods=["POST"])
@internal
def sends_status():
    body = _load(StatusBody(), request.get_json(silent=True))
    found: dict[str, dict] = {}
    if body["keys"]:
        rows = db.session.execute(
            select(Delivery, Sender)
            .join(Sender, Sender.id == Delivery.sender_id)
            .where(Delivery.idempotency_key.in_(body["keys"]))
        ).all()
        for row, sender in rows:
            found[row.idempotency_key] = {"delivery": _delivery_dict(row), "sender": _sender_dict(sender)}
    return jsonify({"sends": found})
