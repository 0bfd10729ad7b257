"""Tables of the message_center service (its own database, `message_center_db`).

- senders: the WeChat apps messages go out as (an Official Account, a Mini Program, a WeCom
  agent, a group robot). Official Account credentials stay with the Official Account
  service and are asked for over its internal API; the others are kept here, encrypted.
- templates: per channel, with typed variables; Official Account ones synced from WeChat.
- audience lists: uploaded openid / userid lists.
- campaigns and deliveries: one delivery row per recipient (and one per single send),
  the unit of state: pending → sending → sent | failed_retrying → ... | failed_final | cancelled.
- mass jobs: one row per WeChat mass-send call (its clientmsgid makes a repeat harmless).
- job events: TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH reports, stored once by event id.
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

# Delivery states. The first three are "open" (work remains); the rest are final.
PENDING, SENDING, SENT = "pending", "sending", "sent"
FAILED_RETRYING, FAILED_FINAL, CANCELLED = "failed_retrying", "failed_final", "cancelled"
DELIVERY_STATES = (PENDING, SENDING, SENT, FAILED_RETRYING, FAILED_FINAL, CANCELLED)
OPEN_STATES = (PENDING, SENDING, FAILED_RETRYING)
FINAL_STATES = (SENT, FAILED_FINAL, CANCELLED)

# Campaign states.
DRAFT, SCHEDULED, PREPARING, RUNNING, PAUSED = "draft", "scheduled", "preparing", "running", "paused"
COMPLETED, CAMPAIGN_CANCELLED, FAILED = "completed", "cancelled", "failed"
CAMPAIGN_STATES = (DRAFT, SCHEDULED, PREPARING, RUNNING, PAUSED, COMPLETED, CAMPAIGN_CANCELLED, FAILED)
FINISHED_CAMPAIGN_STATES = (COMPLETED, CAMPAIGN_CANCELLED, FAILED)

SENDER_KINDS = ("official_account", "mini_program", "wecom_app", "group_robot")


class Sender(db.Model):
    __tablename__ = "mc_senders"
    __table_args__ = (UniqueConstraint("kind", "app_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # appid (Official Account, Mini Program), "corp_id/agent_id" (WeCom) or the robot key's fingerprint.
    app_key: Mapped[str] = mapped_column(String(64), nullable=False)
    # Encrypted JSON credentials (wedraw.core.crypto); None for Official Accounts (asked for, never stored).
    config_enc: Mapped[str | None] = mapped_column(Text)
    secret_hint: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")  # active | broken | disabled
    broken_reason: Mapped[str | None] = mapped_column(String(255))
    broken_at: Mapped[datetime | None] = mapped_column(DateTime)
    rate_limits_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    rate_limits = JsonText("rate_limits_json", dict, none_is_null=True)


class Template(db.Model):
    __tablename__ = "mc_templates"
    __table_args__ = (
        Index("ix_mc_templates_channel_sender", "channel", "sender_id"),
        UniqueConstraint("sender_id", "wechat_template_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(24), nullable=False)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("mc_senders.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # WeChat's template id (Official Account template, Mini Program subscribe template).
    wechat_template_id: Mapped[str | None] = mapped_column(String(64))
    msgtype: Mapped[str] = mapped_column(String(24), nullable=False, default="template")
    content: Mapped[str] = mapped_column(Text, nullable=False)
    variables_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    example: Mapped[str | None] = mapped_column(Text)
    # Extra message fields for WeChat templates: url, miniprogram {appid, pagepath}, page.
    options_json: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="local")  # local | wechat
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    variables = JsonText("variables_json", list, none_is_null=True)
    options = JsonText("options_json", dict, none_is_null=True)


class AudienceList(db.Model):
    __tablename__ = "mc_audience_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    target_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # openid | userid
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class AudienceListItem(db.Model):
    __tablename__ = "mc_audience_list_items"
    __table_args__ = (UniqueConstraint("list_id", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mc_audience_lists.id", ondelete="CASCADE"), nullable=False)
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    unionid: Mapped[str | None] = mapped_column(String(64))


class Campaign(db.Model):
    __tablename__ = "mc_campaigns"
    __table_args__ = (Index("ix_mc_campaigns_status_scheduled", "status", "scheduled_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable and unique: mass sends use it in their clientmsgid, so a repeat is harmless.
    uid: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(24), nullable=False)
    sender_id: Mapped[int] = mapped_column(ForeignKey("mc_senders.id", ondelete="RESTRICT"), nullable=False)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("mc_templates.id", ondelete="SET NULL"))
    data_json: Mapped[str | None] = mapped_column(Text)
    message_json: Mapped[str] = mapped_column(Text, nullable=False)  # the rendered WeChat message
    audience_json: Mapped[str] = mapped_column(Text, nullable=False)
    audience_estimate: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fallback_json: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Audience materialisation: rows inserted so far and the source's cursor (resumable).
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    audience_cursor: Mapped[str | None] = mapped_column(String(255))
    materialized: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    data = JsonText("data_json", dict, none_is_null=True)
    message = JsonText("message_json", dict, none_is_null=True)
    audience = JsonText("audience_json", dict, none_is_null=True)
    fallback = JsonText("fallback_json", lambda: None, none_is_null=True)


class Delivery(db.Model):
    """One message to one recipient: a campaign's recipient, or a single send (campaign_id NULL)."""

    __tablename__ = "mc_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "target"),
        Index("ix_mc_deliveries_campaign_status", "campaign_id", "status"),
        Index("ix_mc_deliveries_campaign_batch", "campaign_id", "batch_no", "status"),
        Index("ix_mc_deliveries_campaign_sent", "campaign_id", "sent_at"),
        Index("ix_mc_deliveries_campaign_report", "campaign_id", "report_status"),
        Index("ix_mc_deliveries_status_due", "status", "next_attempt_at"),
        Index("ix_mc_deliveries_msgid", "msgid"),
        Index("ix_mc_deliveries_created", "created_at"),
        Index("ix_mc_deliveries_target", "target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("mc_campaigns.id", ondelete="CASCADE"))
    batch_no: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    channel: Mapped[str] = mapped_column(String(24), nullable=False)
    sender_id: Mapped[int] = mapped_column(ForeignKey("mc_senders.id", ondelete="CASCADE"), nullable=False)
    target: Mapped[str] = mapped_column(String(255), nullable=False)
    unionid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The last WeChat error seen for this recipient (kept after a later success, so retries show).
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(16))
    msgid: Mapped[str | None] = mapped_column(String(64))
    # What WeChat's job-finished report said (e.g. "success", "failed:user block").
    report_status: Mapped[str | None] = mapped_column(String(64))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    # What else WeChat said about a sent message (WeCom's invalid users, parties and tags).
    detail_json: Mapped[str | None] = mapped_column(Text)
    # Set when the recipient was sent through the campaign's fallback channel instead.
    fallback_channel: Mapped[str | None] = mapped_column(String(24))
    fallback_target: Mapped[str | None] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    claim: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # Single sends only.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    payload_json: Mapped[str | None] = mapped_column(Text)
    template_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str | None] = mapped_column(String(64))

    payload = JsonText("payload_json", lambda: None, none_is_null=True)
    detail = JsonText("detail_json", lambda: None, none_is_null=True)


class MassJob(db.Model):
    __tablename__ = "mc_mass_jobs"
    __table_args__ = (
        UniqueConstraint("campaign_id", "batch_no"),
        Index("ix_mc_mass_jobs_sender_msg", "sender_id", "msg_id"),
        Index("ix_mc_mass_jobs_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("mc_campaigns.id", ondelete="CASCADE"), nullable=False)
    sender_id: Mapped[int] = mapped_column(ForeignKey("mc_senders.id", ondelete="CASCADE"), nullable=False)
    batch_no: Mapped[int] = mapped_column(Integer, nullable=False)
    # WeChat keeps a clientmsgid for a while: a repeated call answers 45065 and sends nothing.
    clientmsgid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # 0: by tag or to everyone
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    msg_id: Mapped[str | None] = mapped_column(String(64))
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(String(255))
    report_status: Mapped[str | None] = mapped_column(String(64))
    total_count: Mapped[int | None] = mapped_column(Integer)
    filter_count: Mapped[int | None] = mapped_column(Integer)
    sent_count: Mapped[int | None] = mapped_column(Integer)
    error_count: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    claim: Mapped[str | None] = mapped_column(String(32))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class JobEvent(db.Model):
    """A job-finished report from the Official Account service, stored once (its event id is unique)."""

    __tablename__ = "mc_job_events"
    __table_args__ = (Index("ix_mc_job_events_msg", "appid", "msg_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    appid: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # template | mass
    msg_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(64))
    payload_json: Mapped[str] = mapped_column(Text, nullable=False)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    payload = JsonText("payload_json", dict, none_is_null=True)


__all__ = [
    "AudienceList",
    "AudienceListItem",
    "Campaign",
    "Delivery",
    "JobEvent",
    "MassJob",
    "Sender",
    "Template",
    "db",
]
