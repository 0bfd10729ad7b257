"""Internal routes of the WeCom service, for other WeDraw services (service tokens only).

The members of the Mini Program and the points mall are owned by those services; a WeCom
customer is the same person when the unionids match. They ask here, never read these tables:

- `POST /internal/wecom/customers/by-unionid`  {unionids: [...]} → {customers: {unionid: [customer, ...]}}
  (each with its corp, external_userid, name, the members who follow it and when first added)
- `GET  /internal/wecom/members/<corp_id>/<userid>`  one member: name, departments, position, status

Not part of the public API (not in the OpenAPI document; Nginx does not route /internal).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from wedraw.core.auth import internal
from wedraw.core.errors import ApiError
from wedraw.wecom import customers
from wedraw.wecom.models import Corp, Member, db

bp = Blueprint("wecom-internal", __name__, url_prefix="/internal/wecom")

MAX_UNIONIDS = 1000


class UnionidsBody(Schema):
    unionids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(max=MAX_UNIONIDS),
    )


@bp.route("/customers/by-unionid", methods=["POST"])
@internal
def customers_by_unionid():
    try:
        body = UnionidsBody().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        raise ApiError(422, "Invalid internal request.", errors=exc.normalized_messages()) from None
    return jsonify({"customers": customers.customers_by_unionid(list(dict.fromkeys(body["unionids"])))})


@bp.route("/members/<string:corp_id>/<string:userid>", methods=["GET"])
@internal
def member(corp_id: str, userid: str):
    row = db.session.execute(
        select(Member).join(Corp, Corp.id == Member.corp_ref).where(Corp.corp_id == corp_id, Member.userid == userid)
    ).scalar_one_or_none()
    if row is None:
        raise ApiError(404, f"No member {userid} in corp {corp_id}.")
    return jsonify(
        {
            "corp_id": corp_id,
            "userid": row.userid,
            "name": row.name,
            "position": row.position,
            "status": row.status,
            "departments": row.department_list,
        }
    )
