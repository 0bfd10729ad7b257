"""Facts in, daily statistics, dashboard numbers out: each number equals a count made straight from the facts."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.analytics.conftest import fact

FIRST = date(2026, 10, 1)
DAYS = 14
SCENES = ["poster", "shop", "expo", ""]
TYPES = ["sign_in", "subscribe_bonus", "admin_grant", "streak_bonus"]


def seeded_facts(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    facts = []
    n = 0
    for offset in range(DAYS):
        day = FIRST + timedelta(days=offset)
        for _ in range(rng.randint(3, 12)):
            n += 1
            hour = rng.choice([0, 9, 23])  # 00:xx local is the previous UTC day: it must count on `day`
            appid = rng.choice(["wxA", "wxB"])
            facts.append(fact(f"f{n}", "wechat.subscribe", day, hour, appid=appid, qr_scene=rng.choice(SCENES)))
        for _ in range(rng.randint(0, 4)):
            n += 1
            facts.append(fact(f"f{n}", "wechat.unsubscribe", day, appid="wxA"))
        for _ in range(rng.randint(0, 6)):
            n += 1
            facts.append(fact(f"f{n}", "wechat.scan", day, appid="wxA", qr_scene=rng.choice(SCENES[:3])))
        for _ in range(rng.randint(2, 8)):
            n += 1
            facts.append(
                fact(f"f{n}", "points.credit", day, business_type=rng.choice(TYPES), amount=rng.randint(1, 50))
            )
        for _ in range(rng.randint(0, 5)):
            n += 1
            product = rng.choice([1, 2, 3])
            quantity = rng.randint(1, 3)
            facts.append(
                fact(
                    f"f{n}",
                    "points.order",
                    day,
                    product_id=product,
                    product_name=f"商品{product}",
                    quantity=quantity,
                    points_total=100 * product * quantity,
                    order_no=f"O{n}",
                )
            )
            n += 1
            facts.append(fact(f"f{n}", "points.debit", day, business_type="redemption", amount=-100 * product))
        for corp, base in (("corpX", 100), ("corpY", 40)):
            for reading in (base + offset, base + offset + 2):  # two syncs a day: the day keeps the higher
                n += 1
                facts.append(fact(f"f{n}", "wecom.members", day, corp_id=corp, count=reading))
    for i in range(30):
        n += 1
        sent = i % 3 != 0
        facts.append(
            fact(
                f"f{n}",
                "message.send",
                FIRST + timedelta(days=i % 3),
                channel="template",
                outcome="sent" if sent else "failed",
                reason=None if sent else ("user" if i % 2 else "quota"),
                campaign_id=7,
            )
        )
    n += 1
    facts.append(
        fact(
            f"f{n}",
            "message.campaign",
            FIRST + timedelta(days=2),
            campaign_id=7,
            name="双十一",
            total=35,
            channel="template",
        )
    )
    return facts


def local_day(f: dict) -> date:
    from wedraw.data_analysis.facts import local_day as day_of
    from wedraw.data_analysis.facts import parse_time

    return day_of(parse_time(f["occurred_at"]))


@pytest.fixture
def seeded(record, rollup):
    facts = seeded_facts()
    for start in range(0, len(facts), 200):
        result = record(*facts[start : start + 200])
        assert result["invalid"] == 0
    rollup(FIRST, FIRST + timedelta(days=DAYS - 1))
    return facts


def _get(da, admin, path, **params):
    response = da.get(path, query_string=params, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_local_days_follow_china_time():
    f = fact("x", "wechat.subscribe", date(2026, 10, 5), hour=0)
    assert f["occurred_at"].startswith("2026-10-04T16:00")
    assert local_day(f) == date(2026, 10, 5)


def test_series_by_day_week_and_month_equal_counts_from_the_facts(da, admin, seeded):
    expected = Counter(local_day(f) for f in seeded if f["kind"] == "wechat.subscribe")
    last = FIRST + timedelta(days=DAYS - 1)
    body = _get(da, admin, "/api/analytics/dashboard/series", metric="new_fans", **{"from": FIRST, "to": last})
    assert [p["period"] for p in body["points"]] == [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert {p["period"]: p["value"] for p in body["points"]} == {
        d.isoformat(): expected[d] for d in (FIRST + timedelta(days=i) for i in range(DAYS))
    }
    assert body["total"] == sum(expected.values())

    weekly = _get(
        da,
        admin,
        "/api/analytics/dashboard/series",
        metric="new_fans",
        granularity="week",
        **{"from": FIRST, "to": last},
    )
    by_week = Counter()
    for d, count in expected.items():
        by_week[(d - timedelta(days=d.weekday())).isoformat()] += count
    assert {p["period"]: p["value"] for p in weekly["points"]} == dict(by_week)

    monthly = _get(
        da,
        admin,
        "/api/analytics/dashboard/series",
        metric="points_earned",
        granularity="month",
        **{"from": FIRST, "to": last},
    )
    earned = sum(f["data"]["amount"] for f in seeded if f["kind"] == "points.credit")
    assert monthly["points"] == [{"period": "2026-10", "value": earned}]


def test_kpis_with_change_against_the_previous_period(da, admin, seeded):
    first, last = FIRST + timedelta(days=7), FIRST + timedelta(days=13)
    prev = (FIRST, FIRST + timedelta(days=6))

    def count(kind, lo, hi, where=lambda f: True):
        return sum(1 for f in seeded if f["kind"] == kind and lo <= local_day(f) <= hi and where(f))

    body = _get(da, admin, "/api/analytics/dashboard/kpis", **{"from": first, "to": last})
    items = {i["metric"]: i for i in body["items"]}
    assert body["previous_from"] == prev[0].isoformat() and body["previous_to"] == prev[1].isoformat()

    follows, follows_before = count("wechat.subscribe", first, last), count("wechat.subscribe", *prev)
    assert items["new_fans"]["value"] == follows
    assert items["new_fans"]["previous"] == follows_before
    assert items["new_fans"]["change"] == round((follows - follows_before) * 100.0 / follows_before, 1)
    assert items["net_fans"]["value"] == follows - count("wechat.unsubscribe", first, last)
    assert items["sign_ins"]["value"] == count(
        "points.credit", first, last, lambda f: f["data"]["business_type"] == "sign_in"
    )
    assert items["orders"]["value"] == count("points.order", first, last)
    assert items["order_points"]["value"] == sum(
        f["data"]["points_total"] for f in seeded if f["kind"] == "points.order" and first <= local_day(f) <= last
    )
    assert items["points_spent"]["value"] == sum(
        -f["data"]["amount"] for f in seeded if f["kind"] == "points.debit" and first <= local_day(f) <= last
    )
    # A gauge is the last day's level (the higher of its two syncs, summed over corps), never a sum of days.
    assert items["wecom_members"]["value"] == (100 + 13 + 2) + (40 + 13 + 2)
    assert items["wecom_members"]["previous"] == (100 + 6 + 2) + (40 + 6 + 2)


def test_top_products_top_qrcodes_and_campaign_funnel(da, admin, seeded):
    rng = {"from": FIRST, "to": FIRST + timedelta(days=DAYS - 1)}
    orders = defaultdict(lambda: [0, 0])
    for f in seeded:
        if f["kind"] == "points.order":
            orders[str(f["data"]["product_id"])][0] += 1
            orders[str(f["data"]["product_id"])][1] += f["data"]["points_total"]
    top = _get(da, admin, "/api/analytics/dashboard/top-products", **rng)
    assert {p["product_id"]: [p["orders"], p["points"]] for p in top} == {k: v for k, v in orders.items()}
    assert [p["orders"] for p in top] == sorted((p["orders"] for p in top), reverse=True)
    assert top[0]["name"] == f"商品{top[0]['product_id']}"

    follows = Counter(
        (f["appid"], f["data"]["qr_scene"]) for f in seeded if f["kind"] == "wechat.subscribe" and f["data"]["qr_scene"]
    )
    scans = Counter((f["appid"], f["data"]["qr_scene"]) for f in seeded if f["kind"] == "wechat.scan")
    codes = _get(da, admin, "/api/analytics/dashboard/top-qrcodes", limit=100, **rng)
    assert {(c["account"], c["scene"]): (c["follows"], c["scans"]) for c in codes} == {
        key: (follows[key], scans[key]) for key in set(follows) | set(scans)
    }
    assert all(c["scene"] for c in codes)  # follows not through a QR code are no QR code

    funnels = _get(da, admin, "/api/analytics/dashboard/campaigns", **rng)
    assert funnels == [
        {
            "campaign_id": "7",
            "name": "双十一",
            "channel": "template",
            "targeted": 35,
            "sent": 20,
            "failed": 10,
            "failed_by_reason": [{"reason": "quota", "count": 5}, {"reason": "user", "count": 5}],
        }
    ]


def test_a_duplicate_fact_and_a_rerun_day_change_nothing(apps, da, admin, seeded, record, rollup):
    from wedraw.data_analysis.models import DailyStat, Fact, db

    def snapshot():
        with apps["data_analysis"].app_context():
            rows = db.session.execute(
                select(
                    DailyStat.day,
                    DailyStat.metric,
                    DailyStat.account,
                    DailyStat.dimension,
                    DailyStat.count,
                    DailyStat.total,
                ).order_by(DailyStat.day, DailyStat.metric, DailyStat.account, DailyStat.dimension)
            ).all()
            facts = db.session.execute(select(func.count()).select_from(Fact)).scalar_one()
            db.session.rollback()
            return [tuple(r) for r in rows], facts

    before = snapshot()
    kpis = _get(da, admin, "/api/analytics/dashboard/kpis", **{"from": FIRST, "to": FIRST + timedelta(days=DAYS - 1)})
    assert record(seeded[0]) == {"stored": 0, "duplicates": 1, "invalid": 0}  # a retried report
    assert record(seeded[1], seeded[2], seeded[1])["stored"] == 0  # a batch of repeats, one repeated in itself
    rollup(FIRST, FIRST + timedelta(days=DAYS - 1))
    rollup(FIRST + timedelta(days=3))
    assert snapshot() == before
    assert (
        _get(da, admin, "/api/analytics/dashboard/kpis", **{"from": FIRST, "to": FIRST + timedelta(days=DAYS - 1)})
        == kpis
    )


def test_a_late_fact_counts_once_the_day_is_rolled_up_again(da, admin, seeded, record, rollup):
    day = FIRST + timedelta(days=2)
    rng = {"from": day, "to": day}
    before = _get(da, admin, "/api/analytics/dashboard/series", metric="new_fans", **rng)["total"]
    assert record(fact("late-1", "wechat.subscribe", day, appid="wxA"))["stored"] == 1
    assert _get(da, admin, "/api/analytics/dashboard/series", metric="new_fans", **rng)["total"] == before
    rollup(day)
    assert _get(da, admin, "/api/analytics/dashboard/series", metric="new_fans", **rng)["total"] == before + 1


def test_malformed_facts_are_dropped_not_retried(record):
    result = record({"kind": "wechat.subscribe"}, {"event_id": "x", "kind": "k", "source": "s", "occurred_at": "soon"})
    assert result == {"stored": 0, "duplicates": 0, "invalid": 2}


def test_the_beat_job_is_locked_and_rolls_up_yesterday_and_today(apps, settings, analytics_celery, record, da, admin):
    from wedraw.core.store import lock, store_for
    from wedraw.data_analysis.rollup import ROLLUP_TASK, today_local

    today = today_local()
    record(
        fact("t1", "wechat.subscribe", today, hour=12, appid="wxA"),
        fact("y1", "wechat.subscribe", today - timedelta(days=1), hour=12, appid="wxA"),
    )
    with lock(store_for(settings), f"job:{ROLLUP_TASK}", ttl=30):
        assert analytics_celery.tasks[ROLLUP_TASK].apply().get() is None  # another run holds the lock: skipped
    result = analytics_celery.tasks[ROLLUP_TASK].apply().get()
    assert result["days"] == 2
    body = _get(
        da,
        admin,
        "/api/analytics/dashboard/series",
        metric="new_fans",
        **{"from": today - timedelta(days=1), "to": today},
    )
    assert [p["value"] for p in body["points"]] == [1, 1]


def test_backfill_cli_rolls_up_a_range_with_progress(settings, record, da, admin):
    from click.testing import CliRunner

    from wedraw.cli import cli

    record(fact("cli-1", "wechat.subscribe", FIRST, appid="wxA"), fact("cli-2", "wechat.subscribe", FIRST, appid="wxA"))
    env = {
        "WEDRAW_PROFILE": "test",
        "WEDRAW_VAR_DIR": str(settings.var_dir),
        "WEDRAW_DATA_ANALYSIS_DATABASE_URL": settings.database_url("data_analysis"),
        "WEDRAW_LOG_LEVEL": "WARNING",
    }
    last = FIRST + timedelta(days=2)
    result = CliRunner().invoke(cli, ["analytics", "backfill", "--from", str(FIRST), "--to", str(last)], env=env)
    assert result.exit_code == 0, result.output
    assert "rolling up" in result.output and "rolled up 3 day(s)" in result.output
    body = _get(da, admin, "/api/analytics/dashboard/series", metric="new_fans", **{"from": FIRST, "to": last})
    assert [p["value"] for p in body["points"]] == [2, 0, 0]
    backwards = CliRunner().invoke(cli, ["analytics", "backfill", "--from", str(last), "--to", str(FIRST)], env=env)
    assert backwards.exit_code == 2 and "ends before it starts" in backwards.output


def test_demo_seed_makes_every_chart_non_empty(apps, settings, da, admin):
    from wedraw.data_analysis import seed
    from wedraw.data_analysis.rollup import today_local

    messages = []
    with apps["data_analysis"].app_context():
        seed(apps["data_analysis"], messages.append)
        seed(apps["data_analysis"], messages.append)  # idempotent: nothing new the second time
    assert len(messages) == 1
    today = today_local()
    rng = {"from": today - timedelta(days=29), "to": today}
    kpis = _get(da, admin, "/api/analytics/dashboard/kpis", **rng)
    assert all(i["value"] != 0 for i in kpis["items"] if i["metric"] != "net_fans"), kpis
    assert _get(da, admin, "/api/analytics/dashboard/top-products", **rng)
    assert _get(da, admin, "/api/analytics/dashboard/top-qrcodes", **rng)
    funnels = _get(da, admin, "/api/analytics/dashboard/campaigns", **rng)
    assert funnels and all(f["targeted"] == f["sent"] + f["failed"] for f in funnels)


def test_breakdown_by_dimension_and_the_known_accounts(da, admin, seeded):
    rng = {"from": FIRST, "to": FIRST + timedelta(days=DAYS - 1)}
    expected = Counter()
    for f in seeded:
        if f["kind"] == "points.credit":
            expected[f["data"]["business_type"]] += f["data"]["amount"]
    body = _get(da, admin, "/api/analytics/dashboard/breakdown", metric="points_earned", **rng)
    assert {i["dimension"]: i["value"] for i in body["items"]} == dict(expected)
    assert [i["value"] for i in body["items"]] == sorted(expected.values(), reverse=True)

    for_a = _get(da, admin, "/api/analytics/dashboard/breakdown", metric="new_fans", account="wxA", **rng)
    follows_a = Counter(
        f["data"]["qr_scene"] for f in seeded if f["kind"] == "wechat.subscribe" and f["appid"] == "wxA"
    )
    assert {i["dimension"]: i["value"] for i in for_a["items"]} == dict(follows_a)

    refused = da.get(
        "/api/analytics/dashboard/breakdown", query_string={"metric": "net_fans", **rng}, headers=admin.headers
    )
    assert refused.status_code == 422 and "metric" in refused.get_json()["errors"]

    accounts = _get(da, admin, "/api/analytics/dashboard/accounts")
    assert accounts == [
        {"account": "corpX", "kind": "wecom"},
        {"account": "corpY", "kind": "wecom"},
        {"account": "wxA", "kind": "official_account"},
        {"account": "wxB", "kind": "official_account"},
    ]
    # A KPI for one account counts only that account's facts.
    only_b = _get(da, admin, "/api/analytics/dashboard/kpis", account="wxB", **rng)
    new_fans_b = sum(1 for f in seeded if f["kind"] == "wechat.subscribe" and f["appid"] == "wxB")
    assert {i["metric"]: i["value"] for i in only_b["items"]}["new_fans"] == new_fans_b
