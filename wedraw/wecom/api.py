"""WeCom HTTP API: thin views, schema in, one service call, schema out.

Everything of one organisation lives under `/api/wecom/corps/{corp_id}/...` (our id of the corp);
group robots under `/api/wecom/robots`. WeCom calls `/api/wecom/callback/{corp id}/{agent id}`
(public: guarded by WeCom's signature); the member-facing pages use `/api/wecom/h5/...` (h5.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Response, request
from flask_smorest import Api, Blueprint
from sqlalchemy import func, select

from wedraw.core.audit import set_target
from wedraw.core.auth import current_identity, public, requires
from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import PageArgs, page_of
from wedraw.wechat.callbacks import BadXml, CallbackError, DecryptError, InvalidSignature, StaleTimestamp
from wedraw.wecom import contacts, customers, events, jobs, messaging, services
from wedraw.wecom import schemas as s
from wedraw.wecom.models import AppChat, Department, Event, Member, Tag, db

log = logging.getLogger("wedraw.wecom.callback")

CALLBACK_MAX_BYTES = 64 * 1024
CORP = "/api/wecom/corps/<id:corp_id>"
UPSTREAM = "WeCom or the message center is unavailable (wecom_unavailable / upstream_unavailable)"
REFUSED = "WeCom refused (code wecom_<errcode>, the problem in plain words)"

corps_blp = Blueprint(
    "wecom-corps",
    __name__,
    url_prefix="/api/wecom/corps",
    description="Corps and their apps: secrets (never returned), check",
)
contacts_blp = Blueprint(
    "wecom-contacts", __name__, url_prefix=CORP, description="Contacts: departments, members, tags, sync jobs, events"
)
customers_blp = Blueprint(
    "wecom-customers", __name__, url_prefix=CORP, description="Customers (external contacts) and customer groups"
)
chats_blp = Blueprint("wecom-app-chats", __name__, url_prefix=CORP + "/app-chats", description="App chats (群聊)")
app_messages_blp = Blueprint(
    "wecom-app-messages", __name__, url_prefix=CORP + "/app-messages", description="App messages to members"
)
robots_blp = Blueprint("wecom-robots", __name__, url_prefix="/api/wecom/robots", description="Group robots (群机器人)")
callback_blp = Blueprint(
    "wecom-callback",
    __name__,
    url_prefix="/api/wecom/callback",
    description="WeCom's callback: verification and events",
)


def _who() -> str | None:
    identity = current_identity()
    return identity["username"] if identity else None


# ---------------------------------------------------------------- corps


@corps_blp.route("", methods=["GET"])
@corps_blp.arguments(s.CorpQuerySchema, location="query")
@corps_blp.response(200, page_of(s.WeComCorpSchema))
@requires("wecom:corp:read")
def list_corps(args):
    return services.list_corps(args)


@corps_blp.route("", methods=["POST"])
@corps_blp.arguments(s.CorpCreateSchema)
@corps_blp.response(201, s.WeComCorpSchema)
@corps_blp.alt_response(409, description="The corp id is already configured")
@requires("wecom:corp:write")
def create_corp(body):
    """A corp with its optional contacts and customer-contact secrets (and apps, inline or later)."""
    corp = services.create_corp(body)
    set_target(f"wecom_corp:{corp.id}")
    return corp


@corps_blp.route("/<id:corp_id>", methods=["GET"])
@corps_blp.response(200, s.WeComCorpSchema)
@requires("wecom:corp:read")
def get_corp(corp_id):
    return services.get_corp(corp_id)


@corps_blp.route("/<id:corp_id>", methods=["PATCH"])
@corps_blp.arguments(s.CorpUpdateSchema)
@corps_blp.response(200, s.WeComCorpSchema)
@requires("wecom:corp:write")
def update_corp(body, corp_id):
    set_target(f"wecom_corp:{corp_id}")
    return services.update_corp(corp_id, body)


@corps_blp.route("/<id:corp_id>", methods=["DELETE"])
@corps_blp.response(204)
@requires("wecom:corp:write")
def delete_corp(corp_id):
    """Deletes the corp and everything stored for it (contacts, customers, events, app chats, messages)."""
    set_target(f"wecom_corp:{corp_id}")
    services.delete_corp(corp_id)


@corps_blp.route("/<id:corp_id>/check", methods=["POST"])
@corps_blp.response(200, s.WeComCorpSchema)
@requires("wecom:corp:write")
def check_corp(corp_id):
    """Proves each secret (a token: corp id, secret, trusted IP; then its visible range or permission).
    The report is in `last_check`; problems are in plain words with what to change in WeCom."""
    set_target(f"wecom_corp:{corp_id}")
    return services.check_corp(corp_id)


@corps_blp.route("/<id:corp_id>/overview", methods=["GET"])
@corps_blp.response(200, s.CorpOverviewSchema)
@requires("wecom:corp:read")
def corp_overview(corp_id):
    """Counts for the corp's dashboard: departments, members, tags, customers, groups, app chats."""
    corp = services.get_corp(corp_id)

    def count(model, *where):
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    totals = customers.counts(corp.id)
    return {
        "departments": count(Department, Department.corp_ref == corp.id),
        "members": count(Member, Member.corp_ref == corp.id),
        "active_members": count(Member, Member.corp_ref == corp.id, Member.status == 1),
        "tags": count(Tag, Tag.corp_ref == corp.id),
        "customers": totals["customers"],
        "customer_groups": totals["groups"],
        "app_chats": count(AppChat, AppChat.corp_ref == corp.id),
        "events_today": count(Event, Event.corp_ref == corp.id, Event.received_at >= utcnow() - timedelta(days=1)),
        "contacts_synced_at": corp.contacts_synced_at,
        "customers_synced_at": corp.customers_synced_at,
        "groups_synced_at": corp.groups_synced_at,
    }


@corps_blp.route("/<id:corp_id>/apps", methods=["GET"])
@corps_blp.arguments(PageArgs, location="query")
@corps_blp.response(200, page_of(s.WeComAppSchema))
@requires("wecom:corp:read")
def list_apps(args, corp_id):
    return services.list_apps(corp_id, args["page"], args["page_size"])


@corps_blp.route("/<id:corp_id>/apps", methods=["POST"])
@corps_blp.arguments(s.AppCreateSchema)
@corps_blp.response(201, s.WeComAppSchema)
@corps_blp.alt_response(409, description="The agent id is already configured")
@requires("wecom:corp:write")
def create_app(body, corp_id):
    """A self-built app: agent id and secret; its callback Token and EncodingAESKey to receive events."""
    app = services.create_app(corp_id, body)
    set_target(f"wecom_app:{app.id}")
    return app


@corps_blp.route("/<id:corp_id>/apps/<id:app_id>", methods=["GET"])
@corps_blp.response(200, s.WeComAppSchema)
@requires("wecom:corp:read")
def get_app(corp_id, app_id):
    return services.get_app(corp_id, app_id)


@corps_blp.route("/<id:corp_id>/apps/<id:app_id>", methods=["PATCH"])
@corps_blp.arguments(s.AppUpdateSchema)
@corps_blp.response(200, s.WeComAppSchema)
@requires("wecom:corp:write")
def update_app(body, corp_id, app_id):
    set_target(f"wecom_app:{app_id}")
    return services.update_app(corp_id, app_id, body)


@corps_blp.route("/<id:corp_id>/apps/<id:app_id>", methods=["DELETE"])
@corps_blp.response(204)
@requires("wecom:corp:write")
def delete_app(corp_id, app_id):
    """Deletes the app with its app chats and their messages."""
    set_target(f"wecom_app:{app_id}")
    services.delete_app(corp_id, app_id)


# ---------------------------------------------------------------- sync jobs


@contacts_blp.route("/syncs", methods=["POST"])
@contacts_blp.arguments(s.SyncStartSchema)
@contacts_blp.response(202, s.WeComSyncJobSchema)
@contacts_blp.alt_response(409, description="A sync of this kind is already running")
@contacts_blp.alt_response(424, description="The task queue is unavailable")
@requires("wecom:contacts:write")
def start_sync(body, corp_id):
    """Starts a contacts, customers or customer-groups sync in the background; poll the job for progress."""
    job = jobs.start_sync(corp_id, body["kind"], _who())
    set_target(f"wecom_sync:{job.id}")
    return job


@contacts_blp.route("/syncs", methods=["GET"])
@contacts_blp.arguments(s.SyncQuerySchema, location="query")
@contacts_blp.response(200, page_of(s.WeComSyncJobSchema))
@requires("wecom:contacts:read")
def list_syncs(args, corp_id):
    return jobs.list_jobs(corp_id, args)


@contacts_blp.route("/syncs/<id:job_id>", methods=["GET"])
@contacts_blp.response(200, s.WeComSyncJobSchema)
@requires("wecom:contacts:read")
def get_sync(corp_id, job_id):
    return jobs.get_job(corp_id, job_id)


# ---------------------------------------------------------------- contacts


@contacts_blp.route("/departments", methods=["GET"])
@contacts_blp.arguments(s.DepartmentQuerySchema, location="query")
@contacts_blp.response(200, page_of(s.WeComDepartmentSchema))
@requires("wecom:contacts:read")
def list_departments(args, corp_id):
    """Departments, flat: filter by parent_id (0 for the root) or name."""
    return contacts.list_departments(corp_id, args)


@contacts_blp.route("/departments/tree", methods=["GET"])
@contacts_blp.response(200, s.DepartmentNodeSchema(many=True))
@requires("wecom:contacts:read")
def department_tree(corp_id):
    """The whole organisation as a tree, with member counts per department and per subtree."""
    return contacts.department_tree(corp_id)


@contacts_blp.route("/departments/<id:department_id>", methods=["GET"])
@contacts_blp.response(200, s.DepartmentDetailSchema)
@requires("wecom:contacts:read")
def get_department(corp_id, department_id):
    """One department (by WeCom's id) with its path from the root and its children."""
    return contacts.get_department(corp_id, department_id)


@contacts_blp.route("/members", methods=["GET"])
@contacts_blp.arguments(s.MemberQuerySchema, location="query")
@contacts_blp.response(200, page_of(s.WeComMemberSchema))
@requires("wecom:contacts:read")
def list_members(args, corp_id):
    """Members, by department (and below), status, tag, or a search of name, userid, alias and position."""
    return contacts.list_members(corp_id, args)


@contacts_blp.route("/members/<id:member_id>", methods=["GET"])
@contacts_blp.response(200, s.MemberDetailSchema)
@requires("wecom:contacts:read")
def get_member(corp_id, member_id):
    return contacts.member_detail(corp_id, member_id)


@contacts_blp.route("/tags", methods=["GET"])
@contacts_blp.arguments(s.TagQuerySchema, location="query")
@contacts_blp.response(200, page_of(s.WeComTagSchema))
@requires("wecom:contacts:read")
def list_tags(args, corp_id):
    return contacts.list_tags(corp_id, args)


@contacts_blp.route("/tags/<id:tag_id>", methods=["GET"])
@contacts_blp.response(200, s.TagDetailSchema)
@requires("wecom:contacts:read")
def get_tag(corp_id, tag_id):
    """One tag (by WeCom's id) with its members and departments."""
    return contacts.get_tag(corp_id, tag_id)


@contacts_blp.route("/events", methods=["GET"])
@contacts_blp.arguments(s.EventQuerySchema, location="query")
@contacts_blp.response(200, page_of(s.WeComEventSchema))
@requires("wecom:contacts:read")
def list_events(args, corp_id):
    """Every callback WeCom sent (contact changes, customers, members' messages), newest first."""
    return events.list_events(corp_id, args)


# ---------------------------------------------------------------- customers


@customers_blp.route("/customers", methods=["GET"])
@customers_blp.arguments(s.CustomerQuerySchema, location="query")
@customers_blp.response(200, page_of(s.WeComCustomerRowSchema))
@requires("wecom:groups:read")
def list_customers(args, corp_id):
    """Customers with the members who follow them; filter by follower, unionid, when added, or search."""
    return customers.list_customers(corp_id, args)


@customers_blp.route("/customers/<id:customer_id>", methods=["GET"])
@customers_blp.response(200, s.CustomerDetailSchema)
@requires("wecom:groups:read")
def get_customer(corp_id, customer_id):
    return customers.customer_detail(corp_id, customer_id)


@customers_blp.route("/customer-groups", methods=["GET"])
@customers_blp.arguments(s.CustomerGroupQuerySchema, location="query")
@customers_blp.response(200, page_of(s.WeComCustomerGroupRowSchema))
@requires("wecom:groups:read")
def list_customer_groups(args, corp_id):
    """Customer groups: owner, member counts, creation time; filters and search."""
    return customers.list_groups(corp_id, args)


@customers_blp.route("/customer-groups/<id:group_id>", methods=["GET"])
@customers_blp.response(200, s.CustomerGroupDetailSchema)
@requires("wecom:groups:read")
def get_customer_group(corp_id, group_id):
    return customers.group_detail(corp_id, group_id)


@customers_blp.route("/customer-groups/<id:group_id>/members", methods=["GET"])
@customers_blp.arguments(s.GroupMemberQuerySchema, location="query")
@customers_blp.response(200, page_of(s.WeComGroupMemberSchema))
@requires("wecom:groups:read")
def customer_group_members(args, corp_id, group_id):
    """The group's members (members and customers) with join times and how they joined."""
    return customers.group_members(corp_id, group_id, args)


# ---------------------------------------------------------------- app chats


@chats_blp.route("", methods=["GET"])
@chats_blp.arguments(s.AppChatQuerySchema, location="query")
@chats_blp.response(200, page_of(s.WeComAppChatSchema))
@requires("wecom:groups:read")
def list_app_chats(args, corp_id):
    return messaging.list_app_chats(corp_id, args)


@chats_blp.route("", methods=["POST"])
@chats_blp.arguments(s.AppChatCreateSchema)
@chats_blp.response(201, s.WeComAppChatSchema)
@chats_blp.alt_response(409, description=REFUSED)
@chats_blp.alt_response(424, description=UPSTREAM)
@requires("wecom:groups:write")
def create_app_chat(body, corp_id):
    """Creates a group chat of members through the app (appchat/create)."""
    chat = messaging.create_app_chat(corp_id, body, _who())
    set_target(f"wecom_app_chat:{chat.id}")
    return chat


@chats_blp.route("/<id:chat_id>", methods=["GET"])
@chats_blp.response(200, s.WeComAppChatSchema)
@requires("wecom:groups:read")
def get_app_chat(corp_id, chat_id):
    return messaging.get_app_chat(corp_id, chat_id)


@chats_blp.route("/<id:chat_id>", methods=["PATCH"])
@chats_blp.arguments(s.AppChatUpdateSchema)
@chats_blp.response(200, s.WeComAppChatSchema)
@chats_blp.alt_response(409, description=REFUSED)
@chats_blp.alt_response(424, description=UPSTREAM)
@requires("wecom:groups:write")
def update_app_chat(body, corp_id, chat_id):
    """Renames the chat, changes its owner, adds and removes members (appchat/update)."""
    set_target(f"wecom_app_chat:{chat_id}")
    return messaging.update_app_chat(corp_id, chat_id, body)


@chats_blp.route("/<id:chat_id>", methods=["DELETE"])
@chats_blp.response(204)
@requires("wecom:groups:write")
def delete_app_chat(corp_id, chat_id):
    """Forgets the chat here (WeCom has no call that dissolves an app chat)."""
    set_target(f"wecom_app_chat:{chat_id}")
    messaging.delete_app_chat(corp_id, chat_id)


@chats_blp.route("/<id:chat_id>/refresh", methods=["POST"])
@chats_blp.response(200, s.WeComAppChatSchema)
@chats_blp.alt_response(409, description=REFUSED)
@chats_blp.alt_response(424, description=UPSTREAM)
@requires("wecom:groups:write")
def refresh_app_chat(corp_id, chat_id):
    """Reads the chat back from WeCom (appchat/get)."""
    set_target(f"wecom_app_chat:{chat_id}")
    return messaging.refresh_app_chat(corp_id, chat_id)


@chats_blp.route("/<id:chat_id>/messages", methods=["GET"])
@chats_blp.arguments(PageArgs, location="query")
@chats_blp.response(200, page_of(s.WeComAppMessageSchema))
@requires("wecom:groups:read")
def list_app_chat_messages(args, corp_id, chat_id):
    return messaging.list_app_chat_messages(corp_id, chat_id, args["page"], args["page_size"])


@chats_blp.route("/<id:chat_id>/messages", methods=["POST"])
@chats_blp.arguments(s.ChatMessageInputSchema)
@chats_blp.response(201, s.WeComAppMessageSchema)
@chats_blp.alt_response(409, description="The app is disabled or its send rate is used up")
@requires("wecom:messages:write")
def send_app_chat_message(body, corp_id, chat_id):
    """Sends text or markdown to the chat through the message center; the outcome is in the answer."""
    row = messaging.send_app_chat_message(corp_id, chat_id, body, _who())
    set_target(f"wecom_app_message:{row.id}")
    return row


# ---------------------------------------------------------------- app messages


@app_messages_blp.route("", methods=["GET"])
@app_messages_blp.arguments(s.AppMessageQuerySchema, location="query")
@app_messages_blp.response(200, page_of(s.WeComAppMessageSchema))
@requires("wecom:messages:read")
def list_app_messages(args, corp_id):
    return messaging.list_app_messages(corp_id, args)


@app_messages_blp.route("", methods=["POST"])
@app_messages_blp.arguments(s.AppMessageInputSchema)
@app_messages_blp.response(201, s.WeComAppMessageSchema)
@app_messages_blp.alt_response(409, description="The app is disabled or its send rate is used up")
@requires("wecom:messages:write")
def send_app_message(body, corp_id):
    """Sends an app message to members, departments and tags (or everyone) through the message center.

    The answer is the outcome: `sent` with the recipients WeCom reports invalid (per kind), or
    `failed` with WeCom's reason. Text over 2,048 bytes (markdown 4,096) is a 422.
    """
    row = messaging.send_app_message(corp_id, body, _who())
    set_target(f"wecom_app_message:{row.id}")
    return row


@app_messages_blp.route("/<id:message_id>", methods=["GET"])
@app_messages_blp.response(200, s.WeComAppMessageSchema)
@requires("wecom:messages:read")
def get_app_message(corp_id, message_id):
    return messaging.get_app_message(corp_id, message_id)


# ---------------------------------------------------------------- robots


@robots_blp.route("", methods=["GET"])
@robots_blp.arguments(s.RobotQuerySchema, location="query")
@robots_blp.response(200, page_of(s.WeComRobotSchema))
@requires("wecom:robots:read")
def list_robots(args):
    return messaging.list_robots(args)


@robots_blp.route("", methods=["POST"])
@robots_blp.arguments(s.RobotCreateSchema)
@robots_blp.response(201, s.WeComRobotSchema)
@robots_blp.alt_response(409, description="This webhook key is already registered")
@requires("wecom:robots:write")
def create_robot(body):
    """Registers a robot by its webhook key (or the whole webhook URL); the key is stored encrypted."""
    robot = messaging.create_robot(body)
    set_target(f"wecom_robot:{robot.id}")
    return robot


@robots_blp.route("/<id:robot_id>", methods=["GET"])
@robots_blp.response(200, s.WeComRobotSchema)
@requires("wecom:robots:read")
def get_robot(robot_id):
    """The robot; its status reflects what the message center learnt from WeCom (93000: broken)."""
    return messaging.robot_detail(robot_id)


@robots_blp.route("/<id:robot_id>", methods=["PATCH"])
@robots_blp.arguments(s.RobotUpdateSchema)
@robots_blp.response(200, s.WeComRobotSchema)
@requires("wecom:robots:write")
def update_robot(body, robot_id):
    """A new key (or status active) clears a broken state."""
    set_target(f"wecom_robot:{robot_id}")
    return messaging.update_robot(robot_id, body)


@robots_blp.route("/<id:robot_id>", methods=["DELETE"])
@robots_blp.response(204)
@requires("wecom:robots:write")
def delete_robot(robot_id):
    set_target(f"wecom_robot:{robot_id}")
    messaging.delete_robot(robot_id)


@robots_blp.route("/<id:robot_id>/test", methods=["POST"])
@robots_blp.response(202, s.WeComRobotMessageSchema)
@robots_blp.alt_response(409, description="The robot is broken or disabled")
@robots_blp.alt_response(424, description=UPSTREAM)
@requires("wecom:robots:write")
def test_robot(robot_id):
    """Sends a short test text through the message center; poll the message for its outcome."""
    set_target(f"wecom_robot:{robot_id}")
    return messaging.send_test(robot_id, _who())


@robots_blp.route("/<id:robot_id>/messages", methods=["GET"])
@robots_blp.arguments(s.RobotMessageQuerySchema, location="query")
@robots_blp.response(200, page_of(s.WeComRobotMessageSchema))
@requires("wecom:robots:read")
def list_robot_messages(args, robot_id):
    """The robot's messages, newest first (open ones are brought up to date from the message center)."""
    return messaging.list_robot_messages(robot_id, args)


@robots_blp.route("/<id:robot_id>/messages", methods=["POST"])
@robots_blp.arguments(s.RobotMessageInputSchema)
@robots_blp.response(202, s.WeComRobotMessageSchema)
@robots_blp.alt_response(409, description="The robot is broken or disabled")
@robots_blp.alt_response(424, description=UPSTREAM)
@requires("wecom:robots:write")
def send_robot_message(body, robot_id):
    """Queues text, markdown, image or news with the message center (20 a minute per robot: later ones wait).

    Text over 2,048 bytes (markdown 4,096, an image over 2 MB) is a 422 and nothing is queued.
    """
    row = messaging.send_robot_message(robot_id, body, _who())
    set_target(f"wecom_robot_message:{row.id}")
    return row


@robots_blp.route("/<id:robot_id>/messages/<id:message_id>", methods=["GET"])
@robots_blp.response(200, s.WeComRobotMessageSchema)
@requires("wecom:robots:read")
def get_robot_message(robot_id, message_id):
    return messaging.get_robot_message(robot_id, message_id)


# ---------------------------------------------------------------- callback

_CALLBACK_PARAMS = [
    {"in": "query", "name": name, "required": False, "schema": {"type": "string", "maxLength": 512}}
    for name in ("msg_signature", "timestamp", "nonce")
]
_CALLBACK_ERRORS = {
    "400": {"description": "Unacceptable XML or undecryptable payload; nothing stored"},
    "403": {"description": "Missing or forged msg_signature, or a timestamp outside ±300 s; nothing stored"},
    "404": {"description": "No enabled corp with this corp id, or no callback on this agent"},
    "413": {"description": "Body over 64 KB"},
}


def _refuse(exc: CallbackError, corp: str, agent: str) -> ApiError:
    reason = type(exc).__name__
    log.warning("callback refused: %s", exc, extra={"fields": {"corp": corp, "agent": agent, "reason": reason}})
    if isinstance(exc, (InvalidSignature, StaleTimestamp)):
        return ApiError(403, f"Callback refused: {exc}.", "bad_signature")
    if isinstance(exc, (BadXml, DecryptError)):
        return ApiError(400, f"Callback refused: {exc}.", "bad_callback")
    return ApiError(403, f"Callback refused: {exc}.", "callback_refused")


@callback_blp.route("/<string:corp>/<string:agent>", methods=["GET"])
@callback_blp.doc(
    security=[],
    parameters=[
        *_CALLBACK_PARAMS,
        {"in": "query", "name": "echostr", "required": False, "schema": {"type": "string", "maxLength": 1024}},
    ],
    responses={
        "200": {
            "description": "The decrypted echostr, exactly (no quotes, BOM or newline)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **_CALLBACK_ERRORS,
    },
)
@public
def verify_callback(corp, agent):
    """WeCom's URL verification: the decrypted `echostr` when the msg_signature and timestamp check out.

    `agent` is the app's agent id, or `contacts` for the contacts-sync callback.
    """
    target = services.callback_target(corp, agent)
    try:
        echo = target.codec.verify_url(request.args)
    except CallbackError as exc:
        raise _refuse(exc, corp, agent) from None
    return Response(echo, mimetype="text/plain")


@callback_blp.route("/<string:corp>/<string:agent>", methods=["POST"])
@callback_blp.doc(
    security=[],
    parameters=_CALLBACK_PARAMS,
    requestBody={"content": {"text/xml": {"schema": {"type": "string", "maxLength": CALLBACK_MAX_BYTES}}}},
    responses={
        "200": {"description": "Received (an empty body)", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **_CALLBACK_ERRORS,
    },
)
@public
def receive_callback(corp, agent):
    """An encrypted event or message: verified, decrypted, stored once, answered at once; applied by a worker."""
    request.max_content_length = CALLBACK_MAX_BYTES
    body = request.get_data(cache=False)
    target = services.callback_target(corp, agent)
    try:
        incoming = target.codec.open(request.args, body)
    except CallbackError as exc:
        raise _refuse(exc, corp, agent) from None
    events.handle_callback(target, incoming)
    return Response("", mimetype="text/plain")


def register(app, api: Api) -> None:
    for blp in (
        corps_blp,
        contacts_blp,
        customers_blp,
        chats_blp,
        app_messages_blp,
        robots_blp,
        callback_blp,
    ):
        api.register_blueprint(blp)
    from wedraw.wecom.h5 import h5_blp  # the members' pages: WeCom OAuth login, own profile, directory

    api.register_blueprint(h5_blp)
    from wedraw.wecom.internal import bp as internal_bp  # service-to-service routes

    app.register_blueprint(internal_bp)
