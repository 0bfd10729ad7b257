"""Demo facts for the embedded profile: 60 days of a small WeChat estate, so `make run` shows full charts.

The facts are shaped exactly as the services report them (same kinds and data) and go through the
same insert-ignore path, under `demo:` event ids, so re-seeding adds only days not seeded yet.
The days are then rolled up as the beat job would.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select

from wedraw.data_analysis.facts import LOCAL_OFFSET, record
from wedraw.data_analysis.models import Fact, db
from wedraw.data_analysis.rollup import rollup_range, today_local

DAYS = 60
SCENES = ["门店海报", "展会易拉宝", "公众号菜单", "朋友圈广告"]
MENU_KEYS = ["V1001_POINTS", "V1002_MALL", "V1003_SERVICE"]
PRODUCTS = [(1, "品牌保温杯", 800), (2, "帆布购物袋", 300), (3, "咖啡兑换券", 150), (4, "蓝牙耳机", 3000)]
CHANNELS = ["template", "subscribe", "wecom_app"]
FAILURES = ["user", "quota", "config"]


def _fact(event_id: str, kind: str, when: datetime, source: str, appid=None, **data) -> dict:
    return {
        "event_id": event_id,
        "source": source,
        "kind": kind,
        "appid": appid,
        "openid": data.pop("openid", None),
        "unionid": None,
        "occurred_at": when.isoformat() + "Z",
        "data": data,
    }


def demo_facts(appid: str, corp_id: str, days: int = DAYS, seed: int = 20261128) -> list[dict]:
    rng = random.Random(seed)
    today = today_local()
    facts: list[dict] = []
    members, groups = 180, 24
    campaign = 0
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        start = datetime(day.year, day.month, day.day) - LOCAL_OFFSET  # local midnight, in UTC
        trend = 1 + (days - back) / days  # a growing estate

        def at(n: int, start: datetime = start) -> datetime:
            return start + timedelta(seconds=rng.randint(8 * 3600, 22 * 3600) + n)

        key = f"demo:{day.isoformat()}"
        for n in range(int(rng.randint(12, 30) * trend)):
            scene = rng.choice(SCENES + [None, None])
            facts.append(
                _fact(
                    f"{key}:follow:{n}",
                    "wechat.subscribe",
                    at(n),
                    "wechat_official",
                    appid,
                    openid=f"oDemo{day:%m%d}{n:03d}",
                    qr_scene=scene,
                )
            )
        for n in range(rng.randint(2, 9)):
            facts.append(_fact(f"{key}:unfollow:{n}", "wechat.unsubscribe", at(n), "wechat_official", appid))
        for n in range(rng.randint(10, 40)):
            facts.append(
                _fact(f"{key}:scan:{n}", "wechat.scan", at(n), "wechat_official", appid, qr_scene=rng.choice(SCENES))
            )
        for n in range(rng.randint(5, 25)):
            facts.append(
                _fact(
                    f"{key}:click:{n}", "wechat.click", at(n), "wechat_official", appid, event_key=rng.choice(MENU_KEYS)
                )
            )
        for n in range(rng.randint(8, 30)):
            facts.append(_fact(f"{key}:text:{n}", "wechat.text", at(n), "wechat_official", appid))
        for n in range(int(rng.randint(15, 40) * trend)):
            kind = rng.choice(["sign_in", "sign_in", "sign_in", "subscribe_bonus", "streak_bonus", "admin_grant"])
            amount = {"sign_in": 10, "subscribe_bonus": 100, "streak_bonus": 20, "admin_grant": 500}[kind]
            facts.append(
                _fact(
                    f"{key}:credit:{n}",
                    "points.credit",
                    at(n),
                    "points_mall",
                    business_type=kind,
                    business_id=f"demo-{day:%Y%m%d}-{n}",
                    amount=amount,
                    account_id=rng.randint(1, 300),
                )
            )
        for n in range(rng.randint(1, 8)):
            product_id, name, price = rng.choice(PRODUCTS)
            quantity = rng.choice([1, 1, 1, 2])
            order_no = f"D{day:%Y%m%d}{n:04d}"
            facts.append(
                _fact(
                    f"{key}:order:{n}",
                    "points.order",
                    at(n),
                    "points_mall",
                    product_id=product_id,
                    product_name=name,
                    quantity=quantity,
                    points_total=price * quantity,
                    order_no=order_no,
                )
            )
            facts.append(
                _fact(
                    f"{key}:debit:{n}",
                    "points.debit",
                    at(n),
                    "points_mall",
                    business_type="redemption",
                    business_id=order_no,
                    amount=-price * quantity,
                )
            )
        if back % 7 == 3:  # a weekly campaign
            campaign += 1
            targeted = rng.randint(80, 160)
            channel = rng.choice(CHANNELS)
            cid = 9000 + campaign
            for n in range(targeted):
                failed = rng.random() < 0.12
                facts.append(
                    _fact(
                        f"{key}:send:{n}",
                        "message.send",
                        at(n),
                        "message_center",
                        channel=channel,
                        outcome="failed" if failed else "sent",
                        reason=rng.choice(FAILURES) if failed else None,
                        campaign_id=cid,
                    )
                )
            facts.append(
                _fact(
                    f"{key}:campaign",
                    "message.campaign",
                    at(999),
                    "message_center",
                    campaign_id=cid,
                    name=f"第 {campaign} 期会员周报",
                    channel=channel,
                    total=targeted,
                )
            )
        for n in range(rng.randint(5, 20)):  # single sends
            facts.append(
                _fact(
                    f"{key}:single:{n}",
                    "message.send",
                    at(n),
                    "message_center",
                    channel=rng.choice(CHANNELS),
                    outcome="sent",
                )
            )
        members += rng.randint(0, 3)
        groups += rng.choice([0, 0, 1])
        facts.append(_fact(f"{key}:members", "wecom.members", at(0), "wecom", corp_id=corp_id, count=members))
        facts.append(_fact(f"{key}:groups", "wecom.groups", at(0), "wecom", corp_id=corp_id, count=groups))
    return facts


def seed_demo(settings) -> str | None:
    if settings.is_production:
        return None
    from wedraw.sandbox.demo import demo_accounts

    demo = demo_accounts(settings.extra)
    before = db.session.execute(select(func.count()).select_from(Fact)).scalar_one()
    facts = demo_facts(demo.official.appid, demo.wecom.corp_id)
    stored = 0
    for start in range(0, len(facts), 1000):
        stored += record(facts[start : start + 1000])["stored"]
    today = today_local()
    rollup_range(today - timedelta(days=DAYS), today)
    if not stored:
        return None
    return f"Seeded {stored} demo analytics facts ({before} before) and rolled up the last {DAYS} days"
