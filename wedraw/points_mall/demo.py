"""The demo mall: categories, products with pictures, earning rules, and points for the demo member.

The demo member is the WeChat sandbox's first Mini Program user (world seed 1, person 0,
who also follows the demo Official Account): logging in to the points H5 through the
sandbox's `wx.login` (the default user) makes that member, and their points account (keyed
by their unionid) already holds a welcome grant, enough to redeem a demo product.
"""

from __future__ import annotations

import struct
import zlib

from sqlalchemy import select

from wedraw.points_mall import catalog, ledger
from wedraw.points_mall.models import ADMIN_GRANT, Category, LedgerEntry, PointsSettings, Product, db
from wedraw.points_mall.rules import update_rules
from wedraw.points_mall.services import ensure_account

CATEGORIES = (("数码好物", 10), ("生活家居", 20), ("虚拟权益", 30))
# name, category, price, stock, per-member limit, needs address, colour, description
PRODUCTS = (
    ("定制保温杯", "生活家居", 300, 50, 2, True, (0x2E, 0x86, 0xDE), "316 不锈钢内胆，保温 12 小时，WeDraw 定制款。"),
    ("蓝牙耳机", "数码好物", 1200, 10, 1, True, (0x33, 0x33, 0x33), "主动降噪，续航 24 小时，每位会员限兑 1 副。"),
    ("帆布袋", "生活家居", 80, 200, None, True, (0xE0, 0xB0, 0x5A), "加厚帆布，大容量，环保出行。"),
    ("10 元话费券", "虚拟权益", 100, 500, 5, False, (0x07, 0xC1, 0x60), "兑换后发放至绑定手机号，无需收货地址。"),
    ("视频会员月卡", "虚拟权益", 200, 100, 1, False, (0xFF, 0x6A, 0x3D), "主流视频平台会员 30 天，每位会员限兑 1 张。"),
    ("限量纪念徽章", "数码好物", 50, 0, 1, True, (0x8E, 0x44, 0xAD), "周年限定款，已兑完，补货敬请期待。"),
)
DEMO_STREAK_BONUSES = [{"days": 3, "points": 5, "repeat": False}, {"days": 7, "points": 50, "repeat": True}]
DEMO_WELCOME_POINTS = 500
DEMO_GRANT_ID = "admin:demo-member-welcome"
SANDBOX_WORLD_SEED = 1


def demo_png(colour: tuple[int, int, int], size: int = 240) -> bytes:
    """A product picture for the demo: a coloured card with a lighter disc (a valid PNG, no dependency)."""
    r, g, b = colour
    light = tuple(min(255, c + (255 - c) // 2) for c in colour)
    centre, radius2 = size / 2, (size * 0.3) ** 2
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")
        for x in range(size):
            inside = (x - centre) ** 2 + (y - centre) ** 2 <= radius2
            row += bytes(light if inside else (r, g, b))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def _demo_member_key(settings) -> str | None:
    """The sandbox's first Mini Program user, as a member key (only when WeChat is the sandbox)."""
    if not settings.wechat_api_base or settings.is_production:
        return None
    from wedraw.sandbox.world import person_profile

    return "unionid:" + person_profile(SANDBOX_WORLD_SEED, 0)["unionid"]


def seed_demo(settings) -> str | None:
    created = []
    if db.session.get(PointsSettings, 1) is None:
        update_rules({"sign_in": {"enabled": True, "daily_points": 10, "streak_bonuses": DEMO_STREAK_BONUSES}}, "seed")
    categories = {}
    for name, order in CATEGORIES:
        category = db.session.execute(select(Category).where(Category.name == name)).scalar_one_or_none()
        if category is None:
            category = catalog.create_category({"name": name, "sort_order": order, "enabled": True})
            created.append(name)
        categories[name] = category.id
    for index, (name, category, price, stock, limit, address, colour, description) in enumerate(PRODUCTS):
        if db.session.execute(select(Product.id).where(Product.name == name)).first():
            continue
        image = catalog.store_image(demo_png(colour))
        catalog.create_product(
            {
                "name": name,
                "category_id": categories[category],
                "description": description,
                "images": [image["name"]],
                "points_price": price,
                "stock": stock,
                "per_member_limit": limit,
                "on_shelf": True,
                "needs_address": address,
                "sort_order": index * 10,
            },
            "seed",
        )
        created.append(name)
    key = _demo_member_key(settings)
    if key:
        account = ensure_account(key, key.removeprefix("unionid:"))
        granted = db.session.execute(
            select(LedgerEntry.id).where(
                LedgerEntry.business_type == ADMIN_GRANT, LedgerEntry.business_id == DEMO_GRANT_ID
            )
        ).first()
        if not granted:
            db.session.rollback()
            ledger.credit(
                account.id, DEMO_WELCOME_POINTS, ADMIN_GRANT, DEMO_GRANT_ID, reason="演示会员欢迎积分", operator="seed"
            )
            db.session.commit()
            created.append(f"{DEMO_WELCOME_POINTS} points for the demo member")
    if created:
        return "Points mall demo: " + ", ".join(created)
    return None
