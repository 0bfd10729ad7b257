"""Mini Program HTTP API: thin views, schema in, one service call, schema out.

- `POST /api/miniprogram/login` (public): a `wx.login` code → a member token.
- `/api/miniprogram/me...` (member token): the member's profile, phone binding, subscribe grants.
- `/api/miniprogram/apps`, `/api/miniprogram/members` (admin: miniprogram:settings, miniprogram:members).

Member routes answer 401 without a token and 403 to an admin token (an admin is not a member);
member tokens open no admin route (403).
"""

from __future__ import annotations

from flask import g
from flask_smorest import Api, Blueprint

from wedraw.core.audit import set_target
from wedraw.core.auth import current_member, member_required, public, requires
from wedraw.core.errors import ErrorSchema
from wedraw.miniprogram import schemas as s
from wedraw.miniprogram import services

PUBLIC = {"security": []}
MEMBER_ONLY = "Not a member token (an admin token is refused here); the member is disabled"
MEMBER_DOC = {"security": [{"bearerAuth": []}]}

login_blp = Blueprint(
    "miniprogram-login",
    __name__,
    url_prefix="/api/miniprogram",
    description="Member login with a wx.login code (public), the Mini Program's public settings",
)
me_blp = Blueprint(
    "miniprogram-me",
    __name__,
    url_prefix="/api/miniprogram/me",
    description="The logged-in member (member token): profile, phone binding, subscribe-message grants",
)
apps_blp = Blueprint(
    "miniprogram-apps",
    __name__,
    url_prefix="/api/miniprogram/apps",
    description="Mini Programs WeDraw acts for: credentials (the secret is never returned)",
)
members_blp = Blueprint(
    "miniprogram-members",
    __name__,
    url_prefix="/api/miniprogram/members",
    description="Members: one person across channels (Mini Program, Official Account by unionid)",
)


@login_blp.after_request
def _retry_after(response):
    if response.status_code == 429 and getattr(g, "retry_after", None):
        response.headers["Retry-After"] = str(g.retry_after)
    return response


def _member_refusals(fn):
    fn = me_blp.alt_response(403, schema=ErrorSchema, description=MEMBER_ONLY)(fn)
    return me_blp.alt_response(401, schema=ErrorSchema, description="No member token, or an expired one")(fn)


# ---------------------------------------------------------------- login (public)


@login_blp.route("/config", methods=["GET"])
@login_blp.arguments(s.MpConfigArgs, location="query")
@login_blp.response(200, s.MpPublicConfigSchema)
@login_blp.doc(**PUBLIC)
@public
def public_config(args):
    """The Mini Program's appid and name (for the login page); `sandbox` when WeChat is the sandbox."""
    app = services.resolve_app(args.get("appid"))
    settings = services._settings()
    return {
        "appid": app.appid,
        "name": app.name,
        "sandbox": bool(settings.wechat_api_base) and not settings.is_production,
    }


@login_blp.route("/login", methods=["POST"])
@login_blp.arguments(s.MpLoginSchema)
@login_blp.response(200, s.MpLoginResultSchema)
@login_blp.alt_response(400, schema=ErrorSchema, description="A bad (40029) or used (40163) wx.login code")
@login_blp.alt_response(403, schema=ErrorSchema, description="WeChat's risk control (40226), or a disabled member")
@login_blp.alt_response(429, schema=ErrorSchema, description="WeChat throttles logins (45011): Retry-After")
@login_blp.doc(**PUBLIC)
@public
def login(body):
    """Exchanges a `wx.login` code (code2session) for a member token; the member is created on first login.

    The session_key WeChat returns is stored encrypted and never returned."""
    return services.login(body["code"], body.get("appid"))


@login_blp.route("/sandbox/wxlogin", methods=["POST"])
@login_blp.arguments(s.SandboxWxloginSchema, required=False)
@login_blp.response(201, s.SandboxCodeSchema)
@login_blp.doc(**PUBLIC)
@public
def sandbox_wxlogin(body):
    """Sandbox only (404 otherwise): what `wx.login()` returns in a Mini Program, minted by the WeChat sandbox,
    so the points H5 can log in through the real login flow."""
    return services.sandbox_login_code(body or {})


@me_blp.route("/sandbox/request-subscribe", methods=["POST"])
@me_blp.arguments(s.SubscriptionResultsSchema)
@me_blp.response(200, s.SubscribeGrantSchema(many=True))
@_member_refusals
@me_blp.doc(**MEMBER_DOC)
@member_required
def sandbox_request_subscribe(body):
    """Sandbox only (404 otherwise): `wx.requestSubscribeMessage` for the points H5, which has no Mini Program
    runtime: the sandbox records the accepted grants (as WeChat would), then they are recorded here."""
    return services.sandbox_request_subscribe(current_member(), body["results"])


# ---------------------------------------------------------------- the member (member token)


@me_blp.route("", methods=["GET"])
@me_blp.response(200, s.MemberSelfSchema)
@_member_refusals
@me_blp.doc(**MEMBER_DOC)
@member_required
def get_me():
    """The logged-in member."""
    return services.me(current_member())


@me_blp.route("", methods=["PATCH"])
@me_blp.arguments(s.MemberProfileUpdateSchema)
@me_blp.response(200, s.MemberSelfSchema)
@_member_refusals
@me_blp.doc(**MEMBER_DOC)
@member_required
def update_me(body):
    """Nickname and avatar (from the Mini Program's profile widgets)."""
    return services.update_profile(current_member(), body)


@me_blp.route("/phone", methods=["POST"])
@me_blp.arguments(s.PhoneBindSchema)
@me_blp.response(200, s.MemberSelfSchema)
@me_blp.alt_response(409, schema=ErrorSchema, description="The data does not decrypt with this login's session")
@_member_refusals
@me_blp.doc(**MEMBER_DOC)
@member_required
def bind_phone(body):
    """Binds the phone number from getPhoneNumber (decrypted with this login's session_key, AES-128-CBC)."""
    return services.bind_phone(current_member(), body["encrypted_data"], body["iv"])


@me_blp.route("/subscriptions", methods=["GET"])
@me_blp.response(200, s.SubscribeGrantSchema(many=True))
@_member_refusals
@me_blp.doc(**MEMBER_DOC)
@member_required
def my_subscriptions():
    """The member's subscribe-message grants."""
    return services.my_grants(current_member())


@me_blp.route("/subscriptions", methods=["POST"])
@me_blp.arguments(s.SubscriptionResultsSchema)
@me_blp.response(200, s.SubscribeGrantSchema(many=True))
@_member_refusals
@me_blp.doc(**MEMBER_DOC)
@member_required
def record_subscriptions(body):
    """Records what `wx.requestSubscribeMessage` answered: each `accept` grants one more send of that template."""
    return services.record_subscriptions(current_member(), body["results"])


# ---------------------------------------------------------------- Mini Programs (admin)


@apps_blp.route("", methods=["GET"])
@apps_blp.arguments(s.MpAppQuerySchema, location="query")
@apps_blp.response(200, s.page_of_apps)
@requires("miniprogram:settings:read")
def list_apps(args):
    return services.list_apps(args)


@apps_blp.route("", methods=["POST"])
@apps_blp.arguments(s.MpAppCreateSchema)
@apps_blp.response(201, s.MpAppSchema)
@requires("miniprogram:settings:write")
def create_app(body):
    app = services.create_app(body)
    set_target(f"mp_app:{app.id}")
    return app


@apps_blp.route("/<id:app_id>", methods=["GET"])
@apps_blp.response(200, s.MpAppSchema)
@requires("miniprogram:settings:read")
def get_app(app_id):
    return services.get_app(app_id)


@apps_blp.route("/<id:app_id>", methods=["PATCH"])
@apps_blp.arguments(s.MpAppUpdateSchema)
@apps_blp.response(200, s.MpAppSchema)
@requires("miniprogram:settings:write")
def update_app(body, app_id):
    set_target(f"mp_app:{app_id}")
    return services.update_app(app_id, body)


@apps_blp.route("/<id:app_id>", methods=["DELETE"])
@apps_blp.response(204)
@requires("miniprogram:settings:write")
def delete_app(app_id):
    """Only a Mini Program no member has logged in through (409 otherwise: disable it)."""
    set_target(f"mp_app:{app_id}")
    services.delete_app(app_id)


# ---------------------------------------------------------------- members (admin)


@members_blp.route("", methods=["GET"])
@members_blp.arguments(s.MemberQuerySchema, location="query")
@members_blp.response(200, s.page_of_members)
@requires("miniprogram:members:read")
def list_members(args):
    """Members, newest first; phone numbers masked without pii:personal:read."""
    return services.list_members(args)


@members_blp.route("/stats", methods=["GET"])
@members_blp.response(200, s.MemberStatsSchema)
@requires("miniprogram:members:read")
def member_stats():
    return services.member_stats()


@members_blp.route("/<id:member_id>", methods=["GET"])
@members_blp.response(200, s.MpMemberDetailSchema)
@requires("miniprogram:members:read")
def get_member(member_id):
    """A member with their Mini Program identities and subscribe grants."""
    return services.member_detail(member_id)


@members_blp.route("/<id:member_id>", methods=["PATCH"])
@members_blp.arguments(s.MemberUpdateSchema)
@members_blp.response(200, s.MpMemberDetailSchema)
@requires("miniprogram:members:write")
def update_member(body, member_id):
    """Remark; status `disabled` ends the member's sessions at once (their tokens stop working everywhere)."""
    set_target(f"member:{member_id}")
    return services.update_member(member_id, body)


def register(app, api: Api) -> None:
    for blp in (login_blp, me_blp, apps_blp, members_blp):
        api.register_blueprint(blp)
    from wedraw.miniprogram.internal import bp as internal_bp  # service-to-service routes

    app.register_blueprint(internal_bp)
