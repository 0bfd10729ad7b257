"""Tables of the wecom service (its own database, `wecom_db`).

- corps and their apps: credentials encrypted (wedraw.core.crypto), shown only as hints;
- contacts: departments, members (with their departments in a table of their own, so a
  department's members are one indexed query), contacts tags; a member's `content_hash`
  lets a full sync rewrite only what changed;
- sync jobs (contacts, customers, customer groups) with progress;
- callback events: stored once (a unique dedupe key), then handed on to a worker;
- customers (external contacts) with their follow users, customer groups with members;
- app chats; app messages and robot messages sent through the message center; robots.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from wedraw.core.db import JsonText, make_db, utcnow

db = make_db()


def _corp_fk() -> ForeignKey:
    return ForeignKey("wecom_corps.id", ondelete="CASCADE")


# ---------------------------------------------------------------- corps and apps


class Corp(db.Model):
    """One WeCom organisation. The contacts and customer-contact secrets are optional: an app's
    secret is used when they are absent (an app sees only its visible range)."""

    __tablename__ = "wecom_corps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    contacts_secret_enc: Mapped[str | None] = mapped_column(String(512))
    contacts_secret_hint: Mapped[str | None] = mapped_column(String(16))
    customer_secret_enc: Mapped[str | None] = mapped_column(String(512))
    customer_secret_hint: Mapped[str | None] = mapped_column(String(16))
    # The contacts-sync callback (its own Token and EncodingAESKey): /api/wecom/callback/<corp_id>/contacts.
    contacts_token_enc: Mapped[str | None] = mapped_column(String(512))
    contacts_token_hint: Mapped[str | None] = mapped_column(String(16))
    contacts_aes_key_enc: Mapped[str | None] = mapped_column(String(512))
    contacts_aes_key_hint: Mapped[str | None] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    demo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Bumped by every change to the corp or its apps: callback processes rebuild their cache.
    config_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_check_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_check_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_check_json: Mapped[str | None] = mapped_column(Text)
    contacts_synced_at: Mapped[datetime | None] = mapped_column(DateTime)
    customers_synced_at: Mapped[datetime | None] = mapped_column(DateTime)
    groups_synced_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    last_check = JsonText("last_check_json", lambda: None)


class App(db.Model):
    """A self-built app (自建应用): agent id, secret, and its callback's Token and EncodingAESKey."""

    __tablename__ = "wecom_apps"
    __table_args__ = (UniqueConstraint("corp_ref", "agent_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    agent_id: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    secret_enc: Mapped[str] = mapped_column(String(512), nullable=False)
    secret_hint: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    token_enc: Mapped[str | None] = mapped_column(String(512))
    token_hint: Mapped[str | None] = mapped_column(String(16))
    aes_key_enc: Mapped[str | None] = mapped_column(String(512))
    aes_key_hint: Mapped[str | None] = mapped_column(String(16))
    # The app that sends app messages and owns app chats unless a request names another.
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


# ---------------------------------------------------------------- contacts


class Department(db.Model):
    __tablename__ = "wecom_departments"
    __table_args__ = (
        UniqueConstraint("corp_ref", "department_id"),
        Index("ix_wecom_departments_corp_parent", "corp_ref", "parent_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    department_id: Mapped[int] = mapped_column(Integer, nullable=False)  # WeCom's id
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(64))
    parent_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # WeCom's id; 0 for the root
    order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    content_hash: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    synced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Member(db.Model):
    """A member (成员). `mobile`/`email` are NULL when WeCom did not return them; `*_state` says why."""

    __tablename__ = "wecom_members"
    __table_args__ = (
        UniqueConstraint("corp_ref", "userid"),
        Index("ix_wecom_members_corp_name", "corp_ref", "name"),
        Index("ix_wecom_members_corp_status", "corp_ref", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    userid: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    alias: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[str | None] = mapped_column(String(128))
    gender: Mapped[int | None] = mapped_column(Integer)  # 0 unknown, 1 male, 2 female
    status: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # 1 active, 2 disabled, 4 inactive, 5 quit
    main_department: Mapped[int | None] = mapped_column(Integer)
    # The member's departments as ",1,5," (display order); the table below is what queries use.
    department_ids: Mapped[str] = mapped_column(String(512), nullable=False, default=",")
    mobile: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(128))
    # returned: WeCom gave the value; empty: WeCom says it is not set; withheld: WeCom did not return it.
    mobile_state: Mapped[str] = mapped_column(String(16), nullable=False, default="withheld")
    email_state: Mapped[str] = mapped_column(String(16), nullable=False, default="withheld")
    telephone: Mapped[str | None] = mapped_column(String(32))
    avatar: Mapped[str | None] = mapped_column(String(512))
    open_userid: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    synced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    @property
    def department_list(self) -> list[int]:
        return [int(d) for d in self.department_ids.split(",") if d]


class MemberDepartment(db.Model):
    __tablename__ = "wecom_member_departments"
    __table_args__ = (Index("ix_wecom_member_departments_corp_dept", "corp_ref", "department_id"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("wecom_members.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # WeCom's id
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    is_leader: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Tag(db.Model):
    """A contacts tag (通讯录标签); its members are users and whole departments."""

    __tablename__ = "wecom_tags"
    __table_args__ = (UniqueConstraint("corp_ref", "tag_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    tag_id: Mapped[int] = mapped_column(Integer, nullable=False)  # WeCom's id
    # NULL until WeCom's tag list has been read (a change event carries only the id).
    name: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class TagItem(db.Model):
    __tablename__ = "wecom_tag_items"

    tag_ref: Mapped[int] = mapped_column(ForeignKey("wecom_tags.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # user | party
    value: Mapped[str] = mapped_column(String(64), primary_key=True)  # userid or department id


class SyncJob(db.Model):
    __tablename__ = "wecom_sync_jobs"
    __table_args__ = (Index("ix_wecom_sync_jobs_corp_kind_created", "corp_ref", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # contacts | customers | groups
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    stage: Mapped[str | None] = mapped_column(String(32))
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # units of work (departments, users, chats)
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fetched: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # records read from WeCom
    inserted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deleted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    departments_changed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    departments_deleted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    warnings_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    error: Mapped[str | None] = mapped_column(String(512))  # what went wrong, in plain words, with advice
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    warnings = JsonText("warnings_json", list)


# ---------------------------------------------------------------- callbacks


class Event(db.Model):
    """Every verified callback: messages from members and events (contact changes, customers...)."""

    __tablename__ = "wecom_events"
    __table_args__ = (
        Index("ix_wecom_events_corp_received", "corp_ref", "received_at"),
        Index("ix_wecom_events_hand_on", "handed_on_at", "processed_at"),
        Index("ix_wecom_events_corp_open", "corp_ref", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    # The receiving endpoint: an agent id, or "contacts".
    receiver: Mapped[str] = mapped_column(String(16), nullable=False)
    # WeCom retries a callback it thinks went unanswered: this makes the retry a no-op.
    dedupe_key: Mapped[str] = mapped_column(String(191), unique=True, nullable=False)
    msg_type: Mapped[str] = mapped_column(String(32), nullable=False)
    event: Mapped[str | None] = mapped_column(String(64))
    change_type: Mapped[str | None] = mapped_column(String(64))
    from_user: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(128))  # the userid, department, tag or chat it is about
    content: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    wecom_time: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # Set once the follow-up task is on the broker; the sweep hands on rows left NULL.
    handed_on_at: Mapped[datetime | None] = mapped_column(DateTime)
    hand_on_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    error: Mapped[str | None] = mapped_column(String(255))

    data = JsonText("payload", dict)


# ---------------------------------------------------------------- customers


class Customer(db.Model):
    """An external contact (客户) of the corp, with the members who follow it."""

    __tablename__ = "wecom_customers"
    __table_args__ = (
        UniqueConstraint("corp_ref", "external_userid"),
        Index("ix_wecom_customers_unionid", "unionid"),
        Index("ix_wecom_customers_corp_name", "corp_ref", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    external_userid: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    # Column "type"; the attribute is not called that, so it cannot shadow the builtin in the class body.
    kind: Mapped[int] = mapped_column("type", Integer, nullable=False, default=1)  # 1 WeChat user, 2 WeCom user
    gender: Mapped[int | None] = mapped_column(Integer)
    # Links the customer to the same person elsewhere (Official Account fan, Mini Program member).
    unionid: Mapped[str | None] = mapped_column(String(64))
    corp_name: Mapped[str | None] = mapped_column(String(128))
    position: Mapped[str | None] = mapped_column(String(128))
    avatar: Mapped[str | None] = mapped_column(String(512))
    first_added_at: Mapped[datetime | None] = mapped_column(DateTime)
    content_hash: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    synced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class CustomerFollow(db.Model):
    """A member who has added the customer (跟进人), with that member's remark and tags."""

    __tablename__ = "wecom_customer_follows"
    __table_args__ = (Index("ix_wecom_customer_follows_corp_user", "corp_ref", "userid"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("wecom_customers.id", ondelete="CASCADE"), primary_key=True)
    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    remark: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(255))
    added_at: Mapped[datetime | None] = mapped_column(DateTime)
    add_way: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str | None] = mapped_column(String(64))
    tags_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")

    tags = JsonText("tags_json", list)


class CustomerGroup(db.Model):
    """A customer group chat (客户群)."""

    __tablename__ = "wecom_customer_groups"
    __table_args__ = (
        UniqueConstraint("corp_ref", "chat_id"),
        Index("ix_wecom_customer_groups_corp_owner", "corp_ref", "owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    chat_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    owner: Mapped[str | None] = mapped_column(String(64))
    notice: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # 0 normal, 1-3 owner leaving/left
    created_time: Mapped[datetime | None] = mapped_column(DateTime)
    member_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    external_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    admins_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    content_hash: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    synced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    admins = JsonText("admins_json", list)


class CustomerGroupMember(db.Model):
    __tablename__ = "wecom_customer_group_members"
    __table_args__ = (Index("ix_wecom_customer_group_members_user", "userid"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("wecom_customer_groups.id", ondelete="CASCADE"), primary_key=True)
    userid: Mapped[str] = mapped_column(String(128), primary_key=True)  # a member's userid or an external_userid
    kind: Mapped[int] = mapped_column("type", Integer, nullable=False)  # 1 member, 2 external contact
    unionid: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(128))
    group_nickname: Mapped[str | None] = mapped_column(String(128))
    joined_at: Mapped[datetime | None] = mapped_column(DateTime)
    join_scene: Mapped[int | None] = mapped_column(Integer)  # 1 invited, 2 by link, 3 by QR code
    invitor: Mapped[str | None] = mapped_column(String(64))


# ---------------------------------------------------------------- app chats, messages, robots


class AppChat(db.Model):
    """An internal group chat created by an app (appchat/create); WeCom has no list call, so this is the list."""

    __tablename__ = "wecom_app_chats"
    __table_args__ = (UniqueConstraint("corp_ref", "chatid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    app_id: Mapped[int] = mapped_column(ForeignKey("wecom_apps.id", ondelete="CASCADE"), nullable=False)
    chatid: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    userids_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    member_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    userids = JsonText("userids_json", list)


class AppMessage(db.Model):
    """An app message (to members, departments, tags) or an app chat message, sent through the message center."""

    __tablename__ = "wecom_app_messages"
    __table_args__ = (
        Index("ix_wecom_app_messages_corp_created", "corp_ref", "created_at"),
        Index("ix_wecom_app_messages_chat", "chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int] = mapped_column(_corp_fk(), nullable=False)
    app_id: Mapped[int] = mapped_column(ForeignKey("wecom_apps.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # app | appchat
    chat_id: Mapped[int | None] = mapped_column(ForeignKey("wecom_app_chats.id", ondelete="CASCADE"))
    msgtype: Mapped[str] = mapped_column(String(16), nullable=False)
    preview: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    message_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    touser_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    toparty_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    totag_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    to_all: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="sending")  # sending | sent | failed
    invalid_users_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    invalid_parties_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    invalid_tags_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    msgid: Mapped[str | None] = mapped_column(String(128))
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(String(255))
    delivery_id: Mapped[int | None] = mapped_column(Integer)  # the message center's send-log row
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    message = JsonText("message_json", dict)
    touser = JsonText("touser_json", list)
    toparty = JsonText("toparty_json", list)
    totag = JsonText("totag_json", list)
    invalid_users = JsonText("invalid_users_json", list)
    invalid_parties = JsonText("invalid_parties_json", list)
    invalid_tags = JsonText("invalid_tags_json", list)


class Robot(db.Model):
    """A group robot (群机器人), addressed by its webhook key (encrypted; a fingerprint finds duplicates)."""

    __tablename__ = "wecom_robots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_ref: Mapped[int | None] = mapped_column(ForeignKey("wecom_corps.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    key_enc: Mapped[str] = mapped_column(String(512), nullable=False)
    key_hint: Mapped[str] = mapped_column(String(16), nullable=False)
    key_fingerprint: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")  # active | broken | disabled
    broken_reason: Mapped[str | None] = mapped_column(String(255))
    broken_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    demo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class RobotMessage(db.Model):
    __tablename__ = "wecom_robot_messages"
    __table_args__ = (
        Index("ix_wecom_robot_messages_robot", "robot_id", "id"),
        Index("ix_wecom_robot_messages_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("wecom_robots.id", ondelete="CASCADE"), nullable=False)
    msgtype: Mapped[str] = mapped_column(String(16), nullable=False)
    preview: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    test: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # queued: with the message center (waiting for the robot's minute, or being sent); sent; failed.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(String(255))
    delivery_id: Mapped[int | None] = mapped_column(Integer)  # the message center's send-log row
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)
