"""Tables of the miniprogram service (its own database, `miniprogram_db`).

The member identity lives here (see `wedraw.miniprogram.identity`): a `Member` is one
person, named across channels by its `member_key`; an `MpUser` is that person as one Mini
Program sees them (appid + openid, with WeChat's session_key encrypted at rest).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wedraw.core.db import make_db, utcnow

db = make_db()

MEMBER_STATUSES = ("active", "disabled")
GRANT_RESULTS = ("accept", "reject", "ban", "filter")


class MpApp(db.Model):
    """A Mini Program WeDraw acts for. The AppSecret is encrypted (wedraw.core.crypto) and never returned."""

    __tablename__ = "mp_apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appid: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    secret_enc: Mapped[str] = mapped_column(String(512), nullable=False)
    secret_hint: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    demo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Member(db.Model):
    """One person across channels. `member_key` is unique and never changes once given out."""

    __tablename__ = "mp_members"
    __table_args__ = (Index("ix_mp_members_phone_hash", "phone_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_key: Mapped[str] = mapped_column(String(96), unique=True, nullable=False)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    nickname: Mapped[str | None] = mapped_column(String(64))
    avatar_url: Mapped[str | None] = mapped_column(String(512))
    # The bound phone number, encrypted; a keyed hash of it finds a member by number.
    phone_enc: Mapped[str | None] = mapped_column(String(512))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    phone_country: Mapped[str | None] = mapped_column(String(8))
    phone_bound_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    remark: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # Member tokens carry sid "member-<id>-<token_version>"; disabling revokes it and bumps the version.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    login_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class MpUser(db.Model):
    """A member as one Mini Program knows them: openid, and the session_key of their last login."""

    __tablename__ = "mp_users"
    __table_args__ = (UniqueConstraint("app_id", "openid"), Index("ix_mp_users_member", "member_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("mp_members.id", ondelete="CASCADE"), nullable=False)
    app_id: Mapped[int] = mapped_column(ForeignKey("mp_apps.id", ondelete="CASCADE"), nullable=False)
    openid: Mapped[str] = mapped_column(String(64), nullable=False)
    session_key_enc: Mapped[str | None] = mapped_column(String(512))
    session_key_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SubscribeGrant(db.Model):
    """What a member answered `wx.requestSubscribeMessage` for one template: sends still granted."""

    __tablename__ = "mp_subscribe_grants"
    __table_args__ = (UniqueConstraint("mp_user_id", "template_id"), Index("ix_mp_grants_member", "member_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("mp_members.id", ondelete="CASCADE"), nullable=False)
    mp_user_id: Mapped[int] = mapped_column(ForeignKey("mp_users.id", ondelete="CASCADE"), nullable=False)
    template_id: Mapped[str] = mapped_column(String(64), nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    accepted_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejected_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    used_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_result: Mapped[str | None] = mapped_column(String(16))
    last_answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class GrantUse(db.Model):
    """One claim of a grant by another service; `use_key` makes a repeated claim answer the same."""

    __tablename__ = "mp_grant_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    use_key: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    member_key: Mapped[str] = mapped_column(String(96), nullable=False)
    template_id: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    appid: Mapped[str | None] = mapped_column(String(32))
    openid: Mapped[str | None] = mapped_column(String(64))
    caller: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
