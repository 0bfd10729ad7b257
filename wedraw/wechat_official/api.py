"""Official Account HTTP API: thin views, schema in, one service call, schema out.

Everything an operator manages belongs to one account: `/api/wechat/accounts/{account_id}/...`.
WeChat calls `/api/wechat/callback/{appid}` (public: guarded by WeChat's signature).
"""

from __future__ import annotations

import logging

from flask import Response, request
from flask_smorest import Api, Blueprint
from marshmallow import ValidationError

from wedraw.core.audit import set_target
from wedraw.core.auth import current_identity, public, requires
from wedraw.core.errors import ApiError
from wedraw.core.pagination import PageArgs, page_of
from wedraw.wechat.callbacks import BadXml, CallbackError, DecryptError, InvalidSignature, StaleTimestamp
from wedraw.wechat_official import schemas as s
from wedraw.wechat_official import services

log = logging.getLogger("wedraw.wechat_official.callback")

CALLBACK_MAX_BYTES = 64 * 1024
UPLOAD_MAX_BYTES = 11 * 1024 * 1024  # WeChat's largest material (10 MB) plus multipart overhead

ACCOUNT = "/api/wechat/accounts/<id:account_id>"
accounts_blp = Blueprint(
    "wechat-accounts",
    __name__,
    url_prefix="/api/wechat/accounts",
    description="Official Accounts: credentials (never returned), check",
)
callback_blp = Blueprint(
    "wechat-callback",
    __name__,
    url_prefix="/api/wechat/callback",
    description="WeChat's callback: verification, messages and events",
)
messages_blp = Blueprint(
    "wechat-messages",
    __name__,
    url_prefix=ACCOUNT + "/messages",
    description="Message log: every inbound message and event, and messages sent",
)
replies_blp = Blueprint(
    "wechat-auto-replies",
    __name__,
    url_prefix=ACCOUNT + "/auto-replies",
    description="Auto-replies: on subscribe, by keyword, default",
)
fans_blp = Blueprint("wechat-fans", __name__, url_prefix=ACCOUNT, description="Fans, fan sync, customer service")
tags_blp = Blueprint("wechat-tags", __name__, url_prefix=ACCOUNT + "/tags", description="Tags, synced with WeChat")
menus_blp = Blueprint("wechat-menus", __name__, url_prefix=ACCOUNT, description="Custom menus: drafts, publish, live")
qrcodes_blp = Blueprint(
    "wechat-qrcodes", __name__, url_prefix=ACCOUNT + "/qrcodes", description="Parametric QR codes and their scan counts"
)
materials_blp = Blueprint(
    "wechat-materials",
    __name__,
    url_prefix=ACCOUNT + "/materials",
    description="Permanent materials: image, voice, video, thumb",
)


def _who() -> str | None:
    identity = current_identity()
    return identity["username"] if identity else None


# ---------------------------------------------------------------- accounts


@accounts_blp.route("", methods=["GET"])
@accounts_blp.arguments(s.AccountQuerySchema, location="query")
@accounts_blp.response(200, page_of(s.AccountSchema))
@requires("wechat:accounts:read")
def list_accounts(args):
    return services.list_accounts(args.get("q"), args.get("enabled"), args["page"], args["page_size"])


@accounts_blp.route("", methods=["POST"])
@accounts_blp.arguments(s.AccountCreateSchema)
@accounts_blp.response(201, s.AccountSchema)
@requires("wechat:accounts:write")
def create_account(body):
    account = services.create_account(body)
    set_target(f"wechat_account:{account.id}")
    return account


@accounts_blp.route("/<id:account_id>", methods=["GET"])
@accounts_blp.response(200, s.AccountSchema)
@requires("wechat:accounts:read")
def get_account(account_id):
    return services.get_account(account_id)


@accounts_blp.route("/<id:account_id>", methods=["PATCH"])
@accounts_blp.arguments(s.AccountUpdateSchema)
@accounts_blp.response(200, s.AccountSchema)
@requires("wechat:accounts:write")
def update_account(body, account_id):
    set_target(f"wechat_account:{account_id}")
    return services.update_account(account_id, body)


@accounts_blp.route("/<id:account_id>", methods=["DELETE"])
@accounts_blp.response(204)
@requires("wechat:accounts:write")
def delete_account(account_id):
    """Deletes the account and everything stored for it (fans, messages, menus...)."""
    set_target(f"wechat_account:{account_id}")
    services.delete_account(account_id)


@accounts_blp.route("/<id:account_id>/check", methods=["POST"])
@accounts_blp.response(200, s.AccountSchema)
@requires("wechat:accounts:write")
def check_account(account_id):
    """Fetches an access token with the stored credentials; the outcome is in `last_check_*`."""
    set_target(f"wechat_account:{account_id}")
    return services.check_account(account_id)


# ---------------------------------------------------------------- callback

_CALLBACK_PARAMS = [
    {"in": "query", "name": name, "required": False, "schema": {"type": "string", "maxLength": 512}}
    for name in ("signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature")
]
_ERRORS = {
    "400": {"description": "Unacceptable XML (DTD, entities, not XML) or undecryptable payload; nothing stored"},
    "403": {"description": "Missing or forged signature, or a timestamp outside ±300 s; nothing stored"},
    "404": {"description": "No enabled account has this appid"},
    "413": {"description": "Body over 64 KB"},
}


def _callback_account(appid: str):
    return services.callback_target(appid)


def _refuse(exc: CallbackError, appid: str) -> ApiError:
    reason = type(exc).__name__
    log.warning("callback refused: %s", exc, extra={"fields": {"appid": appid, "reason": reason}})
    if isinstance(exc, (InvalidSignature, StaleTimestamp)):
        return ApiError(403, f"Callback refused: {exc}.", "bad_signature")
    if isinstance(exc, (BadXml, DecryptError)):
        return ApiError(400, f"Callback refused: {exc}.", "bad_callback")
    return ApiError(403, f"Callback refused: {exc}.", "callback_refused")


@callback_blp.route("/<string:appid>", methods=["GET"])
@callback_blp.doc(
    security=[],
    parameters=[
        *_CALLBACK_PARAMS,
        {"in": "query", "name": "echostr", "required": False, "schema": {"type": "string", "maxLength": 512}},
    ],
    responses={
        "200": {"description": "The echostr, verbatim", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **_ERRORS,
    },
)
@public
def verify_callback(appid):
    """WeChat's URL verification: answers `echostr` when the signature and timestamp check out."""
    target = _callback_account(appid)
    try:
        echo = target.codec.verify_url(request.args)
    except CallbackError as exc:
        raise _refuse(exc, appid) from None
    return Response(echo, mimetype="text/plain")


@callback_blp.route("/<string:appid>", methods=["POST"])
@callback_blp.doc(
    security=[],
    parameters=_CALLBACK_PARAMS,
    requestBody={"content": {"text/xml": {"schema": {"type": "string", "maxLength": CALLBACK_MAX_BYTES}}}},
    responses={
        "200": {
            "description": "`success`, or a passive reply (encrypted when the callback was)",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}},
            },
        },
        **_ERRORS,
    },
)
@public
def receive_callback(appid):
    """A message or event (plain, compatible or safe mode): stored once, answered well inside 5 s."""
    request.max_content_length = CALLBACK_MAX_BYTES
    body = request.get_data(cache=False)
    target = _callback_account(appid)
    try:
        incoming = target.codec.open(request.args, body)
    except CallbackError as exc:
        raise _refuse(exc, appid) from None
    try:
        reply = services.handle_callback(target, incoming)
    except ApiError as exc:
        if exc.error_code != services.ACCOUNT_CHANGED:
            raise
        # The account changed under the cached target: once more with the account as it is now.
        target = _callback_account(appid)
        try:
            incoming = target.codec.open(request.args, body)
        except CallbackError as retry_exc:
            raise _refuse(retry_exc, appid) from None
        reply = services.handle_callback(target, incoming)
    if reply is None:
        return Response("success", mimetype="text/plain")
    return Response(target.codec.seal(incoming, reply), mimetype="application/xml")


# ---------------------------------------------------------------- message log


@messages_blp.route("", methods=["GET"])
@messages_blp.arguments(s.MessageQuerySchema, location="query")
@messages_blp.response(200, page_of(s.MessageSchema))
@requires("wechat:messages:read")
def list_messages(args, account_id):
    return services.list_messages(account_id, args)


# ---------------------------------------------------------------- auto-replies


@replies_blp.route("", methods=["GET"])
@replies_blp.arguments(s.AutoReplyQuerySchema, location="query")
@replies_blp.response(200, page_of(s.AutoReplySchema))
@requires("wechat:replies:read")
def list_replies(args, account_id):
    return services.list_replies(account_id, args)


@replies_blp.route("", methods=["POST"])
@replies_blp.arguments(s.AutoReplyCreateSchema)
@replies_blp.response(201, s.AutoReplySchema)
@requires("wechat:replies:write")
def create_reply(body, account_id):
    reply = services.create_reply(account_id, body)
    set_target(f"wechat_auto_reply:{reply.id}")
    return reply


@replies_blp.route("/preview", methods=["GET"])
@replies_blp.arguments(s.PreviewSchema, location="query")
@replies_blp.response(200, s.PreviewResultSchema)
@requires("wechat:replies:read")
def preview_reply(body, account_id):
    """Which enabled rule answers a text, a follow or a menu click, and the XML the fan would get."""
    return services.preview_reply(account_id, body)


@replies_blp.route("/<id:reply_id>", methods=["GET"])
@replies_blp.response(200, s.AutoReplySchema)
@requires("wechat:replies:read")
def get_reply(account_id, reply_id):
    return services.get_reply(account_id, reply_id)


@replies_blp.route("/<id:reply_id>", methods=["PATCH"])
@replies_blp.arguments(s.AutoReplyUpdateSchema)
@replies_blp.response(200, s.AutoReplySchema)
@requires("wechat:replies:write")
def update_reply(body, account_id, reply_id):
    """Also enables and disables a rule (`enabled`)."""
    set_target(f"wechat_auto_reply:{reply_id}")
    return services.update_reply(account_id, reply_id, body)


@replies_blp.route("/<id:reply_id>", methods=["DELETE"])
@replies_blp.response(204)
@requires("wechat:replies:write")
def delete_reply(account_id, reply_id):
    set_target(f"wechat_auto_reply:{reply_id}")
    services.delete_reply(account_id, reply_id)


# ---------------------------------------------------------------- fans


@fans_blp.route("/fans", methods=["GET"])
@fans_blp.arguments(s.FanQuerySchema, location="query")
@fans_blp.response(200, page_of(s.FanSchema))
@requires("wechat:fans:read")
def list_fans(args, account_id):
    return services.list_fans(account_id, args)


@fans_blp.route("/fans/blacklist", methods=["POST"])
@fans_blp.arguments(s.BlacklistMembersSchema)
@fans_blp.response(200, s.TagMembersResultSchema)
@requires("wechat:fans:write")
def blacklist_fans(body, account_id):
    """Blacklists up to 1,000 fans (WeChat takes 20 a call): the account's messages no longer reach them."""
    set_target(f"wechat_account:{account_id}")
    return services.blacklist_fans(account_id, body["openids"], add=True)


@fans_blp.route("/fans/unblacklist", methods=["POST"])
@fans_blp.arguments(s.BlacklistMembersSchema)
@fans_blp.response(200, s.TagMembersResultSchema)
@requires("wechat:fans:write")
def unblacklist_fans(body, account_id):
    set_target(f"wechat_account:{account_id}")
    return services.blacklist_fans(account_id, body["openids"], add=False)


@fans_blp.route("/fans/blacklist/sync", methods=["POST"])
@fans_blp.response(200, s.BlacklistSyncSchema)
@requires("wechat:fans:write")
def sync_blacklist(account_id):
    """Reads WeChat's blacklist and marks exactly those fans here."""
    set_target(f"wechat_account:{account_id}")
    return services.sync_blacklist(account_id)


@fans_blp.route("/fans/<id:fan_id>", methods=["GET"])
@fans_blp.response(200, s.FanDetailSchema)
@requires("wechat:fans:read")
def get_fan(account_id, fan_id):
    return services.fan_detail(account_id, fan_id)


@fans_blp.route("/fans/<id:fan_id>", methods=["PATCH"])
@fans_blp.arguments(s.FanUpdateSchema)
@fans_blp.response(200, s.FanSchema)
@requires("wechat:fans:write")
def update_fan(body, account_id, fan_id):
    """Sets the fan's remark in WeChat and here."""
    set_target(f"wechat_fan:{fan_id}")
    return services.set_remark(account_id, fan_id, body["remark"])


@fans_blp.route("/fans/<id:fan_id>/messages", methods=["GET"])
@fans_blp.arguments(PageArgs, location="query")
@fans_blp.response(200, page_of(s.MessageSchema))
@requires("wechat:fans:read")
def fan_messages(args, account_id, fan_id):
    return services.fan_messages(account_id, fan_id, args["page"], args["page_size"])


@fans_blp.route("/fans/<id:fan_id>/messages", methods=["POST"])
@fans_blp.arguments(s.CustomMessageSchema)
@fans_blp.response(201, s.MessageSchema)
@requires("wechat:messages:write")
def send_customer_message(body, account_id, fan_id):
    """A customer-service message. Outside WeChat's 48-hour window: 409 with code `wechat_45015`."""
    set_target(f"wechat_fan:{fan_id}")
    return services.send_customer_message(account_id, fan_id, body)


@fans_blp.route("/fan-syncs", methods=["POST"])
@fans_blp.arguments(s.SyncStartSchema, required=False)
@fans_blp.response(202, s.SyncJobSchema)
@requires("wechat:fans:write")
def start_fan_sync(body, account_id):
    """Starts a full or incremental fan sync in the background; poll the job for progress."""
    job = services.start_fan_sync(account_id, body.get("kind", "full"), _who())
    set_target(f"wechat_fan_sync:{job.id}")
    return job


@fans_blp.route("/fan-syncs", methods=["GET"])
@fans_blp.arguments(PageArgs, location="query")
@fans_blp.response(200, page_of(s.SyncJobSchema))
@requires("wechat:fans:read")
def list_fan_syncs(args, account_id):
    return services.list_sync_jobs(account_id, args["page"], args["page_size"])


@fans_blp.route("/fan-syncs/<id:job_id>", methods=["GET"])
@fans_blp.response(200, s.SyncJobSchema)
@requires("wechat:fans:read")
def get_fan_sync(account_id, job_id):
    return services.get_sync_job(account_id, job_id)


# ---------------------------------------------------------------- tags


@tags_blp.route("", methods=["GET"])
@tags_blp.arguments(s.TagQuerySchema, location="query")
@tags_blp.response(200, page_of(s.TagSchema))
@requires("wechat:tags:read")
def list_tags(args, account_id):
    return services.list_tags(account_id, args.get("q"), args["page"], args["page_size"])


@tags_blp.route("", methods=["POST"])
@tags_blp.arguments(s.TagCreateSchema)
@tags_blp.response(201, s.TagSchema)
@requires("wechat:tags:write")
def create_tag(body, account_id):
    tag = services.create_tag(account_id, body["name"])
    set_target(f"wechat_tag:{tag.id}")
    return tag


@tags_blp.route("/sync", methods=["POST"])
@tags_blp.response(200, s.TagSchema(many=True))
@requires("wechat:tags:write")
def sync_tags(account_id):
    """Replaces the local tags with WeChat's (names and fan counts)."""
    return services.sync_tags(account_id)


@tags_blp.route("/<id:tag_id>", methods=["GET"])
@tags_blp.response(200, s.TagSchema)
@requires("wechat:tags:read")
def get_tag(account_id, tag_id):
    return services.get_tag(account_id, tag_id)


@tags_blp.route("/<id:tag_id>", methods=["PATCH"])
@tags_blp.arguments(s.TagCreateSchema)
@tags_blp.response(200, s.TagSchema)
@requires("wechat:tags:write")
def rename_tag(body, account_id, tag_id):
    set_target(f"wechat_tag:{tag_id}")
    return services.rename_tag(account_id, tag_id, body["name"])


@tags_blp.route("/<id:tag_id>", methods=["DELETE"])
@tags_blp.response(204)
@requires("wechat:tags:write")
def delete_tag(account_id, tag_id):
    set_target(f"wechat_tag:{tag_id}")
    services.delete_tag(account_id, tag_id)


@tags_blp.route("/<id:tag_id>/tag-fans", methods=["POST"])
@tags_blp.arguments(s.TagMembersSchema)
@tags_blp.response(200, s.TagMembersResultSchema)
@requires("wechat:tags:write")
def tag_fans(body, account_id, tag_id):
    """Tags up to 1,000 fans (WeChat takes 50 a call); the result reports every batch."""
    set_target(f"wechat_tag:{tag_id}")
    return services.tag_fans(account_id, tag_id, body["openids"], add=True)


@tags_blp.route("/<id:tag_id>/untag-fans", methods=["POST"])
@tags_blp.arguments(s.TagMembersSchema)
@tags_blp.response(200, s.TagMembersResultSchema)
@requires("wechat:tags:write")
def untag_fans(body, account_id, tag_id):
    set_target(f"wechat_tag:{tag_id}")
    return services.tag_fans(account_id, tag_id, body["openids"], add=False)


# ---------------------------------------------------------------- menus


@menus_blp.route("/menus", methods=["GET"])
@menus_blp.arguments(PageArgs, location="query")
@menus_blp.response(200, page_of(s.MenuSchema))
@requires("wechat:menus:read")
def list_menus(args, account_id):
    return services.list_menus(account_id, args["page"], args["page_size"])


@menus_blp.route("/menus", methods=["POST"])
@menus_blp.arguments(s.MenuCreateSchema)
@menus_blp.response(201, s.MenuSchema)
@requires("wechat:menus:write")
def create_menu(body, account_id):
    """Saves a draft; an invalid menu is 422 naming each broken rule by field path."""
    menu = services.create_menu(account_id, body)
    set_target(f"wechat_menu:{menu.id}")
    return menu


@menus_blp.route("/menus/validate", methods=["POST"])
@menus_blp.arguments(s.MenuValidateSchema)
@menus_blp.response(200, s.MenuValidResultSchema)
@requires("wechat:menus:write")
def validate_menu(body, account_id):
    """Checks buttons against WeChat's rules without saving: 200 when valid, else 422 with the rules."""
    services.get_account(account_id)
    services.check_menu(body["buttons"])
    return {"valid": True}


@menus_blp.route("/menus/stats", methods=["GET"])
@menus_blp.arguments(s.DateRangeSchema, location="query")
@menus_blp.response(200, s.MenuStatSchema(many=True))
@requires("wechat:menus:read")
def menu_stats(args, account_id):
    """Menu clicks per key (CLICK) or URL (VIEW), from the message log."""
    return services.menu_stats(account_id, args.get("start"), args.get("end"))


@menus_blp.route("/menus/live", methods=["GET"])
@menus_blp.response(200, s.LiveMenuSchema)
@requires("wechat:menus:read")
def live_menu(account_id):
    """The menu WeChat is showing now."""
    return services.live_menu(account_id)


@menus_blp.route("/menus/live", methods=["DELETE"])
@menus_blp.response(204)
@requires("wechat:menus:write")
def delete_live_menu(account_id):
    set_target(f"wechat_account:{account_id}")
    services.delete_live_menu(account_id)


@menus_blp.route("/menus/<id:menu_id>", methods=["GET"])
@menus_blp.response(200, s.MenuSchema)
@requires("wechat:menus:read")
def get_menu(account_id, menu_id):
    return services.get_menu(account_id, menu_id)


@menus_blp.route("/menus/<id:menu_id>", methods=["PATCH"])
@menus_blp.arguments(s.MenuUpdateSchema)
@menus_blp.response(200, s.MenuSchema)
@requires("wechat:menus:write")
def update_menu(body, account_id, menu_id):
    set_target(f"wechat_menu:{menu_id}")
    return services.update_menu(account_id, menu_id, body)


@menus_blp.route("/menus/<id:menu_id>", methods=["DELETE"])
@menus_blp.response(204)
@requires("wechat:menus:write")
def delete_menu(account_id, menu_id):
    set_target(f"wechat_menu:{menu_id}")
    services.delete_menu(account_id, menu_id)


@menus_blp.route("/menus/<id:menu_id>/publish", methods=["POST"])
@menus_blp.response(200, s.MenuSchema)
@requires("wechat:menus:write")
def publish_menu(account_id, menu_id):
    """Validates, then sends the menu to WeChat (menu/create); nothing is sent when it is invalid."""
    set_target(f"wechat_menu:{menu_id}")
    return services.publish_menu(account_id, menu_id)


# ---------------------------------------------------------------- QR codes


@qrcodes_blp.route("", methods=["GET"])
@qrcodes_blp.arguments(s.QrCodeQuerySchema, location="query")
@qrcodes_blp.response(200, page_of(s.QrCodeSchema))
@requires("wechat:qrcodes:read")
def list_qrcodes(args, account_id):
    return services.list_qrcodes(account_id, args)


@qrcodes_blp.route("", methods=["POST"])
@qrcodes_blp.arguments(s.QrCodeCreateSchema)
@qrcodes_blp.response(201, s.QrCodeSchema)
@requires("wechat:qrcodes:write")
def create_qrcode(body, account_id):
    code = services.create_qrcode(account_id, body)
    set_target(f"wechat_qrcode:{code.id}")
    return code


@qrcodes_blp.route("/<id:qrcode_id>", methods=["GET"])
@qrcodes_blp.response(200, s.QrCodeSchema)
@requires("wechat:qrcodes:read")
def get_qrcode(account_id, qrcode_id):
    return services.get_qrcode(account_id, qrcode_id)


@qrcodes_blp.route("/<id:qrcode_id>", methods=["PATCH"])
@qrcodes_blp.arguments(s.QrCodeUpdateSchema)
@qrcodes_blp.response(200, s.QrCodeSchema)
@requires("wechat:qrcodes:write")
def update_qrcode(body, account_id, qrcode_id):
    set_target(f"wechat_qrcode:{qrcode_id}")
    return services.update_qrcode(account_id, qrcode_id, body)


@qrcodes_blp.route("/<id:qrcode_id>", methods=["DELETE"])
@qrcodes_blp.response(204)
@requires("wechat:qrcodes:write")
def delete_qrcode(account_id, qrcode_id):
    """Forgets the code here (WeChat cannot delete one: a permanent code keeps working)."""
    set_target(f"wechat_qrcode:{qrcode_id}")
    services.delete_qrcode(account_id, qrcode_id)


@qrcodes_blp.route("/<id:qrcode_id>/image", methods=["GET"])
@qrcodes_blp.doc(
    responses={
        "200": {
            "description": "The QR code as a PNG image",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
@requires("wechat:qrcodes:read")
def qrcode_image(account_id, qrcode_id):
    image = services.qrcode_image(account_id, qrcode_id)
    response = Response(image, mimetype="image/png")
    response.headers["Content-Disposition"] = f'attachment; filename="qrcode-{qrcode_id}.png"'
    return response


# ---------------------------------------------------------------- materials


@materials_blp.before_request
def _allow_uploads():
    if request.endpoint == "wechat-materials.upload_material":
        request.max_content_length = UPLOAD_MAX_BYTES


@materials_blp.route("", methods=["GET"])
@materials_blp.arguments(s.MaterialQuerySchema, location="query")
@materials_blp.response(200, page_of(s.MaterialSchema))
@requires("wechat:materials:read")
def list_materials(args, account_id):
    return services.list_materials(account_id, args)


@materials_blp.route("", methods=["POST"])
@materials_blp.doc(
    requestBody={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": s.MaterialUploadSchema,
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
    }
)
@materials_blp.response(201, s.MaterialSchema)
@requires("wechat:materials:write")
def upload_material(account_id):
    """Uploads a permanent material (image ≤10 MB, voice ≤2 MB, video ≤10 MB with a title, thumb ≤64 KB)."""
    try:
        form = s.MaterialUploadSchema().load({**request.form.to_dict(), "file": request.files.get("file")})
    except ValidationError as exc:
        fields = ", ".join(sorted(exc.messages))
        raise ApiError(422, f"Invalid or unknown fields: {fields}", errors=exc.messages) from None
    material = services.upload_material(
        account_id, form["type"], form["file"], form.get("title"), form.get("introduction")
    )
    set_target(f"wechat_material:{material.id}")
    return material


@materials_blp.route("/<id:material_id>", methods=["GET"])
@materials_blp.response(200, s.MaterialSchema)
@requires("wechat:materials:read")
def get_material(account_id, material_id):
    return services.get_material(account_id, material_id)


@materials_blp.route("/<id:material_id>", methods=["DELETE"])
@materials_blp.response(204)
@requires("wechat:materials:write")
def delete_material(account_id, material_id):
    set_target(f"wechat_material:{material_id}")
    services.delete_material(account_id, material_id)


@materials_blp.route("/<id:material_id>/content", methods=["GET"])
@materials_blp.doc(
    responses={
        "200": {
            "description": "The file (image, voice, thumb) for preview, or a video's title and download URL",
            "content": {
                "application/json": {"schema": s.VideoContentSchema},
                "*/*": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
)
@requires("wechat:materials:read")
def material_content(account_id, material_id):
    content = services.material_content(account_id, material_id)
    if isinstance(content, dict):
        return s.VideoContentSchema().dump(content)
    data, content_type = content
    return Response(data, mimetype=content_type)


def register(app, api: Api) -> None:
    for blp in (
        accounts_blp,
        callback_blp,
        messages_blp,
        replies_blp,
        fans_blp,
        tags_blp,
        menus_blp,
        qrcodes_blp,
        materials_blp,
    ):
        api.register_blueprint(blp)
    from wedraw.wechat_official.h5 import h5_blp  # the fans' web pages: OAuth login, JS-SDK, own profile

    api.register_blueprint(h5_blp)
    from wedraw.wechat_official.internal import bp as internal_bp  # service-to-service routes (message center)

    app.register_blueprint(internal_bp)
