"""Request and response schemas of the points mall API (marshmallow, unknown fields rejected).

Schema names are prefixed (`Points...`): page envelopes are shared by name across services.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from wedraw.core.fields import UtcDateTime
from wedraw.core.pagination import PageArgs, page_of
from wedraw.points_mall.catalog import image_url
from wedraw.points_mall.models import BUSINESS_TYPES, NOTIFICATION_STATUSES, ORDER_EVENTS, ORDER_STATUSES
from wedraw.points_mall.rules import RulesSchema, RulesUpdateSchema  # noqa: F401 - re-exported for the API

POINTS = validate.Range(min=1, max=10_000_000, error="Between 1 and 10,000,000.")
IMAGE_NAME = validate.Regexp(r"^[0-9a-f]{32}\.(png|jpg|gif|webp)$", error="An image name from POST /images.")
IDEMPOTENCY_KEY = validate.Regexp(
    r"^[0-9A-Za-z_\-:.]{8,128}$", error="8 to 128 letters, digits or _-:. (a UUID is a good key)."
)


class _Str(fields.String):
    """A string that is stripped; empty after stripping is refused where a minimum length applies."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


# ---------------------------------------------------------------- accounts and the ledger


class PointsAccountSchema(Schema):
    id = fields.Integer(required=True)
    member_key = fields.String(required=True, metadata={"description": "The member across channels"})
    unionid = fields.String(allow_none=True)
    member_id = fields.Integer(allow_none=True, metadata={"description": "The miniprogram service's member id"})
    balance = fields.Integer(required=True)
    total_earned = fields.Integer()
    total_spent = fields.Integer()
    total_expired = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PointsAccountQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(min=1, max=96), metadata={"description": "Member key, unionid or id"})
    member_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    min_balance = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1))
    max_balance = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1))
    sort = fields.String(load_default="created", validate=validate.OneOf(("created", "balance", "updated")))


class PointsEntrySchema(Schema):
    id = fields.Integer(required=True)
    account_id = fields.Integer(required=True)
    business_type = fields.String(required=True, metadata={"enum": list(BUSINESS_TYPES)})
    business_id = fields.String(required=True)
    amount = fields.Integer(required=True, metadata={"description": "Positive: points in; negative: points out"})
    balance_after = fields.Integer(required=True)
    reason = fields.String(allow_none=True)
    operator = fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)


class PointsLedgerQuerySchema(PageArgs):
    account_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    member_key = fields.String(validate=validate.Length(min=1, max=96))
    business_type = fields.String(validate=validate.OneOf(BUSINESS_TYPES))
    business_id = fields.String(validate=validate.Length(min=1, max=128))
    direction = fields.String(validate=validate.OneOf(("in", "out")))
    created_from = fields.DateTime()
    created_to = fields.DateTime()


class MyLedgerQuerySchema(PageArgs):
    business_type = fields.String(validate=validate.OneOf(BUSINESS_TYPES))
    direction = fields.String(validate=validate.OneOf(("in", "out")))


class PointsAdjustmentSchema(Schema):
    amount = fields.Integer(required=True, validate=POINTS)
    reason = _Str(required=True, validate=validate.Length(min=1, max=255))


class IdempotencyHeaderSchema(Schema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        required=True,
        validate=IDEMPOTENCY_KEY,
        metadata={"description": "The same key returns the same result and takes nothing more"},
    )


class OptionalIdempotencyHeaderSchema(Schema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=IDEMPOTENCY_KEY,
        metadata={"description": "Optional: a retried request with the same key posts once"},
    )


class ExpiringSchema(Schema):
    points = fields.Integer(required=True, metadata={"description": "Points expiring within 30 days"})
    before = fields.Date(allow_none=True)
    next_expiry_day = fields.Date(allow_none=True)


class MySummarySchema(Schema):
    account_id = fields.Integer(required=True)
    member_key = fields.String(required=True)
    balance = fields.Integer(required=True)
    total_earned = fields.Integer(required=True)
    total_spent = fields.Integer(required=True)
    total_expired = fields.Integer(required=True)
    signed_in_today = fields.Boolean(required=True)
    streak = fields.Integer(required=True)
    today = fields.Date(required=True, metadata={"description": "The members' local day"})
    expiring = fields.Nested(ExpiringSchema, required=True)
    orders_pending_shipment = fields.Integer(required=True)


# ---------------------------------------------------------------- sign-in


class SignInResultSchema(Schema):
    day = fields.Date(required=True)
    points = fields.Integer(required=True)
    bonus = fields.Integer(required=True, metadata={"description": "Streak bonus earned today (0 if none)"})
    streak = fields.Integer(required=True)
    balance = fields.Integer(required=True)


class CalendarArgs(Schema):
    month = fields.String(
        validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="YYYY-MM."),
        metadata={"description": "YYYY-MM (default: this month)"},
    )


class CalendarDaySchema(Schema):
    day = fields.Date(required=True)
    points = fields.Integer(required=True)
    bonus = fields.Integer(required=True)
    streak = fields.Integer(required=True)


class StreakBonusOutSchema(Schema):
    days = fields.Integer(required=True)
    points = fields.Integer(required=True)
    repeat = fields.Boolean()


class SignInRuleOutSchema(Schema):
    enabled = fields.Boolean(required=True)
    daily_points = fields.Integer(required=True)
    streak_bonuses = fields.List(fields.Nested(StreakBonusOutSchema), required=True)


class NextBonusSchema(Schema):
    streak = fields.Integer(required=True)
    points = fields.Integer(required=True)
    in_days = fields.Integer(required=True, metadata={"description": "0: the next sign-in (today) earns it"})


class CalendarSchema(Schema):
    month = fields.String(required=True)
    today = fields.Date(required=True)
    signed_in_today = fields.Boolean(required=True)
    streak = fields.Integer(required=True)
    days = fields.List(fields.Nested(CalendarDaySchema), required=True)
    rule = fields.Nested(SignInRuleOutSchema, required=True)
    next_bonus = fields.Nested(NextBonusSchema, allow_none=True)


class PublicRulesSchema(Schema):
    subscribe_bonus = fields.Dict(required=True)
    sign_in = fields.Nested(SignInRuleOutSchema, required=True)
    expiry = fields.Dict(required=True)
    timezone_offset_minutes = fields.Integer(required=True)


class RulesOutSchema(Schema):
    rules = fields.Nested(RulesSchema, required=True)
    version = fields.Integer(required=True)
    updated_at = UtcDateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)


# ---------------------------------------------------------------- catalog


class PointsCategorySchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    sort_order = fields.Integer()
    enabled = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PointsCategoryQuerySchema(PageArgs):
    enabled = fields.Boolean()


class PointsCategoryCreateSchema(Schema):
    name = _Str(required=True, validate=validate.Length(min=1, max=32))
    sort_order = fields.Integer(load_default=0, validate=validate.Range(min=-1_000_000, max=1_000_000))
    enabled = fields.Boolean(load_default=True)


class PointsCategoryUpdateSchema(Schema):
    name = _Str(validate=validate.Length(min=1, max=32))
    sort_order = fields.Integer(validate=validate.Range(min=-1_000_000, max=1_000_000))
    enabled = fields.Boolean()


class PointsProductSchema(Schema):
    id = fields.Integer(required=True)
    category_id = fields.Integer(allow_none=True)
    name = fields.String(required=True)
    description = fields.String()
    images = fields.Function(
        lambda p: [image_url(n) for n in p.images], metadata={"type": "array", "items": {"type": "string"}}
    )
    image_names = fields.Function(
        lambda p: list(p.images),
        metadata={"type": "array", "items": {"type": "string"}, "description": "What PATCH `images` takes"},
    )
    cover = fields.Function(
        lambda p: image_url(p.images[0]) if p.images else None, allow_none=True, metadata={"type": "string"}
    )
    points_price = fields.Integer(required=True)
    stock = fields.Integer(required=True)
    sold = fields.Integer()
    per_member_limit = fields.Integer(allow_none=True, metadata={"description": "Null: no limit"})
    on_shelf = fields.Boolean()
    needs_address = fields.Boolean(metadata={"description": "Shipped goods: redeeming needs an address"})
    sort_order = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PointsProductQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(min=1, max=64))
    category_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    on_shelf = fields.Boolean()
    in_stock = fields.Boolean()


class CatalogQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(min=1, max=64))
    category_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    in_stock = fields.Boolean()


class PointsProductCreateSchema(Schema):
    name = _Str(required=True, validate=validate.Length(min=1, max=64))
    category_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))
    description = fields.String(load_default="", validate=validate.Length(max=20_000))
    images = fields.List(fields.String(validate=IMAGE_NAME), load_default=list, validate=validate.Length(max=9))
    points_price = fields.Integer(required=True, validate=POINTS)
    stock = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
    per_member_limit = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=10_000))
    on_shelf = fields.Boolean(load_default=False)
    needs_address = fields.Boolean(load_default=True)
    sort_order = fields.Integer(load_default=0, validate=validate.Range(min=-1_000_000, max=1_000_000))


class PointsProductUpdateSchema(Schema):
    name = _Str(validate=validate.Length(min=1, max=64))
    category_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))
    description = fields.String(validate=validate.Length(max=20_000))
    images = fields.List(fields.String(validate=IMAGE_NAME), validate=validate.Length(max=9))
    points_price = fields.Integer(validate=POINTS)
    per_member_limit = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=10_000))
    on_shelf = fields.Boolean()
    needs_address = fields.Boolean()
    sort_order = fields.Integer(validate=validate.Range(min=-1_000_000, max=1_000_000))


def _non_zero(value: int) -> None:
    if value == 0:
        raise ValidationError("A change is not zero.")


class StockAdjustSchema(Schema):
    change = fields.Integer(
        required=True,
        validate=[validate.Range(min=-10_000_000, max=10_000_000), _non_zero],
        metadata={"description": "Positive adds stock, negative removes it (never below zero)"},
    )
    note = fields.String(validate=validate.Length(max=255))


class PointsStockLogSchema(Schema):
    id = fields.Integer(required=True)
    product_id = fields.Integer(required=True)
    change = fields.Integer(required=True)
    stock_after = fields.Integer(required=True)
    reason = fields.String(
        required=True, metadata={"enum": ["initial", "adjustment", "redemption", "cancel", "refund"]}
    )
    order_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    operator = fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)


class ImageUploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})

    def load(self, data, *args, **kwargs):
        loaded = super().load(data, *args, **kwargs)
        if not isinstance(loaded["file"], FileStorage):
            raise ValidationError({"file": ["A file upload is required."]})
        return loaded


class ImageSchema(Schema):
    name = fields.String(required=True, metadata={"description": "What a product's `images` list takes"})
    url = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)


# ---------------------------------------------------------------- orders


class AddressSchema(Schema):
    name = _Str(required=True, validate=validate.Length(min=1, max=32))
    phone = fields.String(
        required=True, validate=validate.Regexp(r"^\+?[0-9][0-9 \-]{4,19}$", error="Not a phone number.")
    )
    address = _Str(required=True, validate=validate.Length(min=4, max=200))


class RedeemSchema(Schema):
    product_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    quantity = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=99, error="Between 1 and 99."), metadata={"default": 1}
    )
    address = fields.Nested(AddressSchema, allow_none=True)
    remark = fields.String(allow_none=True, validate=validate.Length(max=255))


class PointsNotificationSchema(Schema):
    event = fields.String(required=True, metadata={"enum": list(ORDER_EVENTS)})
    status = fields.String(required=True, metadata={"enum": list(NOTIFICATION_STATUSES)})
    detail = fields.String(allow_none=True)
    attempts = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PointsOrderSchema(Schema):
    id = fields.Integer(required=True)
    order_no = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(ORDER_STATUSES)})
    account_id = fields.Integer(required=True)
    member_key = fields.String(required=True)
    product_id = fields.Integer(required=True)
    product_name = fields.String(required=True)
    product_image = fields.Function(
        lambda o: image_url(o.product_image) if o.product_image else None, allow_none=True, metadata={"type": "string"}
    )
    unit_points = fields.Integer(required=True)
    quantity = fields.Integer(required=True)
    points_total = fields.Integer(required=True)
    remark = fields.String(allow_none=True)
    carrier = fields.String(allow_none=True)
    tracking_no = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    shipped_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    refunded_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class PointsMyOrderSchema(PointsOrderSchema):
    """The member's own order, with their own address unmasked."""

    address = fields.Function(
        lambda o: _shipping(o, masked=False),
        allow_none=True,
        metadata={"type": "object", "description": "{name, phone, address} as given at redemption"},
    )


class PointsOrderDetailSchema(PointsOrderSchema):
    """An order for operators: the address masked without pii:personal:read, ledger entries, notifications."""

    member_id = fields.Integer(allow_none=True)
    appid = fields.String(allow_none=True)
    handled_by = fields.String(allow_none=True)
    address = fields.Function(
        lambda o: _shipping(o, masked=True),
        allow_none=True,
        metadata={"type": "object", "description": "{name, phone, address}; masked without pii:personal:read"},
    )
    entries = fields.Function(
        lambda o: PointsEntrySchema(many=True).dump(_entries(o)),
        metadata={"type": "array", "items": {"type": "object"}},
    )
    notifications = fields.Function(
        lambda o: PointsNotificationSchema(many=True).dump(_notifications(o)),
        metadata={"type": "array", "items": {"type": "object"}},
    )


def _shipping(order, masked: bool):
    from wedraw.points_mall.orders import masked_shipping, shipping_of

    return masked_shipping(order) if masked else shipping_of(order)


def _entries(order):
    from wedraw.points_mall.orders import order_entries

    return order_entries(order)


def _notifications(order):
    from wedraw.points_mall.orders import notifications_of

    return notifications_of(order)


class PointsOrderQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    q = fields.String(
        validate=validate.Length(min=1, max=96),
        metadata={"description": "Order number, member key or tracking number (exact), or product name"},
    )
    account_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    member_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    product_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    created_from = fields.DateTime()
    created_to = fields.DateTime()


class PointsOrderExportSchema(Schema):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    q = fields.String(validate=validate.Length(min=1, max=96))
    account_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    member_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    product_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    created_from = fields.DateTime()
    created_to = fields.DateTime()


class MyOrderQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))


class ShipSchema(Schema):
    carrier = _Str(required=True, validate=validate.Length(min=1, max=64))
    tracking_no = _Str(required=True, validate=[validate.Length(min=4, max=64), validate.Regexp(r"^[0-9A-Za-z\-]+$")])


class ReasonSchema(Schema):
    reason = fields.String(validate=validate.Length(max=255))


# ---------------------------------------------------------------- jobs and the dashboard


class PointsExpiryRunSchema(Schema):
    id = fields.Integer(required=True)
    day = fields.Date(required=True)
    cutoff = UtcDateTime(required=True, metadata={"description": "Points earned before this expired"})
    status = fields.String(required=True, metadata={"enum": ["running", "done"]})
    last_account_id = fields.Integer()
    accounts = fields.Integer()
    points = fields.Integer()
    started_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)


class PointsMismatchSchema(Schema):
    account_id = fields.Integer()
    member_key = fields.String()
    balance = fields.Integer()
    ledger_sum = fields.Integer()
    lots_sum = fields.Integer()


class PointsReconciliationSchema(Schema):
    id = fields.Integer(required=True)
    trigger = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["running", "ok", "mismatch"]})
    accounts_checked = fields.Integer()
    entries_checked = fields.Integer()
    mismatch_count = fields.Integer()
    mismatches = fields.List(fields.Nested(PointsMismatchSchema))
    started_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)


class QueuedSchema(Schema):
    status = fields.String(required=True)
    task = fields.String(required=True)


class PointsStatsSchema(Schema):
    accounts = fields.Integer(required=True)
    points_outstanding = fields.Integer(required=True)
    points_issued_today_utc = fields.Integer(required=True)
    orders_by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    products_on_shelf = fields.Integer(required=True)
    expiry_enabled = fields.Boolean(required=True)


page_of_accounts = page_of(PointsAccountSchema)
page_of_entries = page_of(PointsEntrySchema)
page_of_categories = page_of(PointsCategorySchema)
page_of_products = page_of(PointsProductSchema)
page_of_stock_logs = page_of(PointsStockLogSchema)
page_of_orders = page_of(PointsOrderSchema)
page_of_my_orders = page_of(PointsMyOrderSchema)
page_of_expiry_runs = page_of(PointsExpiryRunSchema)
page_of_reconciliations = page_of(PointsReconciliationSchema)
