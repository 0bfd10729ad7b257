"""The mall: categories, products (images, price, stock, purchase limit, shelf, order) and stock changes.

Stock changes only through guarded UPDATEs (`stock = stock + change WHERE stock + change >= 0`)
with a `StockLog` row in the same transaction: initial stock, adjustments, redemptions,
cancellations and refunds. A product's `stock` is never written from a number read earlier.

Images are uploaded once (`POST /api/points/images`), stored under the media directory
(`WEDRAW_MEDIA_DIR`, default `var/media`) as `points/<sha256 prefix>.<ext>`, and served
publicly at `/api/points/images/<name>` (product pictures are what members browse).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from flask import current_app
from sqlalchemy import DateTime, Integer, String, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.points_mall.models import Category, Order, Product, StockLog, db

IMAGE_MAX_BYTES = 5 * 1024 * 1024
IMAGE_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|gif|webp)$")
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
MAX_IMAGES = 9


# ---------------------------------------------------------------- images


def media_dir() -> Path:
    settings = current_app.config["WEDRAW_SETTINGS"]
    root = settings.extra.get("WEDRAW_MEDIA_DIR") or str(settings.var_dir / "media")
    return Path(root) / "points"


def image_url(name: str) -> str:
    return f"/api/points/images/{name}"


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def store_image(data: bytes) -> dict:
    """Keep an uploaded picture (PNG, JPEG, GIF or WebP, at most 5 MB); the same bytes get the same name."""
    if not data:
        raise ApiError(422, "The file is empty.", errors={"file": ["Empty."]})
    if len(data) > IMAGE_MAX_BYTES:
        raise ApiError(413, f"An image may have at most {IMAGE_MAX_BYTES >> 20} MB.", "payload_too_large")
    kind = _sniff(data)
    if kind is None:
        raise ApiError(422, "Not a PNG, JPEG, GIF or WebP image.", errors={"file": ["Unsupported image type."]})
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}"
    folder = media_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    return {"name": name, "url": image_url(name), "content_type": IMAGE_TYPES[kind], "size": len(data)}


def image_path(name: str) -> Path:
    if not IMAGE_NAME.match(name):
        raise ApiError(404, "No such image.")
    path = media_dir() / name
    if not path.is_file():
        raise ApiError(404, "No such image.")
    return path


def _check_images(names: list[str]) -> list[str]:
    missing = [n for n in names if not IMAGE_NAME.match(n) or not (media_dir() / n).is_file()]
    if missing:
        raise ApiError(
            422,
            "Upload images first (POST /api/points/images) and name them here.",
            errors={"images": [f"Unknown image {n!r}." for n in missing[:5]]},
        )
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------- categories


def list_categories(args: dict, public: bool = False) -> dict:
    stmt = select(Category)
    if public:
        stmt = stmt.where(Category.enabled.is_(True))
    elif args.get("enabled") is not None:
        stmt = stmt.where(Category.enabled.is_(args["enabled"]))
    return paginate(db.session, stmt.order_by(Category.sort_order, Category.id), args["page"], args["page_size"])


def get_category(category_id: int) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        raise ApiError(404, f"No category {category_id}.")
    return category


def _commit_unique(message: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, message, "conflict") from None


def create_category(data: dict) -> Category:
    category = Category(name=data["name"], sort_order=data.get("sort_order", 0), enabled=data.get("enabled", True))
    db.session.add(category)
    _commit_unique(f"A category named {data['name']!r} exists.")
    return category


def update_category(category_id: int, data: dict) -> Category:
    category = get_category(category_id)
    for name in ("name", "sort_order", "enabled"):
        if name in data:
            setattr(category, name, data[name])
    category.updated_at = utcnow()
    _commit_unique(f"A category named {data.get('name')!r} exists.")
    return category


def delete_category(category_id: int) -> None:
    category = get_category(category_id)
    used = db.session.execute(select(Product.id).where(Product.category_id == category.id).limit(1)).first()
    if used:
        raise ApiError(409, "Products are in this category: move them first.", "category_in_use")
    db.session.delete(category)
    db.session.commit()


# ---------------------------------------------------------------- products


def _product_filters(stmt, args: dict):
    if args.get("q"):
        stmt = stmt.where(or_(Product.name.like(f"%{args['q']}%"), Product.description.like(f"%{args['q']}%")))
    if args.get("category_id"):
        stmt = stmt.where(Product.category_id == args["category_id"])
    if args.get("on_shelf") is not None:
        stmt = stmt.where(Product.on_shelf.is_(args["on_shelf"]))
    if args.get("in_stock") is not None:
        stmt = stmt.where(Product.stock > 0 if args["in_stock"] else Product.stock == 0)
    return stmt


def list_products(args: dict, public: bool = False) -> dict:
    stmt = _product_filters(select(Product), args)
    if public:
        stmt = stmt.where(Product.on_shelf.is_(True)).outerjoin(Category, Category.id == Product.category_id)
        stmt = stmt.where(or_(Product.category_id.is_(None), Category.enabled.is_(True)))
    return paginate(db.session, stmt.order_by(Product.sort_order, Product.id.desc()), args["page"], args["page_size"])


def get_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        raise ApiError(404, f"No product {product_id}.")
    return product


def shelf_product(product_id: int) -> Product:
    """A product members may see and redeem: on the shelf (404 otherwise, as for an unknown one)."""
    product = db.session.get(Product, product_id)
    if product is None or not product.on_shelf:
        raise ApiError(404, "This product is not (or no longer) in the mall.", "product_not_found")
    return product


def _check_category(category_id: int | None) -> None:
    if category_id is not None and db.session.get(Category, category_id) is None:
        raise ApiError(422, f"No category {category_id}.", errors={"category_id": ["Unknown category."]})


def log_stock(product_id: int, change: int, reason: str, *, order_id=None, note=None, operator=None) -> None:
    """The stock log row for a change just made, with the stock after it, in one statement (the caller holds
    the product's row lock: on the hot path every round trip under it counts)."""
    columns = ["product_id", "change", "stock_after", "reason", "order_id", "note", "operator", "created_at"]
    source = select(
        Product.id,
        literal(change, Integer),
        Product.stock,
        literal(reason, String),
        literal(order_id, Integer),
        literal((note or None) and note[:255], String),
        literal(operator, String),
        literal(utcnow(), DateTime),
    ).where(Product.id == product_id)
    db.session.execute(insert(StockLog).from_select(columns, source))


def create_product(data: dict, who: str | None) -> Product:
    _check_category(data.get("category_id"))
    product = Product(
        category_id=data.get("category_id"),
        name=data["name"],
        description=data.get("description", ""),
        points_price=data["points_price"],
        stock=0,
        sold=0,
        per_member_limit=data.get("per_member_limit"),
        on_shelf=data.get("on_shelf", False),
        needs_address=data.get("needs_address", True),
        sort_order=data.get("sort_order", 0),
    )
    product.images = _check_images(data.get("images") or [])
    db.session.add(product)
    db.session.flush()
    initial = data.get("stock", 0)
    if initial:
        db.session.execute(update(Product).where(Product.id == product.id).values(stock=Product.stock + initial))
        log_stock(product.id, initial, "initial", operator=who)
    db.session.commit()
    db.session.refresh(product)
    return product


def update_product(product_id: int, data: dict) -> Product:
    """Everything but stock (stock changes are `adjust_stock`, logged)."""
    product = get_product(product_id)
    if "category_id" in data:
        _check_category(data["category_id"])
    for name in (
        "category_id",
        "name",
        "description",
        "points_price",
        "per_member_limit",
        "on_shelf",
        "needs_address",
        "sort_order",
    ):
        if name in data:
            setattr(product, name, data[name])
    if "images" in data:
        product.images = _check_images(data["images"] or [])
    product.updated_at = utcnow()
    db.session.commit()
    return product


def delete_product(product_id: int) -> None:
    product = get_product(product_id)
    ordered = db.session.execute(select(Order.id).where(Order.product_id == product.id).limit(1)).first()
    if ordered:
        raise ApiError(409, "Members have redeemed this product: take it off the shelf instead.", "product_in_use")
    db.session.delete(product)
    db.session.commit()


def adjust_stock(product_id: int, change: int, note: str | None, who: str | None) -> Product:
    """Add or remove stock; never below zero (409), always logged."""
    get_product(product_id)
    db.session.rollback()
    moved = db.session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock + change >= 0)
        .values(stock=Product.stock + change, updated_at=utcnow())
    ).rowcount
    if not moved:
        db.session.rollback()
        current = get_product(product_id).stock
        raise ApiError(409, f"Stock is {current}: it cannot go down by {-change}.", "insufficient_stock")
    log_stock(product_id, change, "adjustment", note=note, operator=who)
    db.session.commit()
    return get_product(product_id)


def stock_logs(product_id: int, args: dict) -> dict:
    get_product(product_id)
    stmt = select(StockLog).where(StockLog.product_id == product_id).order_by(StockLog.id.desc())
    return paginate(db.session, stmt, args["page"], args["page_size"])


def category_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(Category.id, Category.name).where(Category.id.in_(ids))).all())
