"""The members' web pages (frontend/wecom-h5, served at /h5/wecom/): WeCom OAuth login, own profile, directory.

Every route here is `@public` to the admin machinery: a member has no admin token. Routes
that read the organisation verify a *member token* instead: a short-lived JWT this module
issues after WeCom's OAuth login, with `kind` = "wecom_user". The shared `enforce_access`
refuses any non-admin kind on admin routes, so a member token opens nothing but this module.

The login, as WeCom runs it inside the WeCom client:
1. the page asks `GET /oauth/authorize-url` and sends the browser there (WeCom's
   `connect/oauth2/authorize`, snsapi_base; the sandbox's page when WeCom is the sandbox);
2. WeCom redirects back to the page with `code` and the page's `state` (which the page checks
   against what it stored: login CSRF);
3. the page posts the code to `POST /oauth/login`: the code is exchanged through the client
   layer (`auth/getuserinfo`, with the app's token) for the member's userid, and a member
   token comes back. A visitor who is not a member of the corp (WeCom answers an openid) is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import request
from flask_jwt_extended import create_access_token, decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_smorest import Blueprint
from jwt import PyJWTError
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from wedraw.core.auth import public
from wedraw.core.errors import ApiError
from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs, page_of
from wedraw.wecom import contacts, services
from wedraw.wecom.models import App, Corp, Department, Member, db
from wedraw.wecom.schemas import CORP_ID, STATUSES

MEMBER_KIND = "wecom_user"
MEMBER_TOKEN_TTL = timedelta(hours=2)
H5_MOUNT = "/h5/wecom/"

h5_blp = Blueprint(
    "wecom-h5",
    __name__,
    url_prefix="/api/wecom/h5",
    description="Members' web pages: WeCom OAuth login (member token), the member's own profile, the directory",
)
_NO_ADMIN = {"security": []}
_MEMBER_TOKEN = {"security": [{"bearerAuth": []}]}


# ---------------------------------------------------------------- schemas


class CorpArgs(Schema):
    corp_id = fields.String(validate=CORP_ID, metadata={"description": "May be omitted when one corp is enabled"})
    agent_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "The app; default: the corp's"}
    )


class PublicCorpSchema(Schema):
    corp_id = fields.String(required=True)
    name = fields.String(required=True)
    agent_id = fields.Integer(required=True)
    app_name = fields.String(required=True)


class AuthorizeArgs(CorpArgs):
    redirect_uri = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": f"A page of this site under {H5_MOUNT}, where WeCom sends the code"},
    )
    state = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9A-Za-z]{8,128}$", error="8 to 128 letters or digits."),
        metadata={"description": "Returned unchanged with the code; the page checks it (login CSRF)"},
    )


class AuthorizeUrlSchema(Schema):
    url = fields.String(required=True, metadata={"description": "Send the browser here"})
    corp_id = fields.String(required=True)
    agent_id = fields.Integer(required=True)


class LoginSchema(CorpArgs):
    code = fields.String(required=True, validate=validate.Regexp(r"^[0-9A-Za-z_-]{1,128}$", error="Not a code."))


class MemberTokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Member token: `Authorization: Bearer <token>`"})
    expires_in = fields.Integer(required=True)
    corp_id = fields.String(required=True)
    userid = fields.String(required=True)


class ColleagueDepartmentSchema(Schema):
    department_id = fields.Integer()
    name = fields.String(allow_none=True)
    is_leader = fields.Boolean()


class WeComColleagueSchema(Schema):
    """What a member may see of a colleague: no phone number or e-mail."""

    userid = fields.String()
    name = fields.String()
    alias = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    gender = fields.Integer(allow_none=True)
    avatar = fields.String(allow_none=True)
    departments = fields.List(fields.Nested(ColleagueDepartmentSchema))


class OwnProfileSchema(WeComColleagueSchema):
    """The member's own record, as WeCom gave it: their own mobile and e-mail included (or why not)."""

    status = fields.Integer()
    status_label = fields.String()
    mobile = fields.String(allow_none=True)
    mobile_reason = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    email_reason = fields.String(allow_none=True)
    telephone = fields.String(allow_none=True)
    tags = fields.List(fields.Dict())


class MeSchema(Schema):
    corp_id = fields.String(required=True)
    corp_name = fields.String(required=True)
    userid = fields.String(required=True)
    profile = fields.Nested(OwnProfileSchema, allow_none=True, metadata={"description": "null until contacts sync"})
    token_expires_at = UtcDateTime(required=True)


class DirectoryArgs(PageArgs):
    q = fields.String(validate=validate.Length(max=64), metadata={"description": "Name, userid, alias or position"})
    department_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    include_children = fields.Boolean(load_default=True)


class DirectoryDepartmentSchema(Schema):
    department_id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer()
    order = fields.Integer()
    member_count = fields.Integer()


# ---------------------------------------------------------------- helpers


def _corp(corp_id: str | None) -> Corp:
    """The enabled corp a page names, or the only enabled one when it names none."""
    stmt = select(Corp).where(Corp.enabled.is_(True))
    if corp_id:
        corp = db.session.execute(stmt.where(Corp.corp_id == corp_id)).scalar_one_or_none()
        if corp is None:
            raise ApiError(404, "No enabled WeCom corp has this corp id.", "corp_not_found")
        return corp
    found = db.session.execute(stmt.order_by(Corp.id).limit(2)).scalars().all()
    if len(found) != 1:
        raise ApiError(
            400,
            "Name the corp (corp_id): " + ("none is enabled." if not found else "several are enabled."),
            "corp_required",
        )
    return found[0]


def _app(corp: Corp, agent_id: int | None) -> App:
    if agent_id is None:
        try:
            return services.default_app(corp)
        except ApiError:
            raise ApiError(404, "The corp has no enabled app to log in with.", "app_not_found") from None
    app = db.session.execute(
        select(App).where(App.corp_ref == corp.id, App.agent_id == agent_id, App.enabled.is_(True))
    ).scalar_one_or_none()
    if app is None:
        raise ApiError(404, "No enabled app of this corp has this agent id.", "app_not_found")
    return app


def _own_page(url: str, field: str) -> str:
    """`url` when it is a page of this site's H5 (never an open redirect)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(422, f"{field} must be an absolute http(s) URL.", errors={field: ["Not an absolute URL."]})
    if parts.netloc.lower() != request.host.lower():
        raise ApiError(422, f"{field} must be on this site ({request.host}).", errors={field: ["Another site."]})
    if not (parts.path + "/").startswith(H5_MOUNT):
        raise ApiError(422, f"{field} must be a page under {H5_MOUNT}.", errors={field: [f"Not under {H5_MOUNT}."]})
    return url


def issue_member_token(corp: Corp, app: App, userid: str) -> str:
    claims = {"kind": MEMBER_KIND, "cid": corp.id, "corp_id": corp.corp_id, "agent_id": app.agent_id}
    return create_access_token(identity=userid, additional_claims=claims, expires_delta=MEMBER_TOKEN_TTL)


def member_claims() -> dict:
    """The verified member token of this request (401 when absent, invalid, expired or not a member token)."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "Missing member token: log in through WeCom first.", "member_token_missing")
    try:
        claims = decode_token(raw.strip())
    except (JWTExtendedException, PyJWTError):
        raise ApiError(
            401, "The member token is invalid or has expired: log in again.", "member_token_invalid"
        ) from None
    if claims.get("type") != "access" or claims.get("kind") != MEMBER_KIND or not claims.get("sub"):
        raise ApiError(401, "This is not a member token.", "member_token_invalid")
    return claims


def _member_corp(claims: dict) -> Corp:
    corp = db.session.get(Corp, claims.get("cid"))
    if corp is None or not corp.enabled or corp.corp_id != claims.get("corp_id"):
        raise ApiError(401, "The member token's corp is gone: log in again.", "member_token_invalid")
    return corp


def _departments(corp_ref: int, members: list[Member]) -> dict[int, list[dict]]:
    from wedraw.wecom.models import MemberDepartment

    ids = [m.id for m in members]
    links = (
        db.session.execute(select(MemberDepartment).where(MemberDepartment.member_id.in_(ids))).scalars().all()
        if ids
        else []
    )
    names = contacts.department_names(corp_ref, {link.department_id for link in links})
    found: dict[int, list[dict]] = {}
    for link in links:
        found.setdefault(link.member_id, []).append(
            {"department_id": link.department_id, "name": names.get(link.department_id), "is_leader": link.is_leader}
        )
    for member in members:
        order = {d: i for i, d in enumerate(member.department_list)}
        found.setdefault(member.id, []).sort(key=lambda d: order.get(d["department_id"], 1 << 30))
    return found


def _colleague(member: Member, departments: list[dict]) -> dict:
    return {
        "userid": member.userid,
        "name": member.name,
        "alias": member.alias,
        "position": member.position,
        "gender": member.gender,
        "avatar": member.avatar,
        "departments": departments,
    }


# ---------------------------------------------------------------- views


@h5_blp.route("/corp", methods=["GET"])
@h5_blp.arguments(CorpArgs, location="query")
@h5_blp.response(200, PublicCorpSchema)
@h5_blp.doc(**_NO_ADMIN)
@public
def public_corp(args):
    """The corp's and the app's public names, for the login page."""
    corp = _corp(args.get("corp_id"))
    app = _app(corp, args.get("agent_id"))
    return {"corp_id": corp.corp_id, "name": corp.name, "agent_id": app.agent_id, "app_name": app.name}


@h5_blp.route("/oauth/authorize-url", methods=["GET"])
@h5_blp.arguments(AuthorizeArgs, location="query")
@h5_blp.response(200, AuthorizeUrlSchema)
@h5_blp.doc(**_NO_ADMIN)
@public
def authorize_url(args):
    """Where to send the browser for WeCom's silent login (snsapi_base)."""
    corp = _corp(args.get("corp_id"))
    app = _app(corp, args.get("agent_id"))
    redirect_uri = _own_page(args["redirect_uri"], "redirect_uri")
    client = services.app_client(corp, app)
    url = client.oauth_authorize_url(redirect_uri, args["state"])
    url = url.replace("#wechat_redirect", f"&agentid={app.agent_id}#wechat_redirect")
    return {"url": url, "corp_id": corp.corp_id, "agent_id": app.agent_id}


@h5_blp.route("/oauth/login", methods=["POST"])
@h5_blp.arguments(LoginSchema)
@h5_blp.response(200, MemberTokenSchema)
@h5_blp.doc(**_NO_ADMIN)
@public
def oauth_login(body):
    """Exchanges WeCom's login code for a member token (codes are single-use; 400 `oauth_code` when refused)."""
    corp = _corp(body.get("corp_id"))
    app = _app(corp, body.get("agent_id"))
    client = services.app_client(corp, app)
    answer = client.call(client.api.user_by_code, body["code"])
    if not answer.ok:
        if getattr(answer, "category", None) == "code":
            raise ApiError(
                400, f"WeCom did not accept the login code: {answer.meaning} (errcode {answer.errcode}).", "oauth_code"
            )
        raise services.wecom_error(answer, "log the member in")
    data = answer.data or {}
    userid = data.get("userid") or data.get("UserId")
    if not userid:
        raise ApiError(403, "This WeCom user is not a member of the corp.", "not_a_member")
    token = issue_member_token(corp, app, str(userid))
    return {
        "token": token,
        "expires_in": int(MEMBER_TOKEN_TTL.total_seconds()),
        "corp_id": corp.corp_id,
        "userid": str(userid),
    }


@h5_blp.route("/me", methods=["GET"])
@h5_blp.response(200, MeSchema)
@h5_blp.doc(**_MEMBER_TOKEN)
@public
def me():
    """The logged-in member's own profile (member token required)."""
    claims = member_claims()
    corp = _member_corp(claims)
    member = db.session.execute(
        select(Member).where(Member.corp_ref == corp.id, Member.userid == claims["sub"])
    ).scalar_one_or_none()
    profile = None
    if member is not None:
        detail = contacts.member_detail(corp.id, member.id)
        profile = {
            **_colleague(member, _departments(corp.id, [member])[member.id]),
            "status": member.status,
            "status_label": STATUSES.get(member.status, str(member.status)),
            "mobile": member.mobile,
            "mobile_reason": contacts.MOBILE_REASONS.get(member.mobile_state),
            "email": member.email,
            "email_reason": contacts.MOBILE_REASONS.get(member.email_state),
            "telephone": member.telephone,
            "tags": detail["tags"],
        }
    return {
        "corp_id": corp.corp_id,
        "corp_name": corp.name,
        "userid": claims["sub"],
        "profile": profile,
        "token_expires_at": datetime.fromtimestamp(claims["exp"], UTC),
    }


@h5_blp.route("/directory", methods=["GET"])
@h5_blp.arguments(DirectoryArgs, location="query")
@h5_blp.response(200, page_of(WeComColleagueSchema))
@h5_blp.doc(**_MEMBER_TOKEN)
@public
def directory(args):
    """Active colleagues, searchable by name, userid, alias or position, or by department (member token required)."""
    claims = member_claims()
    corp = _member_corp(claims)
    page = contacts.list_members(corp.id, {**args, "status": 1, "sort": "name"})
    departments = _departments(corp.id, page["items"])
    page["items"] = [_colleague(m, departments.get(m.id, [])) for m in page["items"]]
    return page


@h5_blp.route("/departments", methods=["GET"])
@h5_blp.response(200, DirectoryDepartmentSchema(many=True))
@h5_blp.doc(**_MEMBER_TOKEN)
@public
def departments():
    """Every department with its direct member count, for browsing the directory (member token required)."""
    claims = member_claims()
    corp = _member_corp(claims)
    rows = (
        db.session.execute(
            select(Department)
            .where(Department.corp_ref == corp.id)
            .order_by(Department.parent_id, Department.order.desc())
        )
        .scalars()
        .all()
    )
    counts = contacts._direct_counts(corp.id)
    return [
        {
            "department_id": d.department_id,
            "name": d.name,
            "parent_id": d.parent_id,
            "order": d.order,
            "member_count": counts.get(d.department_id, 0),
        }
        for d in rows
    ]
