"""The fans' web pages (frontend/wechat-h5, served at /h5/wechat/): OAuth web login, JS-SDK config, own profile.

Every route here is `@public` to the admin machinery: a fan has no admin token. Routes
that read a fan's data verify a *fan token* instead: a short-lived JWT this module issues
after WeChat's OAuth web login, with `kind` = "wechat_fan". The shared `enforce_access`
refuses any non-admin kind on admin routes, so a fan token opens nothing but this module.

The login, as WeChat runs it:
1. the page asks `GET /oauth/authorize-url` and sends the browser there (WeChat's
   `connect/oauth2/authorize`; the sandbox's page when WeChat is the sandbox);
2. WeChat redirects back to the page with `code` (and the page's `state`, which the page
   checks against what it stored: login CSRF);
3. the page posts the code to `POST /oauth/login`: the code is exchanged through the client
   layer (`sns/oauth2/access_token`, plus `sns/userinfo` for the snsapi_userinfo scope),
   and a fan token comes back.
"""

from __future__ import annotations

import hashlib
import secrets
import time
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
from wedraw.wechat_official import services
from wedraw.wechat_official.models import Account, Fan, db

FAN_KIND = "wechat_fan"
FAN_TOKEN_TTL = timedelta(hours=2)
H5_MOUNT = "/h5/wechat/"
SCOPES = ("snsapi_base", "snsapi_userinfo")
PROFILE_FIELDS = ("nickname", "headimgurl", "sex", "province", "city", "country")
APPID = validate.Regexp(r"^wx[0-9A-Za-z]{16}$", error="An appid is 'wx' and 16 letters or digits.")

h5_blp = Blueprint(
    "wechat-h5",
    __name__,
    url_prefix="/api/wechat/h5",
    description="Fans' web pages: OAuth web login (fan token), JS-SDK config signature, the fan's own profile",
)
_NO_ADMIN = {"security": []}
_FAN_TOKEN = {"security": [{"bearerAuth": []}]}


# ---------------------------------------------------------------- schemas


class AccountArgs(Schema):
    appid = fields.String(
        validate=APPID, metadata={"description": "The Official Account; may be omitted when only one is enabled"}
    )


class PublicAccountSchema(Schema):
    appid = fields.String(required=True)
    name = fields.String(required=True)


class AuthorizeArgs(AccountArgs):
    scope = fields.String(load_default="snsapi_base", validate=validate.OneOf(SCOPES))
    redirect_uri = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": f"A page of this site under {H5_MOUNT}, where WeChat sends the code"},
    )
    state = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9A-Za-z]{8,128}$", error="8 to 128 letters or digits (WeChat's rule)."),
        metadata={"description": "Returned unchanged with the code; the page checks it (login CSRF)"},
    )


class AuthorizeUrlSchema(Schema):
    url = fields.String(required=True, metadata={"description": "Send the browser here"})
    appid = fields.String(required=True)
    scope = fields.String(required=True)


class LoginSchema(AccountArgs):
    code = fields.String(required=True, validate=validate.Regexp(r"^[0-9A-Za-z_-]{1,128}$", error="Not a code."))


class OAuthProfileSchema(Schema):
    nickname = fields.String(allow_none=True)
    headimgurl = fields.String(allow_none=True)
    sex = fields.Integer(allow_none=True)
    province = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class FanTokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Fan token: `Authorization: Bearer <token>`"})
    expires_in = fields.Integer(required=True)
    appid = fields.String(required=True)
    openid = fields.String(required=True)
    scope = fields.String(required=True)


class OwnFanSchema(Schema):
    """What the account knows of the fan and may show them (no remark, no tags: those are the operators')."""

    subscribed = fields.Boolean()
    subscribe_time = UtcDateTime(allow_none=True)
    unsubscribe_time = UtcDateTime(allow_none=True)
    nickname = fields.String(allow_none=True)
    headimgurl = fields.String(allow_none=True)
    sex = fields.Integer(allow_none=True)
    language = fields.String(allow_none=True)
    province = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class MeSchema(Schema):
    appid = fields.String(required=True)
    account_name = fields.String(required=True)
    openid = fields.String(required=True)
    unionid = fields.String(allow_none=True)
    scope = fields.String(required=True)
    profile = fields.Nested(
        OAuthProfileSchema,
        allow_none=True,
        metadata={"description": "From sns/userinfo at login (snsapi_userinfo only)"},
    )
    fan = fields.Nested(
        OwnFanSchema, allow_none=True, metadata={"description": "The account's record of this fan; null if none yet"}
    )
    token_expires_at = UtcDateTime(required=True)


class JssdkArgs(AccountArgs):
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "The page's full URL without the #fragment (a page of this site)"},
    )


class JssdkConfigSchema(Schema):
    # wx.config's own field names.
    appId = fields.String(required=True)
    timestamp = fields.Integer(required=True)
    nonceStr = fields.String(required=True)
    signature = fields.String(required=True)


# ---------------------------------------------------------------- helpers


def _account(appid: str | None) -> Account:
    """The enabled account a page names, or the only enabled one when it names none."""
    stmt = select(Account).where(Account.enabled.is_(True))
    if appid:
        account = db.session.execute(stmt.where(Account.appid == appid)).scalar_one_or_none()
        if account is None:
            raise ApiError(404, "No enabled Official Account has this appid.", "account_not_found")
        return account
    found = db.session.execute(stmt.order_by(Account.id).limit(2)).scalars().all()
    if len(found) != 1:
        raise ApiError(
            400,
            "Name the Official Account (appid): " + ("none is enabled." if not found else "several are enabled."),
            "appid_required",
        )
    return found[0]


def _own_page(url: str, field: str) -> str:
    """`url` when it is a page of this site's H5 (never an open redirect or a signing oracle for others)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(422, f"{field} must be an absolute http(s) URL.", errors={field: ["Not an absolute URL."]})
    if parts.netloc.lower() != request.host.lower():
        raise ApiError(422, f"{field} must be on this site ({request.host}).", errors={field: ["Another site."]})
    if not (parts.path + "/").startswith(H5_MOUNT):
        raise ApiError(422, f"{field} must be a page under {H5_MOUNT}.", errors={field: [f"Not under {H5_MOUNT}."]})
    return url


def _wechat_refusal(result, action: str) -> ApiError:
    """A failed OAuth call: a bad or used code is the page's problem (400), the rest is WeChat's."""
    if getattr(result, "category", None) == "code":
        return ApiError(
            400, f"WeChat did not accept the login code: {result.meaning} (errcode {result.errcode}).", "oauth_code"
        )
    return services.wechat_error(result, action)


def issue_fan_token(account: Account, openid: str, scope: str, unionid: str | None, profile: dict | None) -> str:
    claims = {"kind": FAN_KIND, "aid": account.id, "appid": account.appid, "scope": scope}
    if unionid:
        claims["unionid"] = unionid
    if profile:
        claims["profile"] = profile
    return create_access_token(identity=openid, additional_claims=claims, expires_delta=FAN_TOKEN_TTL)


def fan_claims() -> dict:
    """The verified fan token of this request (401 when absent, invalid, expired or not a fan token)."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "Missing fan token: log in through WeChat first.", "fan_token_missing")
    try:
        claims = decode_token(raw.strip())
    except (JWTExtendedException, PyJWTError):
        raise ApiError(401, "The fan token is invalid or has expired: log in again.", "fan_token_invalid") from None
    if claims.get("type") != "access" or claims.get("kind") != FAN_KIND or not claims.get("sub"):
        raise ApiError(401, "This is not a fan token.", "fan_token_invalid")
    return claims


def jssdk_signature(ticket: str, nonce: str, timestamp: int, url: str) -> str:
    """WeChat's JS-SDK signature: sha1 of the four fields sorted by name, as key=value joined by '&'."""
    fields_ = {"jsapi_ticket": ticket, "noncestr": nonce, "timestamp": str(timestamp), "url": url}
    plain = "&".join(f"{k}={fields_[k]}" for k in sorted(fields_))
    return hashlib.sha1(plain.encode(), usedforsecurity=False).hexdigest()  # WeChat's algorithm, not ours to pick


# ---------------------------------------------------------------- views


@h5_blp.route("/account", methods=["GET"])
@h5_blp.arguments(AccountArgs, location="query")
@h5_blp.response(200, PublicAccountSchema)
@h5_blp.doc(**_NO_ADMIN)
@public
def public_account(args):
    """The account's public name, for the login page."""
    account = _account(args.get("appid"))
    return {"appid": account.appid, "name": account.name}


@h5_blp.route("/oauth/authorize-url", methods=["GET"])
@h5_blp.arguments(AuthorizeArgs, location="query")
@h5_blp.response(200, AuthorizeUrlSchema)
@h5_blp.doc(**_NO_ADMIN)
@public
def authorize_url(args):
    """Where to send the browser for WeChat's web login (snsapi_base: silent; snsapi_userinfo: with consent)."""
    account = _account(args.get("appid"))
    redirect_uri = _own_page(args["redirect_uri"], "redirect_uri")
    oa = services.client(account)
    url = oa.oauth_authorize_url(redirect_uri, args["scope"], args["state"])
    return {"url": url, "appid": account.appid, "scope": args["scope"]}


@h5_blp.route("/oauth/login", methods=["POST"])
@h5_blp.arguments(LoginSchema)
@h5_blp.response(200, FanTokenSchema)
@h5_blp.doc(**_NO_ADMIN)
@public
def oauth_login(body):
    """Exchanges WeChat's login code for a fan token (codes are single-use; 400 `oauth_code` when refused)."""
    account = _account(body.get("appid"))
    oa = services.client(account)
    login = oa.oauth_login(body["code"])
    if not login.ok:
        raise _wechat_refusal(login, "log the fan in")
    openid, scope = login.data["openid"], login.data.get("scope") or "snsapi_base"
    unionid, profile = login.data.get("unionid"), None
    if "snsapi_userinfo" in scope.split(","):
        info = oa.oauth_userinfo(login.data["access_token"], openid)
        if not info.ok:
            raise _wechat_refusal(info, "read the fan's profile")
        profile = {k: info.data.get(k) for k in PROFILE_FIELDS}
        unionid = info.data.get("unionid") or unionid
        scope = "snsapi_userinfo"
    token = issue_fan_token(account, openid, scope, unionid, profile)
    return {
        "token": token,
        "expires_in": int(FAN_TOKEN_TTL.total_seconds()),
        "appid": account.appid,
        "openid": openid,
        "scope": scope,
    }


@h5_blp.route("/me", methods=["GET"])
@h5_blp.response(200, MeSchema)
@h5_blp.doc(**_FAN_TOKEN)
@public
def me():
    """The logged-in fan's own profile (fan token required)."""
    claims = fan_claims()
    account = db.session.get(Account, claims.get("aid"))
    if account is None or not account.enabled or account.appid != claims.get("appid"):
        raise ApiError(401, "The fan token's account is gone: log in again.", "fan_token_invalid")
    fan = db.session.execute(
        select(Fan).where(Fan.account_id == account.id, Fan.openid == claims["sub"])
    ).scalar_one_or_none()
    return {
        "appid": account.appid,
        "account_name": account.name,
        "openid": claims["sub"],
        "unionid": claims.get("unionid") or (fan.unionid if fan else None),
        "scope": claims["scope"],
        "profile": claims.get("profile"),
        "fan": fan,
        "token_expires_at": datetime.fromtimestamp(claims["exp"], UTC),
    }


@h5_blp.route("/jssdk-config", methods=["GET"])
@h5_blp.arguments(JssdkArgs, location="query")
@h5_blp.response(200, JssdkConfigSchema)
@h5_blp.doc(**_NO_ADMIN)
@public
def jssdk_config(args):
    """`wx.config` values for a page of this site: the jsapi_ticket (shared, cached) signs the page's URL."""
    account = _account(args.get("appid"))
    url = _own_page(args["url"].split("#", 1)[0], "url")
    oa = services.client(account)
    ticket = oa.call(oa.api.jsapi.get_jsapi_ticket)
    if not ticket.ok:
        raise services.wechat_error(ticket, "issue a JS-SDK ticket")
    nonce, timestamp = secrets.token_hex(8), int(time.time())
    return {
        "appId": account.appid,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": jssdk_signature(ticket.data, nonce, timestamp, url),
    }
