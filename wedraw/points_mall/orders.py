"""Exchange orders: redeem (points and stock taken in one transaction), ship, complete, cancel, refund.

Redeeming (`POST /api/points/orders`, header `Idempotency-Key`):
1. read-only checks for a clear answer (the product is on the shelf: else 404; stock, the
   member's purchase limit and balance: else 409 naming which), then a fresh transaction:
2. the points: a guarded debit (`balance >= cost`) takes the account's row lock, so the
   member's requests queue there one at a time; oldest lots first;
3. under that lock, an order with the same Idempotency-Key (a retry, or a concurrent twin that
   got in first) is replayed (the same body; 409 for a different body), and this one's debit
   is rolled back: nothing more is taken. (account, key) is also unique in the table;
4. the purchase limit, counted under the same lock;
5. the order row and its notification row (the orders table has no foreign key to the products
   on purpose: a foreign-key check takes a shared lock on the product row, which every concurrent
   redemption would then have to upgrade: deadlocks on the hot row);
6. the stock: `stock = stock - q WHERE stock >= q AND on_shelf` (the product row, the hot one,
   locked last and so for the shortest time: this UPDATE, the stock log row, the commit).
   One commit; any refusal rolls all of it back.

Cancel (pending shipment) and refund (shipped or completed) claim the order with a
conditional UPDATE on its status, then give the points back into the lots they came from
(entry `redemption_refund`, business id = order number: once, however often asked) and the
stock back (logged), in one transaction. Lock order: (order,) account, product, everywhere.

Order events (redeemed, shipped, completed, cancelled, refunded) become notification rows in
the same transaction; after the commit the `points_mall.notify_order` task claims one of the
member's subscribe grants from the miniprogram service and hands a subscribe message to the
message center (`message_center.send`, by name, with an idempotency key).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import secrets
from collections.abc import Iterator
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.auth import can_see_pii
from wedraw.core.crypto import cipher_for
from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.core.pii import mask_phone
from wedraw.points_mall import facts, ledger
from wedraw.points_mall.catalog import log_stock, shelf_product
from wedraw.points_mall.models import (
    CANCELLED,
    COMPLETED,
    PENDING_SHIPMENT,
    REDEMPTION,
    REDEMPTION_REFUND,
    REFUNDED,
    RETURNED_STATUSES,
    SHIPPED,
    LedgerEntry,
    Order,
    OrderNotification,
    PointsAccount,
    Product,
    db,
)
from wedraw.points_mall.rules import get_rules, render
from wedraw.points_mall.services import QUEUE, account_for_member, retry_on_deadlock

log = logging.getLogger("wedraw.points_mall.orders")

NOTIFY_TASK = "points_mall.notify_order"
SEND_TASK, MESSAGE_CENTER_QUEUE = "message_center.send", "message_center"
EXPORT_LIMIT = 100_000
EXPORT_BATCH = 500
STATUS_LABELS = {
    PENDING_SHIPMENT: "待发货",
    SHIPPED: "已发货",
    COMPLETED: "已完成",
    CANCELLED: "已取消",
    REFUNDED: "已退款",
}


def _cipher():
    return cipher_for(current_app.config["WEDRAW_SETTINGS"])


def _request_hash(body: dict) -> str:
    canonical = {
        "product_id": body["product_id"],
        "quantity": body["quantity"],
        "address": body.get("address"),
        "remark": body.get("remark"),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _order_by_key(account_id: int, key: str) -> Order | None:
    return db.session.execute(
        select(Order).where(Order.account_id == account_id, Order.idempotency_key == key)
    ).scalar_one_or_none()


def _replay(order: Order, digest: str) -> Order:
    if order.request_hash != digest:
        raise ApiError(
            409,
            "This Idempotency-Key was already used for a different order (product, quantity, address or remark).",
            "idempotency_key_reused",
        )
    return order


def _purchased(account_id: int, product_id: int) -> int:
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(Order.quantity), 0)).where(
                Order.account_id == account_id,
                Order.product_id == product_id,
                Order.status.not_in(RETURNED_STATUSES),
            )
        ).scalar_one()
    )


def _short_of_points(balance: int, cost: int) -> ApiError:
    return ApiError(409, f"Insufficient points: this costs {cost}, the balance is {balance}.", "insufficient_points")


def _short_of_stock(product: Product, quantity: int) -> ApiError:
    return ApiError(
        409, f"Insufficient stock: {product.stock} left of {product.name}, {quantity} asked.", "insufficient_stock"
    )


def _over_limit(product: Product, bought: int, quantity: int) -> ApiError:
    return ApiError(
        409,
        f"Over the purchase limit: at most {product.per_member_limit} of {product.name} per member; "
        f"{bought} held, {quantity} asked.",
        "purchase_limit_exceeded",
    )


ORDER_NO_ATTEMPTS = 5


class _OrderNoTaken(Exception):
    """The order number just drawn is another order's already (nothing was written): draw again."""


def _new_order_no() -> str:
    # Ten random digits: two orders of one second share a number about once in 10^10 pairs (six digits
    # made that one busy second in a hundred at 100 orders/s), and a clash is drawn again anyway.
    return f"P{utcnow():%Y%m%d%H%M%S}{secrets.randbelow(10**10):010d}"


def _is_order_no_clash(exc: IntegrityError, order_no: str) -> bool:
    """The unique key the order number feeds (the order's, or its ledger entry's business id) refused it."""
    text = str(exc.orig)
    return order_no in text or "order_no" in text or "business_id" in text


def _drawing_order_numbers_again(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        for attempt in range(ORDER_NO_ATTEMPTS):
            try:
                return fn(*args, **kwargs)
            except _OrderNoTaken:
                log.warning("order number taken, drawing another (attempt %d)", attempt + 1)
        raise ApiError(503, "No free order number could be drawn; try again.", "order_no_unavailable")

    return run


def _notification(order_id: int, event: str) -> int:
    """The order event's notification row, in the caller's transaction; its id (queue it after the commit)."""
    now = utcnow()
    row = OrderNotification(order_id=order_id, event=event, status="pending", created_at=now, updated_at=now)
    db.session.add(row)
    db.session.flush()
    return row.id


def _queue_notification(notification_id: int) -> None:
    """After the commit: hand the notification to the worker (if the broker is down, the sweep does later)."""
    try:
        current_app.extensions["celery"].send_task(NOTIFY_TASK, args=[notification_id], queue=QUEUE, retry=False)
    except Exception as exc:
        log.warning("notification %s not queued (%s); the sweep will", notification_id, type(exc).__name__)


@_drawing_order_numbers_again
@retry_on_deadlock
def redeem(claims: dict, key: str, body: dict) -> tuple[Order, bool]:
    """(order, created). See the module docstring for the steps and what each refusal means."""
    account = account_for_member(claims)
    digest = _request_hash(body)
    existing = _order_by_key(account.id, key)
    if existing is not None:
        return _replay(existing, digest), False
    product = shelf_product(body["product_id"])
    quantity = body["quantity"]
    cost = product.points_price * quantity
    if product.stock < quantity:
        raise _short_of_stock(product, quantity)
    if product.needs_address and not body.get("address"):
        raise ApiError(422, "This product is shipped: give an address.", errors={"address": ["Required."]})
    if product.per_member_limit:
        bought = _purchased(account.id, product.id)
        if bought + quantity > product.per_member_limit:
            raise _over_limit(product, bought, quantity)
    if account.balance < cost:
        raise _short_of_points(account.balance, cost)
    snapshot = {"name": product.name, "image": (product.images or [None])[0], "price": product.points_price}
    account_id, member_key, member_id = account.id, account.member_key, account.member_id
    # The checks above read a snapshot; the transaction below starts fresh. (Only plain values cross
    # this line: touching an expired ORM object would re-read it and, on MariaDB, pin the transaction's
    # snapshot before the lock below is taken.)
    db.session.rollback()

    now, order_no = utcnow(), _new_order_no()
    try:
        # The points first: the guarded debit takes the account's row lock, so every request of this
        # member (the same Idempotency-Key included) queues here, one at a time.
        ledger.debit(
            account_id,
            snapshot["price"] * quantity,
            REDEMPTION,
            order_no,
            reason=f"兑换 {snapshot['name']} ×{quantity}",
            operator="member",
        )
    except ledger.InsufficientPoints as exc:
        db.session.rollback()
        raise _short_of_points(exc.balance, exc.needed) from None
    except IntegrityError as exc:
        db.session.rollback()
        if _is_order_no_clash(exc, order_no):
            raise _OrderNoTaken from None
        raise
    existing = _order_by_key(account_id, key)  # read under the lock: a request with this key got in first
    if existing is not None:
        db.session.rollback()
        return _replay(existing, digest), False
    current = db.session.execute(
        select(Product.points_price, Product.per_member_limit).where(Product.id == body["product_id"])
    ).one()
    if current.points_price != snapshot["price"]:
        db.session.rollback()  # the price changed since the checks: ask again rather than charge the old one
        raise ApiError(409, "The product's price just changed: look again and redeem.", "price_changed")
    if current.per_member_limit:
        bought = _purchased(account_id, body["product_id"])  # under the account lock: no race with itself
        if bought + quantity > current.per_member_limit:
            db.session.rollback()
            raise _over_limit(shelf_product(body["product_id"]), bought, quantity)
    # The order (and its notification) before the stock: the orders table has no foreign key to the
    # products on purpose, so neither insert touches the product row.
    order = Order(
        order_no=order_no,
        account_id=account_id,
        member_key=member_key,
        member_id=member_id,
        appid=claims.get("appid"),
        product_id=body["product_id"],
        product_name=snapshot["name"],
        product_image=snapshot["image"],
        unit_points=snapshot["price"],
        quantity=quantity,
        points_total=snapshot["price"] * quantity,
        status=PENDING_SHIPMENT,
        idempotency_key=key,
        request_hash=digest,
        shipping_enc=_cipher().encrypt(json.dumps(body["address"], ensure_ascii=False))
        if body.get("address")
        else None,
        remark=body.get("remark"),
        created_at=now,
        updated_at=now,
    )
    db.session.add(order)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        if _is_order_no_clash(exc, order_no):
            raise _OrderNoTaken from None
        raise
    notification_id = _notification(order.id, "redeemed")
    # The stock last: the product row is the hot one, locked for the shortest time (this UPDATE, the
    # stock log row, the commit).
    taken = db.session.execute(
        update(Product)
        .where(Product.id == body["product_id"], Product.stock >= quantity, Product.on_shelf.is_(True))
        .values(stock=Product.stock - quantity, sold=Product.sold + quantity, updated_at=now)
    ).rowcount
    if not taken:
        db.session.rollback()
        raise _short_of_stock(shelf_product(body["product_id"]), quantity)  # 404 if it just left the shelf
    order_id = order.id
    log_stock(order.product_id, -quantity, "redemption", order_id=order_id, operator="member")
    facts.stage_order(order)  # reported to data analysis when this commits
    db.session.commit()
    _queue_notification(notification_id)
    return db.session.get(Order, order_id), True


# ---------------------------------------------------------------- reading


def _order_filters(stmt, args: dict):
    if args.get("status"):
        stmt = stmt.where(Order.status == args["status"])
    if args.get("q"):
        q = args["q"].strip()
        stmt = stmt.where(
            or_(Order.order_no == q, Order.member_key == q, Order.tracking_no == q, Order.product_name.like(f"%{q}%"))
        )
    for name in ("account_id", "product_id", "member_id"):
        if args.get(name):
            stmt = stmt.where(getattr(Order, name) == args[name])
    if args.get("created_from"):
        stmt = stmt.where(Order.created_at >= args["created_from"])
    if args.get("created_to"):
        stmt = stmt.where(Order.created_at < args["created_to"])
    return stmt


def list_orders(args: dict) -> dict:
    stmt = _order_filters(select(Order), args).order_by(Order.id.desc())
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise ApiError(404, f"No order {order_id}.")
    return order


def my_orders(claims: dict, args: dict) -> dict:
    account = account_for_member(claims)
    return list_orders({"status": args.get("status"), "account_id": account.id, **_page(args)})


def _page(args: dict) -> dict:
    return {"page": args["page"], "page_size": args["page_size"]}


def my_order(claims: dict, order_id: int) -> Order:
    account = account_for_member(claims)
    order = db.session.get(Order, order_id)
    if order is None or order.account_id != account.id:
        raise ApiError(404, f"No order {order_id}.")
    return order


def shipping_of(order: Order) -> dict | None:
    return json.loads(_cipher().decrypt(order.shipping_enc)) if order.shipping_enc else None


def masked_shipping(order: Order) -> dict | None:
    shipping = shipping_of(order)
    if shipping is None or can_see_pii():
        return shipping
    name, address = shipping.get("name") or "", shipping.get("address") or ""
    return {
        "name": (name[:1] + "*" * max(1, len(name) - 1)) if name else name,
        "phone": mask_phone(shipping.get("phone")),
        "address": address[:6] + "****" if len(address) > 6 else "****",
    }


def order_entries(order: Order) -> list[LedgerEntry]:
    return list(
        db.session.execute(
            select(LedgerEntry)
            .where(
                LedgerEntry.business_id == order.order_no,
                LedgerEntry.business_type.in_((REDEMPTION, REDEMPTION_REFUND)),
            )
            .order_by(LedgerEntry.id)
        ).scalars()
    )


def notifications_of(order: Order) -> list[OrderNotification]:
    return list(
        db.session.execute(
            select(OrderNotification).where(OrderNotification.order_id == order.id).order_by(OrderNotification.id)
        ).scalars()
    )


# ---------------------------------------------------------------- status changes


def _claim(order_id: int, from_statuses: tuple[str, ...], values: dict, account_id: int | None = None) -> Order:
    """Move the order out of `from_statuses` with a conditional UPDATE (one winner); 404/409 otherwise."""
    stmt = update(Order).where(Order.id == order_id, Order.status.in_(from_statuses))
    if account_id is not None:
        stmt = stmt.where(Order.account_id == account_id)
    moved = db.session.execute(stmt.values(**values, updated_at=utcnow())).rowcount
    if not moved:
        db.session.rollback()
        order = db.session.get(Order, order_id)
        if order is None or (account_id is not None and order.account_id != account_id):
            raise ApiError(404, f"No order {order_id}.")
        raise ApiError(
            409,
            f"Order {order.order_no} is {order.status}: this needs it to be {' or '.join(from_statuses)}.",
            f"order_{order.status}",
        )
    return db.session.get(Order, order_id)


def ship(order_id: int, carrier: str, tracking_no: str, who: str | None) -> Order:
    order = _claim(
        order_id,
        (PENDING_SHIPMENT,),
        {"status": SHIPPED, "carrier": carrier, "tracking_no": tracking_no, "shipped_at": utcnow(), "handled_by": who},
    )
    notification_id = _notification(order.id, "shipped")
    db.session.commit()
    _queue_notification(notification_id)
    return get_order(order_id)


def complete(order_id: int, who: str | None, account_id: int | None = None) -> Order:
    _claim(order_id, (SHIPPED,), {"status": COMPLETED, "completed_at": utcnow()}, account_id)
    notification_id = _notification(order_id, "completed")
    db.session.commit()
    _queue_notification(notification_id)
    return get_order(order_id)


@retry_on_deadlock
def _give_back(order_id: int, from_statuses: tuple[str, ...], to_status: str, reason: str | None, who, account_id):
    """Cancel or refund: the status claim, then points and stock back, exactly once (one transaction)."""
    now = utcnow()
    stamp = {"cancelled_at": now} if to_status == CANCELLED else {"refunded_at": now}
    order = _claim(
        order_id,
        from_statuses,
        {"status": to_status, "cancel_reason": (reason or None) and reason[:255], "handled_by": who, **stamp},
        account_id,
    )
    redemption = db.session.execute(
        select(LedgerEntry.id).where(LedgerEntry.business_type == REDEMPTION, LedgerEntry.business_id == order.order_no)
    ).scalar_one()
    label = "取消" if to_status == CANCELLED else "退款"
    try:
        ledger.refund(
            redemption,
            REDEMPTION_REFUND,
            order.order_no,
            reason=f"订单{label}：{order.product_name} ×{order.quantity}",
            operator=who or "member",
        )
    except IntegrityError:  # a refund entry for this order exists: its points went back already
        db.session.rollback()
        raise ApiError(409, f"Order {order.order_no} was already given back.", "order_already_refunded") from None
    db.session.execute(
        update(Product)
        .where(Product.id == order.product_id)
        .values(stock=Product.stock + order.quantity, sold=Product.sold - order.quantity, updated_at=now)
    )
    log_stock(
        order.product_id,
        order.quantity,
        "cancel" if to_status == CANCELLED else "refund",
        order_id=order.id,
        note=reason,
        operator=who or "member",
    )
    notification_id = _notification(order.id, to_status)
    db.session.commit()
    _queue_notification(notification_id)
    return get_order(order_id)


def cancel(order_id: int, reason: str | None, who: str | None, account_id: int | None = None) -> Order:
    """Before shipment: the order is cancelled, its points and stock go back."""
    return _give_back(order_id, (PENDING_SHIPMENT,), CANCELLED, reason, who, account_id)


def refund(order_id: int, reason: str | None, who: str | None) -> Order:
    """After shipment (shipped or completed): refunded, points and stock back."""
    return _give_back(order_id, (SHIPPED, COMPLETED), REFUNDED, reason, who, None)


def member_cancel(claims: dict, order_id: int, reason: str | None) -> Order:
    account = account_for_member(claims)
    return cancel(order_id, reason or "会员取消", None, account.id)


def member_confirm(claims: dict, order_id: int) -> Order:
    account = account_for_member(claims)
    return complete(order_id, None, account.id)


# ---------------------------------------------------------------- export


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def export_csv(args: dict) -> Iterator[str]:
    """The filtered orders as CSV rows (header first), in keyset batches; personal fields masked without PII."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow(
        [
            "order_no",
            "status",
            "created_at",
            "member_key",
            "product",
            "quantity",
            "points",
            "receiver",
            "phone",
            "address",
            "carrier",
            "tracking_no",
            "shipped_at",
            "completed_at",
            "cancelled_at",
            "refunded_at",
            "reason",
            "remark",
        ]
    )
    yield "\ufeff" + flush()  # a BOM so spreadsheet software reads UTF-8 (Chinese) correctly
    after, sent = None, 0
    while sent < EXPORT_LIMIT:
        stmt = _order_filters(select(Order), args).order_by(Order.id.desc()).limit(EXPORT_BATCH)
        if after is not None:
            stmt = stmt.where(Order.id < after)
        rows = db.session.execute(stmt).scalars().all()
        if not rows:
            break
        for order in rows:
            shipping = masked_shipping(order) or {}
            writer.writerow(
                [
                    _cell(v)
                    for v in (
                        order.order_no,
                        STATUS_LABELS.get(order.status, order.status),
                        f"{order.created_at:%Y-%m-%d %H:%M:%S}",
                        order.member_key,
                        order.product_name,
                        order.quantity,
                        order.points_total,
                        shipping.get("name"),
                        shipping.get("phone"),
                        shipping.get("address"),
                        order.carrier,
                        order.tracking_no,
                        order.shipped_at,
                        order.completed_at,
                        order.cancelled_at,
                        order.refunded_at,
                        order.cancel_reason,
                        order.remark,
                    )
                ]
            )
        sent += len(rows)
        after = rows[-1].id
        db.session.rollback()
        yield flush()


# ---------------------------------------------------------------- notifications (worker)


class RetryLater(Exception):
    pass


def _settle(notification_id: int, status: str, detail: str) -> str:
    db.session.execute(
        update(OrderNotification)
        .where(OrderNotification.id == notification_id, OrderNotification.status == "pending")
        .values(status=status, detail=detail[:255], updated_at=utcnow())
    )
    db.session.commit()
    return status


def _values(order: Order) -> dict:
    when = order.refunded_at or order.cancelled_at or order.completed_at or order.shipped_at or order.created_at
    local = when + timedelta(minutes=int(get_rules().get("timezone_offset_minutes", 480)))
    return {
        "order_no": order.order_no,
        "product_name": order.product_name[:20],
        "quantity": order.quantity,
        "points": order.points_total,
        "status": STATUS_LABELS.get(order.status, order.status),
        "carrier": order.carrier or "",
        "tracking_no": order.tracking_no or "",
        "reason": (order.cancel_reason or "")[:20],
        "time": f"{local:%Y-%m-%d %H:%M}",
    }


def process_notification(notification_id: int) -> str:
    """Claim a subscribe grant for the member, then hand the message to the message center (idempotent)."""
    from wedraw.core.internal import call_service

    notification = db.session.get(OrderNotification, notification_id)
    if notification is None:
        return "missing"
    if notification.status != "pending":
        return notification.status
    order = db.session.get(Order, notification.order_id)
    rule = get_rules()["notifications"].get(notification.event) or {}
    if not rule.get("enabled"):
        return _settle(notification.id, "skipped", "no notification is configured for this event")
    use_key = f"points-order-{order.order_no}-{notification.event}"
    db.session.execute(
        update(OrderNotification)
        .where(OrderNotification.id == notification.id)
        .values(attempts=OrderNotification.attempts + 1, updated_at=utcnow())
    )
    db.session.commit()
    try:
        claim = call_service(
            "miniprogram",
            "POST",
            "/internal/miniprogram/grants/claim",
            caller="points_mall",
            timeout=5,
            json={
                "member_key": order.member_key,
                "template_id": rule["wechat_template_id"],
                "use_key": use_key,
                **({"appid": order.appid} if order.appid else {}),
            },
        )
    except ApiError as exc:
        if exc.code in (404, 409, 422):
            return _settle(notification.id, "failed", f"miniprogram refused: {exc.description}")
        raise RetryLater(exc.description) from None
    if not claim.get("granted"):
        return _settle(notification.id, "skipped", f"the member has no subscribe grant ({claim.get('outcome')})")
    values = _values(order)
    message = {
        "idempotency_key": use_key,
        "channel": "mp_subscribe",
        "sender": claim["appid"],
        "to": claim["openid"],
        "template_id": rule["message_template_id"],
        "data": {name: render(text, values) for name, text in (rule.get("data") or {}).items()},
    }
    try:
        current_app.extensions["celery"].send_task(
            SEND_TASK, kwargs={"message": message, "caller": "points_mall"}, queue=MESSAGE_CENTER_QUEUE
        )
    except Exception as exc:  # the broker: retried (the grant claim answers the same for the same key)
        raise RetryLater(f"broker: {type(exc).__name__}") from None
    return _settle(notification.id, "sent", "handed to the message center")


def fail_notification(notification_id: int, detail: str) -> str:
    return _settle(notification_id, "failed", detail)


def sweep_notifications(grace_seconds: int = 120, limit: int = 500) -> int:
    """Pending notifications whose task was lost (broker down at the commit, a killed worker): queued again."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    ids = list(
        db.session.execute(
            select(OrderNotification.id)
            .where(OrderNotification.status == "pending", OrderNotification.updated_at < cutoff)
            .order_by(OrderNotification.id)
            .limit(limit)
        ).scalars()
    )
    db.session.rollback()
    celery = current_app.extensions["celery"]
    sent = 0
    for notification_id in ids:
        try:
            celery.send_task(NOTIFY_TASK, args=[notification_id], queue=QUEUE)
        except Exception:
            break
        db.session.execute(
            update(OrderNotification).where(OrderNotification.id == notification_id).values(updated_at=utcnow())
        )
        sent += 1
    db.session.commit()
    return sent


def account_of(order: Order) -> PointsAccount:
    return db.session.get(PointsAccount, order.account_id)
