"""Internal routes of the Official Account service, for other WeDraw services (service tokens only).

The message center sends campaigns to this service's fans and through its accounts, but
never reads this service's tables: it asks here.

- `GET  /internal/wechat/accounts`                       every account: appid, name, enabled (no secrets)
- `GET  /internal/wechat/accounts/<appid>/credentials`   appid + decrypted app secret, for sending as the account
- `GET  /internal/wechat/audience`                       one page of fans' openids (`all`, `subscribed` or a `tag`),
                                                         keyset-paged by fan id (`after`), with the total on request
- `GET  /internal/wechat/audience/count`                 how many fans an audience has (with a tag's name, if synced)
- `POST /internal/wechat/fans/unsubscribed`              fans WeChat answered 43004 for: mark them unsubscribed
- `POST /internal/wechat/fans/by-unionid`                the account's openids of people known by unionid

Not part of the public API (not in the OpenAPI document; Nginx does not route /internal).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select, update

from wedraw.core.auth import internal
from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.wechat_official.models import Account, Fan, Tag, db

bp = Blueprint("wechat-internal", __name__, url_prefix="/internal/wechat")

AUDIENCE_KINDS = ("all", "subscribed", "tag")
MAX_PAGE = 10_000
MAX_OPENIDS = 10_000


class AudienceArgs(Schema):
    appid = fields.String(required=True, validate=validate.Length(min=1, max=32))
    kind = fields.String(load_default="subscribed", validate=validate.OneOf(AUDIENCE_KINDS))
    tag_id = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1), metadata={"description": "WeChat tag id"})
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=MAX_PAGE))
    with_total = fields.Boolean(load_default=False)


class CountArgs(Schema):
    appid = fields.String(required=True, validate=validate.Length(min=1, max=32))
    kind = fields.String(load_default="subscribed", validate=validate.OneOf(AUDIENCE_KINDS))
    tag_id = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1))


class OpenidsBody(Schema):
    appid = fields.String(required=True, validate=validate.Length(min=1, max=32))
    openids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(max=MAX_OPENIDS),
    )


class UnionidsBody(Schema):
    appid = fields.String(required=True, validate=validate.Length(min=1, max=32))
    unionids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(max=MAX_OPENIDS),
    )


def _load(schema: Schema, data) -> dict:
    try:
        return schema.load(data or {})
    except ValidationError as exc:
        raise ApiError(422, "Invalid internal request.", errors=exc.normalized_messages()) from None


def _account(appid: str) -> Account:
    account = db.session.execute(select(Account).where(Account.appid == appid)).scalar_one_or_none()
    if account is None:
        raise ApiError(404, f"No Official Account with appid {appid}.")
    return account


def _audience_filter(account: Account, args: dict) -> list:
    kind = args["kind"]
    where = [Fan.account_id == account.id]
    if kind in ("subscribed", "tag"):
        where.append(Fan.subscribed.is_(True))
    if kind == "tag":
        if args.get("tag_id") is None:
            raise ApiError(422, "A tag audience needs tag_id.", errors={"tag_id": ["Required for kind=tag."]})
        where.append(Fan.tag_ids.like(f"%,{int(args['tag_id'])},%"))
    return where


def _count(where: list) -> int:
    return db.session.execute(select(func.count()).select_from(Fan).where(*where)).scalar_one()


@bp.route("/accounts", methods=["GET"])
@internal
def accounts():
    rows = db.session.execute(select(Account.appid, Account.name, Account.enabled).order_by(Account.id)).all()
    return jsonify({"accounts": [{"appid": r.appid, "name": r.name, "enabled": r.enabled} for r in rows]})


@bp.route("/accounts/<string:appid>/credentials", methods=["GET"])
@internal
def credentials(appid: str):
    """The app secret, decrypted, so another service can call WeChat as this account (one shared token)."""
    from wedraw.wechat_official.services import _config

    account = _account(appid)
    config = _config(account)
    return jsonify({"appid": account.appid, "name": account.name, "enabled": account.enabled, "secret": config.secret})


@bp.route("/audience", methods=["GET"])
@internal
def audience():
    """One page of fans after fan id `after`, in id order; `next` is the cursor (null on the last page)."""
    args = _load(AudienceArgs(), request.args)
    account = _account(args["appid"])
    where = _audience_filter(account, args)
    rows = db.session.execute(
        select(Fan.id, Fan.openid, Fan.unionid)
        .where(*where, Fan.id > args["after"])
        .order_by(Fan.id)
        .limit(args["limit"])
    ).all()
    body = {
        "fans": [{"openid": r.openid, "unionid": r.unionid} for r in rows],
        "next": rows[-1].id if len(rows) == args["limit"] else None,
    }
    if args["with_total"]:
        body["total"] = _count(where)
    return jsonify(body)


@bp.route("/audience/count", methods=["GET"])
@internal
def audience_count():
    args = _load(CountArgs(), request.args)
    account = _account(args["appid"])
    body = {"count": _count(_audience_filter(account, args))}
    if args["kind"] == "tag":  # its name, for people to read (null until the account's tags are synced)
        body["tag_name"] = db.session.execute(
            select(Tag.name).where(Tag.account_id == account.id, Tag.wechat_id == args["tag_id"])
        ).scalar_one_or_none()
    return jsonify(body)


@bp.route("/fans/unsubscribed", methods=["POST"])
@internal
def mark_unsubscribed():
    """WeChat answered 43004 (not subscribed) when another service wrote to these fans."""
    body = _load(OpenidsBody(), request.get_json(silent=True))
    account = _account(body["appid"])
    if not body["openids"]:
        return jsonify({"updated": 0})
    now = utcnow()
    updated = db.session.execute(
        update(Fan)
        .where(Fan.account_id == account.id, Fan.openid.in_(body["openids"]), Fan.subscribed.is_(True))
        .values(subscribed=False, unsubscribe_time=now, tag_ids=",", updated_at=now)
    ).rowcount
    db.session.commit()
    return jsonify({"updated": updated})


@bp.route("/fans/by-unionid", methods=["POST"])
@internal
def openids_by_unionid():
    """The account's subscribed openid of each person known by unionid (missing ones are left out)."""
    body = _load(UnionidsBody(), request.get_json(silent=True))
    account = _account(body["appid"])
    found = {}
    if body["unionids"]:
        rows = db.session.execute(
            select(Fan.unionid, Fan.openid).where(
                Fan.account_id == account.id, Fan.unionid.in_(body["unionids"]), Fan.subscribed.is_(True)
            )
        ).all()
        found = {r.unionid: r.openid for r in rows}
    return jsonify({"openids": found})
