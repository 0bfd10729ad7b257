"""The daily roll-up over 1,000,000 facts: seconds, beside the same aggregation as one raw SQL GROUP BY.

    .venv/bin/python bench/analytics_rollup.py                   # MariaDB root@127.0.0.1
    .venv/bin/python bench/analytics_rollup.py --sqlite          # the embedded profile's SQLite instead
    .venv/bin/python bench/analytics_rollup.py --facts 200000    # smaller

Facts (follows by QR scene, points by business type, sends by channel, orders by product, over
two accounts) are generated straight into a fresh `data_analysis` database at head, spread evenly
over `--days` local days in time order (as services report them), then:
- baseline: `SELECT day, metric, account, dimension, COUNT(*), SUM(amount) FROM da_facts GROUP BY
  day, metric, account, dimension`, every row fetched: the aggregation alone, nothing written;
- `rollup_range()`: what the beat job and `python -m wedraw.cli analytics backfill` run: per day,
  delete its rows and insert them again from INSERT ... SELECT ... GROUP BY, one transaction a day;
- the same roll-up again (a re-run replaces each day: same rows, same time).
The database (`wedraw_bench_analytics_rollup`) is dropped and made again each run. One table.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "wedraw_bench_analytics_rollup"
SHAPES = [
    ("wechat.subscribe", "fans.follow", ["poster", "shop", "expo", ""], 1),
    ("wechat.unsubscribe", "fans.unfollow", [""], 1),
    ("wechat.scan", "qrcode.scan", ["poster", "shop", "expo"], 1),
    ("points.credit", "points.earned", ["sign_in", "subscribe_bonus", "streak_bonus"], 10),
    ("points.debit", "points.spent", ["redemption", "expiry"], 100),
    ("points.order", "orders", [str(n) for n in range(1, 21)], 300),
    ("message.send", "sends.sent", ["template", "subscribe", "wecom_app"], 1),
]


def _environ(args, var_dir: Path) -> dict[str, str]:
    env = {"WEDRAW_PROFILE": "embedded", "WEDRAW_VAR_DIR": str(var_dir), "WEDRAW_LOG_LEVEL": "WARNING"}
    if not args.sqlite:
        env["WEDRAW_DATA_ANALYSIS_DATABASE_URL"] = f"{args.mysql.rstrip('/')}/{DATABASE}?charset=utf8mb4"
    return env


def _generate(app, facts: int, first: date, days: int) -> float:
    from sqlalchemy import insert

    from wedraw.data_analysis.facts import LOCAL_OFFSET
    from wedraw.data_analysis.models import Fact, db

    rng = random.Random(1)
    started = time.perf_counter()
    now = datetime(2026, 1, 1)
    with app.app_context():
        engine = db.engine
        chunk = 20_000
        for base in range(0, facts, chunk):
            rows = []
            for n in range(base, min(base + chunk, facts)):
                kind, metric, dimensions, amount = SHAPES[n % len(SHAPES)]
                day = first + timedelta(days=n * days // facts)  # in time order, as facts arrive
                moment = datetime(day.year, day.month, day.day, 12) - LOCAL_OFFSET
                rows.append(
                    {
                        "event_id": f"bench:{n}",
                        "source": "bench",
                        "kind": kind,
                        "metric": metric,
                        "account": "wxBenchA" if n % 3 else "wxBenchB",
                        "dimension": rng.choice(dimensions),
                        "label": None,
                        "ref": None,
                        "amount": amount,
                        "day": day,
                        "occurred_at": moment,
                        "openid": None,
                        "unionid": None,
                        "data": None,
                        "received_at": now,
                    }
                )
            with engine.begin() as conn:
                conn.execute(insert(Fact), rows)
        engine.dispose()
    return time.perf_counter() - started


def _timed(app, fn) -> dict:
    with app.app_context():
        started = time.perf_counter()
        result = fn()
        return {"seconds": time.perf_counter() - started, "result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mysql", default=os.environ.get("WEDRAW_PROD_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite (the embedded profile) instead of MariaDB")
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-analytics-rollup-"))
    env = _environ(args, var_dir)
    if not args.sqlite:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.mysql)
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
            conn.execute(text(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"))
        engine.dispose()
    from sqlalchemy import func, select, text

    from wedraw.core.config import load_settings
    from wedraw.core.factory import create_app
    from wedraw.core.migrations import upgrade
    from wedraw.data_analysis.models import DailyStat, db
    from wedraw.data_analysis.rollup import rollup_range

    settings = load_settings(environ=env)
    upgrade("data_analysis", settings=settings)
    app = create_app("data_analysis", settings=settings)
    first = date(2026, 1, 1)
    last = first + timedelta(days=args.days - 1)
    generated_in = _generate(app, args.facts, first, args.days)

    def group_by():
        rows = db.session.execute(
            text(
                "SELECT day, metric, account, dimension, COUNT(*), SUM(amount) FROM da_facts "
                "GROUP BY day, metric, account, dimension"
            )
        ).all()
        db.session.rollback()
        return f"{len(rows):,} groups, {sum(r[4] for r in rows):,} facts"

    def rollup():
        result = rollup_range(first, last)
        counted = db.session.execute(select(func.sum(DailyStat.count))).scalar_one()
        db.session.rollback()
        return f"{result['days']} days, {result['rows']:,} daily rows, {counted:,} facts"

    baseline = _timed(app, group_by)
    rolled = _timed(app, rollup)
    again = _timed(app, rollup)
    with app.app_context():
        db.engine.dispose()

    backend = "SQLite" if args.sqlite else "MariaDB"
    print(
        f"\nDaily roll-up: {backend}, {args.facts:,} facts over {args.days} days "
        f"(generated in {generated_in:.0f} s), {os.cpu_count()} CPUs"
    )
    header = f"{'scenario':<46} {'seconds':>8} {'facts/s':>11}  result"
    print(header)
    print("-" * len(header))
    for name, row in (
        ("baseline: one raw GROUP BY, rows fetched", baseline),
        ("rollup_range(): every day rebuilt", rolled),
        ("rollup_range() again (days replaced)", again),
    ):
        rate = args.facts / row["seconds"]
        print(f"{name:<46} {row['seconds']:>8.2f} {rate:>11,.0f}  {row['result']}")


if __name__ == "__main__":
    main()
