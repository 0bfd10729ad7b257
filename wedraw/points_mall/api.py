"""Points mall HTTP API: thin views, schema in, one service call, schema out.

Three audiences, each on its own routes:
- anyone (public): the catalog (`/api/points/catalog/...`), product images, the earning rules;
- members (member token, `@member_required`): `/api/points/me/...` and `POST /api/points/orders`
  (redeem, with an `Idempotency-Key` header); an admin token gets 403 there;
- operators (admin token + permission): accounts, ledger, grants/deductions, rules, categories,
  products, stock, orders (ship, complete, cancel, refund, export), reconciliation, expiry runs;
  a member token gets 403 there.
"""

from __future__ import annotations

from datetime import date

from flask import Response, current_app, request, send_file, stream_with_context
from flask_smorest import Api, Blueprint
from marshmallow import ValidationError

from wedraw.core.audit import set_target
from wedraw.core.auth import current_member, member_required, public, requires
from wedraw.core.errors import ApiError, ErrorSchema
from wedraw.core.pagination import PageArgs
from wedraw.points_mall import catalog, orders, services, settlement
from wedraw.points_mall import schemas as s
from wedraw.points_mall.rules import rules_version, update_rules

PUBLIC = {"security": []}
MEMBER_DOC = {"security": [{"bearerAuth": []}]}
MEMBER_ONLY = "Not a member token (an admin token is refused here)"
UPLOAD_MAX_BYTES = catalog.IMAGE_MAX_BYTES + 64 * 1024

catalog_blp = Blueprint(
    "points-catalog",
    __name__,
    url_prefix="/api/points/catalog",
    description="The mall as members see it (public): categories, products on the shelf, earning rules",
)
images_blp = Blueprint(
    "points-images", __name__, url_prefix="/api/points/images", description="Product images: upload, and serve"
)
me_blp = Blueprint(
    "points-me",
    __name__,
    url_prefix="/api/points/me",
    description="The member's points (member token): balance, ledger, daily sign-in and calendar, orders",
)
orders_blp = Blueprint(
    "points-orders",
    __name__,
    url_prefix="/api/points/orders",
    description="Exchange orders: redeem (POST, member token, Idempotency-Key); operators: list, ship, cancel...",
)
accounts_blp = Blueprint(
    "points-accounts",
    __name__,
    url_prefix="/api/points/accounts",
    description="Points accounts (one per member key), their ledgers, admin grants and deductions",
)
ledger_blp = Blueprint("points-ledger", __name__, url_prefix="/api/points/ledger", description="Ledger search")
rules_blp = Blueprint(
    "points-rules",
    __name__,
    url_prefix="/api/points/rules",
    description="Earning rules, expiry and order notifications",
)
categories_blp = Blueprint(
    "points-categories", __name__, url_prefix="/api/points/categories", description="Mall categories"
)
products_blp = Blueprint(
    "points-products",
    __name__,
    url_prefix="/api/points/products",
    description="Mall products and their stock (every change logged)",
)
jobs_blp = Blueprint(
    "points-jobs",
    __name__,
    url_prefix="/api/points",
    description="Reconciliation, expiry runs and the dashboard numbers",
)


def _member_refusals(blp):
    def mark(fn):
        fn = blp.alt_response(403, schema=ErrorSchema, description=MEMBER_ONLY)(fn)
        return blp.alt_response(401, schema=ErrorSchema, description="No member token, or an expired one")(fn)

    return mark


# ---------------------------------------------------------------- catalog (public)


@catalog_blp.route("/categories", methods=["GET"])
@catalog_blp.arguments(PageArgs, location="query")
@catalog_blp.response(200, s.page_of_categories)
@catalog_blp.doc(**PUBLIC)
@public
def catalog_categories(args):
    """Enabled categories, in their sort order."""
    return catalog.list_categories(args, public=True)


@catalog_blp.route("/products", methods=["GET"])
@catalog_blp.arguments(s.CatalogQuerySchema, location="query")
@catalog_blp.response(200, s.page_of_products)
@catalog_blp.doc(**PUBLIC)
@public
def catalog_products(args):
    """Products on the shelf (in enabled categories), in their sort order."""
    return catalog.list_products(args, public=True)


@catalog_blp.route("/products/<id:product_id>", methods=["GET"])
@catalog_blp.response(200, s.PointsProductSchema)
@catalog_blp.doc(**PUBLIC)
@public
def catalog_product(product_id):
    """A product on the shelf; 404 when unknown or off the shelf."""
    return catalog.shelf_product(product_id)


@catalog_blp.route("/rules", methods=["GET"])
@catalog_blp.response(200, s.PublicRulesSchema)
@catalog_blp.doc(**PUBLIC)
@public
def catalog_rules():
    """How points are earned and when they expire (for the 积分规则 page)."""
    return services.public_rules()


# ---------------------------------------------------------------- images


@images_blp.before_request
def _allow_uploads():
    if request.endpoint == "points-images.upload_image":
        request.max_content_length = UPLOAD_MAX_BYTES


@images_blp.route("", methods=["POST"])
@images_blp.doc(
    requestBody={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": s.ImageUploadSchema,
                "encoding": {"file": {"contentType": "image/png, image/jpeg, image/gif, image/webp"}},
            }
        },
    }
)
@images_blp.response(201, s.ImageSchema)
@requires("points:products:write")
def upload_image():
    """Uploads a product picture (PNG, JPEG, GIF or WebP, at most 5 MB); name it in a product's `images`."""
    try:
        form = s.ImageUploadSchema().load({"file": request.files.get("file")})
    except ValidationError as exc:
        raise ApiError(422, "Invalid or unknown fields: file", errors=exc.messages) from None
    image = catalog.store_image(form["file"].read(catalog.IMAGE_MAX_BYTES + 1))
    set_target(f"points_image:{image['name']}")
    return image


@images_blp.route("/<string:name>", methods=["GET"])
@images_blp.doc(
    security=[],
    responses={
        "200": {
            "description": "The image",
            "content": {f"image/{t}": {"schema": {"type": "string", "format": "binary"}} for t in ("png", "jpeg")},
        }
    },
)
@public
def get_image(name):
    path = catalog.image_path(name)
    return send_file(path, mimetype=catalog.IMAGE_TYPES[path.suffix.lstrip(".")], max_age=86400 * 30)


# ---------------------------------------------------------------- the member (member token)


@me_blp.route("", methods=["GET"])
@me_blp.response(200, s.MySummarySchema)
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def my_summary():
    """Balance, totals, today's sign-in and streak, points expiring within 30 days."""
    return services.my_summary(current_member())


@me_blp.route("/ledger", methods=["GET"])
@me_blp.arguments(s.MyLedgerQuerySchema, location="query")
@me_blp.response(200, s.page_of_entries)
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def my_ledger(args):
    """The member's ledger, newest first."""
    return services.my_ledger(current_member(), args)


@me_blp.route("/sign-ins", methods=["POST"])
@me_blp.response(201, s.SignInResultSchema)
@me_blp.alt_response(409, schema=ErrorSchema, description="Already signed in today (`already_signed_in`)")
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def sign_in():
    """Today's sign-in: the daily points, plus a streak bonus when the streak reaches one. Once a day."""
    return services.sign_in(current_member())


@me_blp.route("/sign-ins", methods=["GET"])
@me_blp.arguments(s.CalendarArgs, location="query")
@me_blp.response(200, s.CalendarSchema)
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def sign_in_calendar(args):
    """The sign-in calendar of a month, the current streak and the next bonus."""
    month = date.fromisoformat(args["month"] + "-01") if args.get("month") else None
    return services.calendar(current_member(), month)


@me_blp.route("/orders", methods=["GET"])
@me_blp.arguments(s.MyOrderQuerySchema, location="query")
@me_blp.response(200, s.page_of_my_orders)
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def my_orders(args):
    """The member's orders, newest first."""
    return orders.my_orders(current_member(), args)


@me_blp.route("/orders/<id:order_id>", methods=["GET"])
@me_blp.response(200, s.PointsMyOrderSchema)
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def my_order(order_id):
    return orders.my_order(current_member(), order_id)


@me_blp.route("/orders/<id:order_id>/cancel", methods=["POST"])
@me_blp.arguments(s.ReasonSchema, required=False)
@me_blp.response(200, s.PointsMyOrderSchema)
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def my_order_cancel(body, order_id):
    """Cancels the member's order before shipment: points and stock go back (once)."""
    return orders.member_cancel(current_member(), order_id, (body or {}).get("reason"))


@me_blp.route("/orders/<id:order_id>/confirm", methods=["POST"])
@me_blp.response(200, s.PointsMyOrderSchema)
@_member_refusals(me_blp)
@me_blp.doc(**MEMBER_DOC)
@member_required
def my_order_confirm(order_id):
    """The member confirms a shipped order arrived: completed."""
    return orders.member_confirm(current_member(), order_id)


# ---------------------------------------------------------------- orders


@orders_blp.route("", methods=["POST"])
@orders_blp.arguments(s.IdempotencyHeaderSchema, location="headers")
@orders_blp.arguments(s.RedeemSchema)
@orders_blp.response(201, s.PointsMyOrderSchema)
@orders_blp.alt_response(200, schema=s.PointsMyOrderSchema, description="A retry: the order this key made")
@orders_blp.alt_response(404, schema=ErrorSchema, description="Unknown or off-shelf product")
@orders_blp.alt_response(
    409,
    schema=ErrorSchema,
    description="insufficient_points, insufficient_stock, purchase_limit_exceeded, idempotency_key_reused",
)
@_member_refusals(orders_blp)
@orders_blp.doc(**MEMBER_DOC)
@member_required
def redeem(headers, body):
    """Redeems a product (member token): points and stock taken in one transaction.

    A retry with the same `Idempotency-Key` returns the same order (200) and takes nothing more;
    the same key with a different body is 409. Nothing changes on any refusal."""
    order, created = orders.redeem(current_member(), headers["idempotency_key"], body)
    return order, 201 if created else 200


@orders_blp.route("", methods=["GET"])
@orders_blp.arguments(s.PointsOrderQuerySchema, location="query")
@orders_blp.response(200, s.page_of_orders)
@requires("points:orders:read")
def list_orders(args):
    return orders.list_orders(args)


@orders_blp.route("/export", methods=["GET"])
@orders_blp.arguments(s.PointsOrderExportSchema, location="query")
@orders_blp.doc(
    responses={"200": {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {"schema": {"type": "string"}}}}}
)
@requires("points:orders:read")
def export_orders(args):
    """The filtered orders as CSV (at most 100,000, newest first); addresses masked without pii:personal:read."""
    rows = stream_with_context(orders.export_csv(args))
    response = Response(rows, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="points-orders.csv"'
    return response


@orders_blp.route("/<id:order_id>", methods=["GET"])
@orders_blp.response(200, s.PointsOrderDetailSchema)
@requires("points:orders:read")
def get_order(order_id):
    return orders.get_order(order_id)


@orders_blp.route("/<id:order_id>/ship", methods=["POST"])
@orders_blp.arguments(s.ShipSchema)
@orders_blp.response(200, s.PointsOrderDetailSchema)
@requires("points:orders:write")
def ship_order(body, order_id):
    """Pending shipment → shipped, with the carrier and tracking number (409 from any other status)."""
    set_target(f"points_order:{order_id}")
    return orders.ship(order_id, body["carrier"], body["tracking_no"], services.who())


@orders_blp.route("/<id:order_id>/complete", methods=["POST"])
@orders_blp.response(200, s.PointsOrderDetailSchema)
@requires("points:orders:write")
def complete_order(order_id):
    """Shipped → completed."""
    set_target(f"points_order:{order_id}")
    return orders.complete(order_id, services.who())


@orders_blp.route("/<id:order_id>/cancel", methods=["POST"])
@orders_blp.arguments(s.ReasonSchema, required=False)
@orders_blp.response(200, s.PointsOrderDetailSchema)
@requires("points:orders:write")
def cancel_order(body, order_id):
    """Pending shipment → cancelled: points and stock go back, exactly once."""
    set_target(f"points_order:{order_id}")
    return orders.cancel(order_id, (body or {}).get("reason"), services.who())


@orders_blp.route("/<id:order_id>/refund", methods=["POST"])
@orders_blp.arguments(s.ReasonSchema, required=False)
@orders_blp.response(200, s.PointsOrderDetailSchema)
@requires("points:orders:write")
def refund_order(body, order_id):
    """Shipped or completed → refunded: points and stock go back, exactly once (a second request is 409)."""
    set_target(f"points_order:{order_id}")
    return orders.refund(order_id, (body or {}).get("reason"), services.who())


# ---------------------------------------------------------------- accounts and the ledger


@accounts_blp.route("", methods=["GET"])
@accounts_blp.arguments(s.PointsAccountQuerySchema, location="query")
@accounts_blp.response(200, s.page_of_accounts)
@requires("points:accounts:read")
def list_accounts(args):
    return services.list_accounts(args)


@accounts_blp.route("/<id:account_id>", methods=["GET"])
@accounts_blp.response(200, s.PointsAccountSchema)
@requires("points:accounts:read")
def get_account(account_id):
    return services.get_account(account_id)


@accounts_blp.route("/<id:account_id>/ledger", methods=["GET"])
@accounts_blp.arguments(s.MyLedgerQuerySchema, location="query")
@accounts_blp.response(200, s.page_of_entries)
@requires("points:accounts:read")
def account_ledger(args, account_id):
    return services.account_ledger(account_id, args)


def _adjust(direction: str, headers: dict, body: dict, account_id: int):
    set_target(f"points_account:{account_id}")
    entry, created = services.adjust(
        account_id, direction, body["amount"], body["reason"], headers.get("idempotency_key")
    )
    return entry, 201 if created else 200


@accounts_blp.route("/<id:account_id>/grants", methods=["POST"])
@accounts_blp.arguments(s.OptionalIdempotencyHeaderSchema, location="headers")
@accounts_blp.arguments(s.PointsAdjustmentSchema)
@accounts_blp.response(201, s.PointsEntrySchema)
@accounts_blp.alt_response(200, schema=s.PointsEntrySchema, description="A retry with the same Idempotency-Key")
@requires("points:accounts:write")
def grant_points(headers, body, account_id):
    """Grants points (ledger type admin_grant, with the reason); audited."""
    return _adjust("grant", headers, body, account_id)


@accounts_blp.route("/<id:account_id>/deductions", methods=["POST"])
@accounts_blp.arguments(s.OptionalIdempotencyHeaderSchema, location="headers")
@accounts_blp.arguments(s.PointsAdjustmentSchema)
@accounts_blp.response(201, s.PointsEntrySchema)
@accounts_blp.alt_response(200, schema=s.PointsEntrySchema, description="A retry with the same Idempotency-Key")
@accounts_blp.alt_response(409, schema=ErrorSchema, description="insufficient_points")
@requires("points:accounts:write")
def deduct_points(headers, body, account_id):
    """Deducts points (ledger type admin_deduct, with the reason; never below zero: 409); audited."""
    return _adjust("deduct", headers, body, account_id)


@ledger_blp.route("", methods=["GET"])
@ledger_blp.arguments(s.PointsLedgerQuerySchema, location="query")
@ledger_blp.response(200, s.page_of_entries)
@requires("points:accounts:read")
def search_ledger(args):
    """Ledger entries of every account, newest first, by account, member key, type, business id or time."""
    return services.search_ledger(args)


# ---------------------------------------------------------------- rules


def _rules_out() -> dict:
    rules, version, updated_at, updated_by = rules_version()
    return {"rules": rules, "version": version, "updated_at": updated_at, "updated_by": updated_by}


@rules_blp.route("", methods=["GET"])
@rules_blp.response(200, s.RulesOutSchema)
@requires("points:rules:read")
def get_rules():
    return _rules_out()


@rules_blp.route("", methods=["PATCH"])
@rules_blp.arguments(s.RulesUpdateSchema)
@rules_blp.response(200, s.RulesOutSchema)
@requires("points:rules:write")
def patch_rules(body):
    """Replaces the sections given (notifications: the events given); audited."""
    set_target("points_rules")
    update_rules(body, services.who())
    return _rules_out()


# ---------------------------------------------------------------- categories


@categories_blp.route("", methods=["GET"])
@categories_blp.arguments(s.PointsCategoryQuerySchema, location="query")
@categories_blp.response(200, s.page_of_categories)
@requires("points:products:read")
def list_categories(args):
    return catalog.list_categories(args)


@categories_blp.route("", methods=["POST"])
@categories_blp.arguments(s.PointsCategoryCreateSchema)
@categories_blp.response(201, s.PointsCategorySchema)
@requires("points:products:write")
def create_category(body):
    category = catalog.create_category(body)
    set_target(f"points_category:{category.id}")
    return category


@categories_blp.route("/<id:category_id>", methods=["GET"])
@categories_blp.response(200, s.PointsCategorySchema)
@requires("points:products:read")
def get_category(category_id):
    return catalog.get_category(category_id)


@categories_blp.route("/<id:category_id>", methods=["PATCH"])
@categories_blp.arguments(s.PointsCategoryUpdateSchema)
@categories_blp.response(200, s.PointsCategorySchema)
@requires("points:products:write")
def update_category(body, category_id):
    set_target(f"points_category:{category_id}")
    return catalog.update_category(category_id, body)


@categories_blp.route("/<id:category_id>", methods=["DELETE"])
@categories_blp.response(204)
@requires("points:products:write")
def delete_category(category_id):
    """Only an empty category (409 otherwise)."""
    set_target(f"points_category:{category_id}")
    catalog.delete_category(category_id)


# ---------------------------------------------------------------- products


@products_blp.route("", methods=["GET"])
@products_blp.arguments(s.PointsProductQuerySchema, location="query")
@products_blp.response(200, s.page_of_products)
@requires("points:products:read")
def list_products(args):
    return catalog.list_products(args)


@products_blp.route("", methods=["POST"])
@products_blp.arguments(s.PointsProductCreateSchema)
@products_blp.response(201, s.PointsProductSchema)
@requires("points:products:write")
def create_product(body):
    """A product; its initial stock is logged. Off the shelf unless `on_shelf`."""
    product = catalog.create_product(body, services.who())
    set_target(f"points_product:{product.id}")
    return product


@products_blp.route("/<id:product_id>", methods=["GET"])
@products_blp.response(200, s.PointsProductSchema)
@requires("points:products:read")
def get_product(product_id):
    return catalog.get_product(product_id)


@products_blp.route("/<id:product_id>", methods=["PATCH"])
@products_blp.arguments(s.PointsProductUpdateSchema)
@products_blp.response(200, s.PointsProductSchema)
@requires("points:products:write")
def update_product(body, product_id):
    """Everything but stock (see /stock); `on_shelf` puts it on or takes it off the shelf."""
    set_target(f"points_product:{product_id}")
    return catalog.update_product(product_id, body)


@products_blp.route("/<id:product_id>", methods=["DELETE"])
@products_blp.response(204)
@requires("points:products:write")
def delete_product(product_id):
    """Only a product never redeemed (409 otherwise: take it off the shelf)."""
    set_target(f"points_product:{product_id}")
    catalog.delete_product(product_id)


@products_blp.route("/<id:product_id>/stock", methods=["POST"])
@products_blp.arguments(s.StockAdjustSchema)
@products_blp.response(200, s.PointsProductSchema)
@products_blp.alt_response(409, schema=ErrorSchema, description="The stock would go below zero")
@requires("points:products:write")
def adjust_stock(body, product_id):
    """Adds or removes stock (logged with the note)."""
    set_target(f"points_product:{product_id}")
    return catalog.adjust_stock(product_id, body["change"], body.get("note"), services.who())


@products_blp.route("/<id:product_id>/stock-logs", methods=["GET"])
@products_blp.arguments(PageArgs, location="query")
@products_blp.response(200, s.page_of_stock_logs)
@requires("points:products:read")
def stock_logs(args, product_id):
    """Every stock change of the product, newest first."""
    return catalog.stock_logs(product_id, args)


# ---------------------------------------------------------------- jobs and the dashboard


@jobs_blp.route("/stats", methods=["GET"])
@jobs_blp.response(200, s.PointsStatsSchema)
@requires("points:accounts:read")
def stats():
    return services.stats()


@jobs_blp.route("/reconciliations", methods=["GET"])
@jobs_blp.arguments(PageArgs, location="query")
@jobs_blp.response(200, s.page_of_reconciliations)
@requires("points:accounts:read")
def list_reconciliations(args):
    return settlement.list_reconciliations(args)


@jobs_blp.route("/reconciliations", methods=["POST"])
@jobs_blp.response(202, s.QueuedSchema)
@requires("points:accounts:write")
def start_reconciliation():
    """Queues a reconciliation now (it also runs nightly); see the list for its result."""
    from wedraw.points_mall.tasks import RECONCILE_TASK

    try:
        current_app.extensions["celery"].send_task(RECONCILE_TASK, kwargs={"trigger": "console"}, queue=services.QUEUE)
    except Exception as exc:
        raise ApiError(503, f"The task queue is unavailable ({type(exc).__name__}).", "queue_unavailable") from None
    return {"status": "queued", "task": RECONCILE_TASK}


@jobs_blp.route("/reconciliations/<id:run_id>", methods=["GET"])
@jobs_blp.response(200, s.PointsReconciliationSchema)
@requires("points:accounts:read")
def get_reconciliation(run_id):
    return settlement.get_reconciliation(run_id)


@jobs_blp.route("/expiry-runs", methods=["GET"])
@jobs_blp.arguments(PageArgs, location="query")
@jobs_blp.response(200, s.page_of_expiry_runs)
@requires("points:accounts:read")
def list_expiry_runs(args):
    return settlement.list_expiry_runs(args)


def register(app, api: Api) -> None:
    for blp in (
        catalog_blp,
        images_blp,
        me_blp,
        orders_blp,
        accounts_blp,
        ledger_blp,
        rules_blp,
        categories_blp,
        products_blp,
        jobs_blp,
    ):
        api.register_blueprint(blp)
