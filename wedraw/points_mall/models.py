"""Tables of the points_mall service (its own database, `points_mall_db`).

Points and stock are money-like: they change only through `wedraw.points_mall.ledger`,
inside one transaction with the ledger row (or stock log row) that explains the change,
through guarded UPDATEs that can never take a balance or a stock below zero (and CHECK
constraints that would refuse it anyway).

- `PointsAccount`: one per member key (see wedraw.miniprogram.identity), balance >= 0.
- `LedgerEntry`: append-only; (business_type, business_id) unique, so one business event
  posts once; never edited: corrections are new entries.
- `PointsLot`: the points of one credit entry not yet spent or expired (`remaining`), what
  expiry (oldest first) and refunds work on; `LotUse` records which lots a debit took.
  Invariant: balance == SUM(entries.amount) == SUM(lots.remaining), per account.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
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

# Ledger business types.
SUBSCRIBE_BONUS = "subscribe_bonus"
SIGN_IN = "sign_in"
STREAK_BONUS = "streak_bonus"
ADMIN_GRANT = "admin_grant"
ADMIN_DEDUCT = "admin_deduct"
REDEMPTION = "redemption"
REDEMPTION_REFUND = "redemption_refund"
EXPIRY = "expiry"
BUSINESS_TYPES = (
    SUBSCRIBE_BONUS,
    SIGN_IN,
    STREAK_BONUS,
    ADMIN_GRANT,
    ADMIN_DEDUCT,
    REDEMPTION,
    REDEMPTION_REFUND,
    EXPIRY,
)
EARNING_TYPES = (SUBSCRIBE_BONUS, SIGN_IN, STREAK_BONUS, ADMIN_GRANT)

# Order statuses.
PENDING_SHIPMENT = "pending_shipment"
SHIPPED = "shipped"
COMPLETED = "completed"
CANCELLED = "cancelled"
REFUNDED = "refunded"
ORDER_STATUSES = (PENDING_SHIPMENT, SHIPPED, COMPLETED, CANCELLED, REFUNDED)
RETURNED_STATUSES = (CANCELLED, REFUNDED)  # points and stock went back

ORDER_EVENTS = ("redeemed", "shipped", "completed", "cancelled", "refunded")
NOTIFICATION_STATUSES = ("pending", "sent", "skipped", "failed")


class PointsAccount(db.Model):
    __tablename__ = "points_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_key: Mapped[str] = mapped_column(String(96), unique=True, nullable=False)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The miniprogram service's member id, once the member has used a member token here.
    member_id: Mapped[int | None] = mapped_column(Integer, index=True)
    balance: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_earned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_spent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_expired: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class LedgerEntry(db.Model):
    __tablename__ = "points_entries"
    __table_args__ = (
        UniqueConstraint("business_type", "business_id"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        # Serves an account's ledger (by id) and reconciliation's per-account sums (covering).
        Index("ix_points_entries_account", "account_id", "id", "amount"),
        Index("ix_points_entries_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id"), nullable=False)
    business_type: Mapped[str] = mapped_column(String(24), nullable=False)
    business_id: Mapped[str] = mapped_column(String(128), nullable=False)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    balance_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255))
    operator: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class PointsLot(db.Model):
    __tablename__ = "points_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        Index("ix_points_lots_account", "account_id", "id", "remaining"),
        Index("ix_points_lots_earned", "earned_at", "remaining"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id"), nullable=False)
    entry_id: Mapped[int] = mapped_column(ForeignKey("points_entries.id"), unique=True, nullable=False)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    earned_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class LotUse(db.Model):
    """How much of which lot a debit entry (redemption, deduction, expiry) took; refunds put it back."""

    __tablename__ = "points_lot_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("points_entries.id"), nullable=False, index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("points_lots.id"), nullable=False)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)


class SignIn(db.Model):
    __tablename__ = "points_sign_ins"
    __table_args__ = (UniqueConstraint("account_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    streak: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bonus: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class PointsSettings(db.Model):
    """The console-configurable earning rules, expiry and order notifications (one row, JSON)."""

    __tablename__ = "points_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    data = JsonText("data_json", dict)


class Category(db.Model):
    __tablename__ = "points_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Product(db.Model):
    __tablename__ = "points_products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("points_price > 0", name="price_positive"),
        Index("ix_points_products_shelf", "on_shelf", "sort_order", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("points_categories.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    images_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    points_price: Mapped[int] = mapped_column(Integer, nullable=False)
    stock: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sold: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Most a member may hold of this product (orders not cancelled or refunded); null: no limit.
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    on_shelf: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    needs_address: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    images = JsonText("images_json", list)


class StockLog(db.Model):
    __tablename__ = "points_stock_logs"
    __table_args__ = (Index("ix_points_stock_logs_product", "product_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("points_products.id", ondelete="CASCADE"), nullable=False)
    change: Mapped[int] = mapped_column(Integer, nullable=False)
    stock_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(24), nullable=False)
    order_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(255))
    operator: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Order(db.Model):
    __tablename__ = "points_orders"
    __table_args__ = (
        UniqueConstraint("account_id", "idempotency_key"),
        Index("ix_points_orders_account", "account_id", "id"),
        Index("ix_points_orders_status", "status", "id"),
        Index("ix_points_orders_product_account", "product_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id"), nullable=False)
    member_key: Mapped[str] = mapped_column(String(96), nullable=False)
    member_id: Mapped[int | None] = mapped_column(Integer)
    appid: Mapped[str | None] = mapped_column(String(32))
    # No foreign key on purpose: its check would take a shared lock on the (hot) product row in every
    # redemption, before the stock UPDATE takes the exclusive one: deadlocks. Products with orders are
    # never deleted (catalog.delete_product refuses), and the order keeps the product's name and price.
    product_id: Mapped[int] = mapped_column(Integer, nullable=False)
    product_name: Mapped[str] = mapped_column(String(64), nullable=False)
    product_image: Mapped[str | None] = mapped_column(String(64))
    unit_points: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    points_total: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(128), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Receiver name, phone and address: encrypted (wedraw.core.crypto) JSON.
    shipping_enc: Mapped[str | None] = mapped_column(Text)
    remark: Mapped[str | None] = mapped_column(String(255))
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_no: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(255))
    handled_by: Mapped[str | None] = mapped_column(String(64))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class OrderNotification(db.Model):
    """An order event for the member (a subscribe message through the message center), written with the event."""

    __tablename__ = "points_order_notifications"
    __table_args__ = (UniqueConstraint("order_id", "event"), Index("ix_points_notifications_status", "status", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("points_orders.id", ondelete="CASCADE"), nullable=False)
    event: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    detail: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class ExpiryRun(db.Model):
    """One day's expiry settlement; `last_account_id` is how far it got (a crashed run resumes there)."""

    __tablename__ = "points_expiry_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    cutoff: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    last_account_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    accounts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Reconciliation(db.Model):
    """One reconciliation: every balance against the sum of its entries and of its open lots."""

    __tablename__ = "points_reconciliations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    accounts_checked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    entries_checked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mismatch_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mismatches_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    mismatches = JsonText("mismatches_json", list)
