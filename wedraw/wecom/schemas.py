"""Request and response schemas of the WeCom API (marshmallow, unknown fields rejected)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from wedraw.core.auth import can_see_pii
from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs
from wedraw.core.pii import mask_email, mask_phone
from wedraw.wecom.contacts import MOBILE_REASONS

CORP_ID = validate.Regexp(r"^[0-9A-Za-z]{1,32}$", error="A corp id is letters and digits (it starts with ww).")
SECRET = validate.Regexp(r"^[0-9A-Za-z_\-]{8,128}$", error="A secret is 8 to 128 letters, digits, - or _.")
TOKEN = validate.Regexp(r"^[0-9A-Za-z]{1,32}$", error="A token is 1 to 32 letters or digits (WeCom's rule).")
AES_KEY = validate.Regexp(r"^[0-9A-Za-z]{43}$", error="An EncodingAESKey is 43 letters or digits.")
USERID = validate.Regexp(r"^[0-9A-Za-z_\-@.]{1,64}$", error="A userid is 1 to 64 letters, digits or _-@.")
ROBOT_KEY = validate.Regexp(r"^[0-9A-Za-z_\-]{1,128}$", error="A webhook key is letters, digits, - and _.")
CHATID = validate.Regexp(r"^[0-9A-Za-z]{1,32}$", error="A chatid is 1 to 32 letters or digits.")
NAME = validate.Length(min=1, max=64)
AGENT_ID = validate.Range(min=1, max=2**31 - 1)
WECOM_ID = validate.Range(min=1, max=2**31 - 1)
STATUSES = {1: "active", 2: "disabled", 4: "not activated", 5: "left the corp"}


def _state_reason(state: str) -> str | None:
    return MOBILE_REASONS.get(state)


# ---------------------------------------------------------------- corps and apps


class CheckItemSchema(Schema):
    target = fields.String(metadata={"description": "app:<agent id>, contacts, customer or corp"})
    label = fields.String()
    step = fields.String(metadata={"description": "token, visibility, customers or config"})
    ok = fields.Boolean()
    errcode = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True, metadata={"description": "What is wrong, in plain words"})
    advice = fields.String(allow_none=True, metadata={"description": "What to change in WeCom's admin console"})
    detail = fields.String(allow_none=True)


class CheckReportSchema(Schema):
    ok = fields.Boolean()
    checked_at = fields.String()
    items = fields.List(fields.Nested(CheckItemSchema))


class WeComCorpSchema(Schema):
    id = fields.Integer()
    corp_id = fields.String()
    name = fields.String()
    enabled = fields.Boolean()
    demo = fields.Boolean(metadata={"description": "The sandbox's demo corp (seeded)"})
    contacts_secret_hint = fields.String(allow_none=True, metadata={"description": "Masked; never returned"})
    customer_secret_hint = fields.String(allow_none=True)
    contacts_token_hint = fields.String(allow_none=True)
    contacts_aes_key_hint = fields.String(allow_none=True)
    contacts_callback_path = fields.Function(
        lambda c: f"/api/wecom/callback/{c.corp_id}/contacts" if c.contacts_token_hint else None,
        allow_none=True,
        metadata={"description": "Callback URL path for the contacts-sync (通讯录同步) events, when configured"},
    )
    last_check_at = UtcDateTime(allow_none=True)
    last_check_ok = fields.Boolean(allow_none=True)
    last_check = fields.Nested(CheckReportSchema, allow_none=True)
    contacts_synced_at = UtcDateTime(allow_none=True)
    customers_synced_at = UtcDateTime(allow_none=True)
    groups_synced_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WeComAppSchema(Schema):
    id = fields.Integer()
    agent_id = fields.Integer()
    name = fields.String()
    secret_hint = fields.String(metadata={"description": "Masked; the secret is never returned"})
    token_hint = fields.String(allow_none=True)
    aes_key_hint = fields.String(allow_none=True)
    is_default = fields.Boolean(metadata={"description": "Sends app messages and owns app chats by default"})
    enabled = fields.Boolean()
    callback_path = fields.Method("_callback_path", allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()

    def _callback_path(self, app):
        from wedraw.wecom.models import Corp, db

        corp = db.session.get(Corp, app.corp_ref)  # from the session's identity map after the first
        return f"/api/wecom/callback/{corp.corp_id}/{app.agent_id}" if corp and app.token_hint else None


class AppCreateSchema(Schema):
    agent_id = fields.Integer(required=True, strict=True, validate=AGENT_ID)
    name = fields.String(required=True, validate=NAME)
    secret = fields.String(required=True, validate=SECRET, load_only=True)
    token = fields.String(validate=TOKEN, load_only=True, allow_none=True, metadata={"description": "Callback Token"})
    aes_key = fields.String(validate=AES_KEY, load_only=True, allow_none=True, metadata={"description": "Callback key"})
    is_default = fields.Boolean()
    enabled = fields.Boolean(load_default=True)


class AppUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    secret = fields.String(validate=SECRET, load_only=True, metadata={"description": "Omit to keep the secret"})
    token = fields.String(validate=TOKEN, load_only=True, allow_none=True, metadata={"description": "null removes"})
    aes_key = fields.String(validate=AES_KEY, load_only=True, allow_none=True)
    is_default = fields.Boolean()
    enabled = fields.Boolean()


class CorpCreateSchema(Schema):
    corp_id = fields.String(required=True, validate=CORP_ID)
    name = fields.String(required=True, validate=NAME)
    contacts_secret = fields.String(validate=SECRET, load_only=True, allow_none=True)
    customer_secret = fields.String(validate=SECRET, load_only=True, allow_none=True)
    contacts_token = fields.String(validate=TOKEN, load_only=True, allow_none=True)
    contacts_aes_key = fields.String(validate=AES_KEY, load_only=True, allow_none=True)
    enabled = fields.Boolean(load_default=True)
    apps = fields.List(fields.Nested(AppCreateSchema), validate=validate.Length(max=20), load_only=True)

    @validates_schema
    def _distinct_agents(self, data, **_):
        agent_ids = [app["agent_id"] for app in data.get("apps") or []]
        if len(agent_ids) != len(set(agent_ids)):
            raise ValidationError("Each app of a corp has its own agent id.", "apps")


class CorpUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    contacts_secret = fields.String(
        validate=SECRET, load_only=True, allow_none=True, metadata={"description": "null removes it"}
    )
    customer_secret = fields.String(validate=SECRET, load_only=True, allow_none=True)
    contacts_token = fields.String(validate=TOKEN, load_only=True, allow_none=True)
    contacts_aes_key = fields.String(validate=AES_KEY, load_only=True, allow_none=True)
    enabled = fields.Boolean()


class CorpQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64))
    enabled = fields.Boolean()


class CorpOverviewSchema(Schema):
    departments = fields.Integer()
    members = fields.Integer()
    active_members = fields.Integer()
    tags = fields.Integer()
    customers = fields.Integer()
    customer_groups = fields.Integer()
    app_chats = fields.Integer()
    events_today = fields.Integer()
    contacts_synced_at = UtcDateTime(allow_none=True)
    customers_synced_at = UtcDateTime(allow_none=True)
    groups_synced_at = UtcDateTime(allow_none=True)


# ---------------------------------------------------------------- sync jobs


class SyncStartSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["contacts", "customers", "groups"]))


class WeComSyncJobSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["contacts", "customers", "groups"]})
    status = fields.String(metadata={"enum": ["pending", "running", "succeeded", "failed"]})
    stage = fields.String(allow_none=True)
    total = fields.Integer(metadata={"description": "Units of the current stage (departments, members, chats)"})
    done = fields.Integer()
    progress = fields.Function(lambda j: round(j.done / j.total, 4) if j.total else None, allow_none=True)
    fetched = fields.Integer(metadata={"description": "Records read from WeCom"})
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    deleted = fields.Integer()
    departments_changed = fields.Integer()
    departments_deleted = fields.Integer()
    warnings = fields.List(fields.String())
    error = fields.String(allow_none=True)
    requested_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class SyncQuerySchema(PageArgs):
    kind = fields.String(validate=validate.OneOf(["contacts", "customers", "groups"]))
    status = fields.String(validate=validate.OneOf(["pending", "running", "succeeded", "failed"]))


# ---------------------------------------------------------------- contacts


class WeComDepartmentSchema(Schema):
    department_id = fields.Integer(metadata={"description": "WeCom's department id"})
    name = fields.String()
    name_en = fields.String(allow_none=True)
    parent_id = fields.Integer(metadata={"description": "0 for the root"})
    order = fields.Integer(metadata={"description": "WeCom's order among siblings (larger first)"})
    member_count = fields.Integer(metadata={"description": "Members directly in this department"})
    synced_at = UtcDateTime()


class DepartmentNodeSchema(WeComDepartmentSchema):
    subtree_member_count = fields.Integer(metadata={"description": "Memberships in this department and below"})
    children = fields.List(fields.Nested(lambda: DepartmentNodeSchema()))


class DepartmentRefSchema(Schema):
    department_id = fields.Integer()
    name = fields.String(allow_none=True)


class DepartmentDetailSchema(WeComDepartmentSchema):
    path = fields.List(fields.Nested(DepartmentRefSchema), metadata={"description": "Ancestors, root first"})
    children = fields.List(fields.Nested(WeComDepartmentSchema))


class DepartmentQuerySchema(PageArgs):
    parent_id = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1))
    q = fields.String(validate=validate.Length(max=64))


class WeComMemberSchema(Schema):
    """A member; mobile and e-mail are masked without `pii:personal:read`, and say why when WeCom withheld them."""

    id = fields.Integer()
    userid = fields.String()
    name = fields.String()
    alias = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    gender = fields.Integer(allow_none=True, metadata={"description": "0 unknown, 1 male, 2 female"})
    status = fields.Integer(metadata={"description": "1 active, 2 disabled, 4 not activated, 5 left"})
    status_label = fields.Function(lambda m: STATUSES.get(m.status, str(m.status)))
    main_department = fields.Integer(allow_none=True)
    department_ids = fields.Function(
        lambda m: m.department_list, metadata={"type": "array", "items": {"type": "integer"}}
    )
    mobile = fields.Function(lambda m: m.mobile if can_see_pii() else mask_phone(m.mobile), allow_none=True)
    mobile_state = fields.String(metadata={"enum": ["returned", "empty", "withheld"]})
    mobile_reason = fields.Function(lambda m: _state_reason(m.mobile_state), allow_none=True)
    email = fields.Function(lambda m: m.email if can_see_pii() else mask_email(m.email), allow_none=True)
    email_state = fields.String(metadata={"enum": ["returned", "empty", "withheld"]})
    email_reason = fields.Function(lambda m: _state_reason(m.email_state), allow_none=True)
    telephone = fields.Function(lambda m: m.telephone if can_see_pii() else mask_phone(m.telephone), allow_none=True)
    avatar = fields.String(allow_none=True)
    open_userid = fields.String(allow_none=True)
    synced_at = UtcDateTime()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class MemberDepartmentSchema(DepartmentRefSchema):
    is_leader = fields.Boolean()
    order = fields.Integer()


class TagRefSchema(Schema):
    tag_id = fields.Integer()
    name = fields.String(allow_none=True)


class MemberDetailSchema(Schema):
    member = fields.Nested(WeComMemberSchema)
    departments = fields.List(fields.Nested(MemberDepartmentSchema))
    tags = fields.List(fields.Nested(TagRefSchema))


class MemberQuerySchema(PageArgs):
    department_id = fields.Integer(validate=WECOM_ID)
    include_children = fields.Boolean(load_default=False, metadata={"description": "With department_id: and below"})
    status = fields.Integer(validate=validate.OneOf([1, 2, 4, 5]))
    tag_id = fields.Integer(validate=WECOM_ID)
    q = fields.String(validate=validate.Length(max=64), metadata={"description": "Name, userid, alias or position"})
    sort = fields.String(validate=validate.OneOf(["name", "userid", "updated"]))
    order = fields.String(validate=validate.OneOf(["asc", "desc"]))


class WeComTagSchema(Schema):
    tag_id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "null until WeCom's tag list has been read"})
    user_count = fields.Integer()
    party_count = fields.Integer()
    synced_at = UtcDateTime()


class TagMemberSchema(Schema):
    userid = fields.String()
    name = fields.String(allow_none=True)


class TagDetailSchema(WeComTagSchema):
    users = fields.List(fields.Nested(TagMemberSchema))
    parties = fields.List(fields.Nested(DepartmentRefSchema))


class TagQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64))


class WeComEventSchema(Schema):
    id = fields.Integer()
    receiver = fields.String(metadata={"description": "The agent id whose callback received it, or contacts"})
    msg_type = fields.String()
    event = fields.String(allow_none=True)
    change_type = fields.String(allow_none=True)
    from_user = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    content = fields.String(allow_none=True)
    payload = fields.Function(lambda e: e.data, metadata={"type": "object"})
    wecom_time = UtcDateTime(allow_none=True)
    received_at = UtcDateTime()
    processed_at = UtcDateTime(allow_none=True)
    status = fields.String(metadata={"enum": ["received", "logged", "processed", "ignored", "failed"]})
    error = fields.String(allow_none=True)


class EventQuerySchema(PageArgs):
    msg_type = fields.String(validate=validate.Length(max=32))
    event = fields.String(validate=validate.Length(max=64))
    change_type = fields.String(validate=validate.Length(max=64))
    status = fields.String(validate=validate.OneOf(["received", "logged", "processed", "ignored", "failed"]))
    receiver = fields.String(validate=validate.Length(max=16))
    subject = fields.String(validate=validate.Length(max=128))


# ---------------------------------------------------------------- customers


class CustomerSchema(Schema):
    id = fields.Integer()
    external_userid = fields.String()
    name = fields.String()
    type = fields.Integer(attribute="kind", metadata={"description": "1 WeChat user, 2 WeCom user"})
    gender = fields.Integer(allow_none=True)
    unionid = fields.String(allow_none=True, metadata={"description": "Links to the same person elsewhere in WeDraw"})
    corp_name = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    avatar = fields.String(allow_none=True)
    first_added_at = UtcDateTime(allow_none=True)
    synced_at = UtcDateTime()
    updated_at = UtcDateTime()


class WeComCustomerRowSchema(Schema):
    customer = fields.Nested(CustomerSchema)
    follow_userids = fields.List(fields.String())


class FollowSchema(Schema):
    userid = fields.String()
    member_name = fields.String(allow_none=True)
    remark = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    added_at = UtcDateTime(allow_none=True)
    add_way = fields.Integer(allow_none=True)
    state = fields.String(allow_none=True)
    tags = fields.List(fields.Dict())


class CustomerGroupRefSchema(Schema):
    id = fields.Integer()
    chat_id = fields.String()
    name = fields.String()
    joined_at = UtcDateTime(allow_none=True)


class CustomerDetailSchema(Schema):
    customer = fields.Nested(CustomerSchema)
    follows = fields.List(fields.Nested(FollowSchema))
    groups = fields.List(fields.Nested(CustomerGroupRefSchema))


class CustomerQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=128), metadata={"description": "Name or remark; external_userid"})
    follow_userid = fields.String(validate=validate.Length(max=64))
    type = fields.Integer(validate=validate.OneOf([1, 2]))
    unionid = fields.String(validate=validate.Length(max=64))
    has_unionid = fields.Boolean()
    added_from = UtcDateTime()
    added_to = UtcDateTime()
    sort = fields.String(validate=validate.OneOf(["added", "name", "updated"]))
    order = fields.String(validate=validate.OneOf(["asc", "desc"]))


class CustomerGroupSchema(Schema):
    id = fields.Integer()
    chat_id = fields.String()
    name = fields.String()
    owner = fields.String(allow_none=True)
    notice = fields.String(allow_none=True)
    status = fields.Integer(metadata={"description": "0 normal; 1-3 the owner left and the group is being inherited"})
    created_time = UtcDateTime(allow_none=True)
    member_count = fields.Integer()
    external_count = fields.Integer()
    internal_count = fields.Function(lambda g: g.member_count - g.external_count)
    synced_at = UtcDateTime()
    updated_at = UtcDateTime()


class WeComCustomerGroupRowSchema(Schema):
    group = fields.Nested(CustomerGroupSchema)
    owner_name = fields.String(allow_none=True)


class AdminSchema(Schema):
    userid = fields.String()
    name = fields.String(allow_none=True)


class CustomerGroupDetailSchema(WeComCustomerGroupRowSchema):
    admins = fields.List(fields.Nested(AdminSchema))
    internal_count = fields.Integer()


class CustomerGroupQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=128), metadata={"description": "Name or chat id"})
    owner = fields.String(validate=validate.Length(max=64))
    member_userid = fields.String(
        validate=validate.Length(max=128), metadata={"description": "Groups this member or customer is in"}
    )
    status = fields.Integer(validate=validate.Range(min=0, max=3))
    min_members = fields.Integer(validate=validate.Range(min=0, max=100_000))
    max_members = fields.Integer(validate=validate.Range(min=0, max=100_000))
    created_from = UtcDateTime()
    created_to = UtcDateTime()
    sort = fields.String(validate=validate.OneOf(["created", "members", "name"]))
    order = fields.String(validate=validate.OneOf(["asc", "desc"]))


class WeComGroupMemberSchema(Schema):
    userid = fields.String(metadata={"description": "A member's userid or a customer's external_userid"})
    type = fields.Integer(attribute="kind", metadata={"description": "1 member, 2 customer"})
    unionid = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    group_nickname = fields.String(allow_none=True)
    joined_at = UtcDateTime(allow_none=True)
    join_scene = fields.Integer(allow_none=True, metadata={"description": "1 invited, 2 by link, 3 by QR code"})
    invitor = fields.String(allow_none=True)


class GroupMemberQuerySchema(PageArgs):
    type = fields.Integer(validate=validate.OneOf([1, 2]))
    q = fields.String(validate=validate.Length(max=128))


# ---------------------------------------------------------------- messages


class ArticleSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=128))
    description = fields.String(validate=validate.Length(max=512))
    url = fields.Url(required=True, validate=validate.Length(max=2048))
    picurl = fields.Url(validate=validate.Length(max=2048))


class MessageInputSchema(Schema):
    """One message. text and markdown take `content`; image `image_base64` (robots); news `articles`;
    textcard `title`, `description`, `url` and `btntxt` (apps)."""

    msgtype = fields.String(required=True, validate=validate.OneOf(["text", "markdown", "image", "news", "textcard"]))
    content = fields.String(validate=validate.Length(max=20_000))
    mentioned_list = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=100)
    )
    mentioned_mobile_list = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)), validate=validate.Length(max=100)
    )
    image_base64 = fields.String(validate=validate.Length(max=3 * 1024 * 1024))
    articles = fields.List(fields.Nested(ArticleSchema), validate=validate.Length(max=8))
    title = fields.String(validate=validate.Length(max=128))
    description = fields.String(validate=validate.Length(max=512))
    url = fields.Url(validate=validate.Length(max=2048))
    btntxt = fields.String(validate=validate.Length(max=4))


class RobotMessageInputSchema(MessageInputSchema):
    @validates_schema
    def _robot_types(self, data, **_):
        if data.get("msgtype") == "textcard":
            raise ValidationError("Robots send text, markdown, image or news.", "msgtype")


class AppMessageInputSchema(MessageInputSchema):
    app_id = fields.Integer(validate=WECOM_ID, metadata={"description": "The sending app (default: the corp's)"})
    touser = fields.List(fields.String(validate=USERID), validate=validate.Length(max=1000))
    toparty = fields.List(fields.Integer(validate=WECOM_ID), validate=validate.Length(max=100))
    totag = fields.List(fields.Integer(validate=WECOM_ID), validate=validate.Length(max=100))
    to_all = fields.Boolean(metadata={"description": "Everyone in the app's visible range"})

    @validates_schema
    def _app_types(self, data, **_):
        if data.get("msgtype") == "image":
            raise ValidationError("App messages send text, markdown, textcard or news.", "msgtype")


class ChatMessageInputSchema(MessageInputSchema):
    @validates_schema
    def _chat_types(self, data, **_):
        if data.get("msgtype") not in ("text", "markdown"):
            raise ValidationError("App chats are sent text or markdown here.", "msgtype")


class WeComRobotSchema(Schema):
    id = fields.Integer()
    corp_id = fields.Integer(attribute="corp_ref", allow_none=True, metadata={"description": "Our corp id, if any"})
    name = fields.String()
    description = fields.String(allow_none=True)
    key_hint = fields.String(metadata={"description": "Masked webhook key; the key is never returned"})
    status = fields.String(metadata={"enum": ["active", "broken", "disabled"]})
    broken_reason = fields.String(allow_none=True)
    broken_at = UtcDateTime(allow_none=True)
    last_sent_at = UtcDateTime(allow_none=True)
    demo = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class RobotCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(validate=validate.Length(max=255), allow_none=True)
    key = fields.String(validate=ROBOT_KEY, load_only=True)
    webhook_url = fields.Url(
        validate=validate.Length(max=512), load_only=True, metadata={"description": "Or the whole webhook URL"}
    )
    corp_id = fields.Integer(validate=WECOM_ID, allow_none=True, metadata={"description": "Our corp id (optional)"})


class RobotUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    description = fields.String(validate=validate.Length(max=255), allow_none=True)
    key = fields.String(
        validate=ROBOT_KEY, load_only=True, metadata={"description": "A new key makes a broken robot active"}
    )
    webhook_url = fields.Url(validate=validate.Length(max=512), load_only=True)
    corp_id = fields.Integer(validate=WECOM_ID, allow_none=True)
    status = fields.String(
        validate=validate.OneOf(["active", "disabled"]), metadata={"description": "active clears broken"}
    )


class RobotQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64))
    status = fields.String(validate=validate.OneOf(["active", "broken", "disabled"]))
    corp_id = fields.Integer(validate=WECOM_ID)


class WeComRobotMessageSchema(Schema):
    id = fields.Integer()
    robot_id = fields.Integer()
    msgtype = fields.String()
    preview = fields.String()
    test = fields.Boolean()
    status = fields.String(
        metadata={
            "enum": ["queued", "sent", "failed"],
            "description": "queued: waiting for the robot's minute or sending",
        }
    )
    attempts = fields.Integer()
    errcode = fields.Integer(allow_none=True)
    errmsg = fields.String(allow_none=True)
    delivery_id = fields.Integer(allow_none=True, metadata={"description": "The message center's send-log id"})
    requested_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    sent_at = UtcDateTime(allow_none=True)


class RobotMessageQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(["queued", "sent", "failed"]))


class WeComAppMessageSchema(Schema):
    id = fields.Integer()
    app_id = fields.Integer()
    kind = fields.String(metadata={"enum": ["app", "appchat"]})
    chat_id = fields.Integer(allow_none=True)
    msgtype = fields.String()
    preview = fields.String()
    touser = fields.List(fields.String())
    toparty = fields.List(fields.Integer())
    totag = fields.List(fields.Integer())
    to_all = fields.Boolean()
    status = fields.String(metadata={"enum": ["sending", "sent", "failed"]})
    invalid_users = fields.List(fields.String(), metadata={"description": "Members WeCom could not reach"})
    invalid_parties = fields.List(fields.String(), metadata={"description": "Departments WeCom did not know"})
    invalid_tags = fields.List(fields.String(), metadata={"description": "Tags WeCom did not know"})
    msgid = fields.String(allow_none=True)
    errcode = fields.Integer(allow_none=True)
    errmsg = fields.String(allow_none=True)
    delivery_id = fields.Integer(allow_none=True)
    requested_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    sent_at = UtcDateTime(allow_none=True)


class AppMessageQuerySchema(PageArgs):
    kind = fields.String(validate=validate.OneOf(["app", "appchat"]))
    status = fields.String(validate=validate.OneOf(["sending", "sent", "failed"]))
    app_id = fields.Integer(validate=WECOM_ID)
    q = fields.String(validate=validate.Length(max=100))


class WeComAppChatSchema(Schema):
    id = fields.Integer()
    app_id = fields.Integer()
    chatid = fields.String()
    name = fields.String()
    owner = fields.String()
    userids = fields.List(fields.String())
    member_count = fields.Integer()
    created_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AppChatCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    userids = fields.List(fields.String(validate=USERID), required=True, validate=validate.Length(min=2, max=2000))
    owner = fields.String(validate=USERID, metadata={"description": "Default: the first member"})
    chatid = fields.String(validate=CHATID, metadata={"description": "Default: WeCom picks one"})
    app_id = fields.Integer(validate=WECOM_ID, metadata={"description": "Default: the corp's default app"})


class AppChatUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=50))
    owner = fields.String(validate=USERID)
    add_userids = fields.List(fields.String(validate=USERID), validate=validate.Length(max=2000))
    remove_userids = fields.List(fields.String(validate=USERID), validate=validate.Length(max=2000))


class AppChatQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(max=64))
    member = fields.String(validate=USERID, metadata={"description": "Chats with this member"})
    app_id = fields.Integer(validate=WECOM_ID)
