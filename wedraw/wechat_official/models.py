"""Tables of the wechat_official service (its own database, `official_account_db`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from wedraw.core.db import JsonText, make_db, utcnow

db = make_db()

MESSAGE_MODES = ("plain", "compatible", "safe")


def _account_fk() -> ForeignKey:
    return ForeignKey("wechat_accounts.id", ondelete="CASCADE")


class Account(db.Model):
    """One Official Account. Secret, token and EncodingAESKey are encrypted (wedraw.core.crypto)."""

    __tablename__ = "wechat_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appid: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # The gh_ id WeChat sends as ToUserName; learnt from the first callback when not given.
    original_id: Mapped[str | None] = mapped_column(String(32))
    secret_enc: Mapped[str] = mapped_column(String(512), nullable=False)
    token_enc: Mapped[str] = mapped_column(String(512), nullable=False)
    aes_key_enc: Mapped[str | None] = mapped_column(String(512))
    secret_hint: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    token_hint: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    aes_key_hint: Mapped[str | None] = mapped_column(String(16))
    message_mode: Mapped[str] = mapped_column(String(16), nullable=False, default="safe")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    demo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Bumped by every change to the account or its auto-replies: callback processes rebuild their cache.
    config_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_check_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_check_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_check_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class Fan(db.Model):
    __tablename__ = "wechat_fans"
    __table_args__ = (
        UniqueConstraint("account_id", "openid"),
        Index("ix_wechat_fans_account_subscribed", "account_id", "subscribed", "subscribe_time"),
        Index("ix_wechat_fans_account_unionid", "account_id", "unionid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False)
    openid: Mapped[str] = mapped_column(String(64), nullable=False)
    unionid: Mapped[str | None] = mapped_column(String(64))
    subscribed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    subscribe_time: Mapped[datetime | None] = mapped_column(DateTime)
    unsubscribe_time: Mapped[datetime | None] = mapped_column(DateTime)
    subscribe_scene: Mapped[str | None] = mapped_column(String(64))
    qr_scene: Mapped[str | None] = mapped_column(String(64))
    nickname: Mapped[str | None] = mapped_column(String(128))
    sex: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(64))
    headimgurl: Mapped[str | None] = mapped_column(String(512))
    remark: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # The account blocked this fan in WeChat: no message of the account reaches them (43019).
    blacklisted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # WeChat tag ids as ",100,102," so one LIKE finds a tag's fans (WeChat allows 20 per fan).
    tag_ids: Mapped[str] = mapped_column(String(255), nullable=False, default=",")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    location_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_interaction_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Hash of the WeChat profile last stored: a sync rewrites only fans whose profile changed.
    profile_hash: Mapped[str | None] = mapped_column(String(32))
    profile_synced_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    @property
    def tag_id_list(self) -> list[int]:
        return [int(t) for t in self.tag_ids.split(",") if t]


class FanSyncJob(db.Model):
    __tablename__ = "wechat_fan_sync_jobs"
    __table_args__ = (Index("ix_wechat_fan_sync_jobs_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # full | incremental
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    inserted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unsubscribed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(String(255))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Message(db.Model):
    """The message log: every inbound message and event, and every message we sent a fan."""

    __tablename__ = "wechat_messages"
    __table_args__ = (
        Index("ix_wechat_messages_account_openid", "account_id", "openid", "id"),
        Index("ix_wechat_messages_account_event", "account_id", "event", "received_at"),
        Index("ix_wechat_messages_hand_on", "handed_on_at", "processed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False)
    # WeChat retries a callback it thinks went unanswered: this makes the retry a no-op.
    dedupe_key: Mapped[str] = mapped_column(String(191), unique=True, nullable=False)
    direction: Mapped[str] = mapped_column(String(8), nullable=False)  # in | out
    openid: Mapped[str | None] = mapped_column(String(64))
    msg_type: Mapped[str] = mapped_column(String(32), nullable=False)
    event: Mapped[str | None] = mapped_column(String(64))
    event_key: Mapped[str | None] = mapped_column(String(255))
    msg_id: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    reply_type: Mapped[str | None] = mapped_column(String(32))
    reply_content: Mapped[str | None] = mapped_column(Text)
    auto_reply_id: Mapped[int | None] = mapped_column(Integer)
    wechat_time: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # Set once the follow-up task is on the broker; the sweep hands on rows left NULL.
    handed_on_at: Mapped[datetime | None] = mapped_column(DateTime)
    hand_on_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    error: Mapped[str | None] = mapped_column(String(255))

    data = JsonText("payload", dict)


class AutoReply(db.Model):
    __tablename__ = "wechat_auto_replies"
    __table_args__ = (Index("ix_wechat_auto_replies_account_trigger", "account_id", "trigger", "enabled"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # subscribe | keyword | default
    match_type: Mapped[str | None] = mapped_column(String(16))  # exact | contains | regex
    keywords_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reply_type: Mapped[str] = mapped_column(String(32), nullable=False)
    content: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[str | None] = mapped_column(String(128))
    articles_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    hit_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    keywords = JsonText("keywords_json", list)
    articles = JsonText("articles_json", list)


class Tag(db.Model):
    __tablename__ = "wechat_tags"
    __table_args__ = (UniqueConstraint("account_id", "wechat_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False)
    wechat_id: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    fan_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    system: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    synced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Menu(db.Model):
    __tablename__ = "wechat_menus"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    buttons_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")  # draft | published
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    buttons = JsonText("buttons_json", list)


class QrCode(db.Model):
    __tablename__ = "wechat_qrcodes"
    __table_args__ = (UniqueConstraint("account_id", "scene"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # temporary | permanent
    scene: Mapped[str] = mapped_column(String(64), nullable=False)
    ticket: Mapped[str] = mapped_column(String(255), nullable=False)
    url: Mapped[str] = mapped_column(String(255), nullable=False)
    expire_seconds: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    scan_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    subscribe_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Material(db.Model):
    __tablename__ = "wechat_materials"
    __table_args__ = (
        UniqueConstraint("account_id", "media_id"),
        Index("ix_wechat_materials_account_type", "account_id", "type", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), nullable=False)
    media_id: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)  # image | voice | video | thumb
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    url: Mapped[str | None] = mapped_column(String(512))
    content_type: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    title: Mapped[str | None] = mapped_column(String(64))
    introduction: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
