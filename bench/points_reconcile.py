"""Reconciliation over 1,000,000 ledger entries: seconds and peak memory, beside one plain aggregate query.

    .venv/bin/python bench/points_reconcile.py                     # MariaDB root@127.0.0.1
    .venv/bin/python bench/points_reconcile.py --sqlite            # the embedded profile's SQLite instead
    .venv/bin/python bench/points_reconcile.py --entries 200000    # smaller

The ledger is generated straight into a fresh database at head (`--accounts` accounts, each with
entries alternating one credit of 500 and four debits of 100, their lots holding exactly the
balance), then:
- baseline: `SELECT account_id, SUM(amount) FROM points_entries GROUP BY account_id`, every row
  fetched into memory: the least any check must read, with nothing compared;
- `reconcile()`: what the nightly job and `python -m wedraw.cli points reconcile` run: every
  balance against the sum of its entries and of its open lots, a batch of accounts per query.
The database (`wedraw_bench_reconcile`) is dropped and made again each run.
Each is timed alone, then run again under tracemalloc for its peak Python memory. One table.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "wedraw_bench_reconcile"
CREDIT, DEBIT, DEBITS_PER_CREDIT = 500, 100, 4


def _environ(args, var_dir: Path) -> dict[str, str]:
    env = {"WEDRAW_PROFILE": "embedded", "WEDRAW_VAR_DIR": str(var_dir), "WEDRAW_LOG_LEVEL": "WARNING"}
    if not args.sqlite:
        env["WEDRAW_POINTS_MALL_DATABASE_URL"] = f"{args.mysql.rstrip('/')}/{DATABASE}?charset=utf8mb4"
    return env


def _generate(app, accounts: int, per_account: int) -> tuple[int, float]:
    """Accounts, entries and lots written with bulk inserts; returns (entries, seconds)."""
    from datetime import datetime

    from sqlalchemy import insert

    from wedraw.points_mall.models import ADMIN_DEDUCT, ADMIN_GRANT, LedgerEntry, PointsAccount, PointsLot, db

    started = time.perf_counter()
    now = datetime(2026, 1, 1)
    group = DEBITS_PER_CREDIT + 1
    credits = per_account // group
    balance = credits * (CREDIT - DEBITS_PER_CREDIT * DEBIT)
    open_lots = balance // CREDIT  # the newest lots hold the balance, whole
    entries_written = 0
    with app.app_context():
        engine = db.engine
        with engine.begin() as conn:
            conn.execute(
                insert(PointsAccount),
                [
                    {
                        "id": a,
                        "member_key": f"unionid:bench{a:07d}",
                        "balance": balance,
                        "total_earned": credits * CREDIT,
                        "total_spent": credits * DEBITS_PER_CREDIT * DEBIT,
                        "total_expired": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for a in range(1, accounts + 1)
                ],
            )
        entry_id = lot_id = 0
        chunk = max(1, 20_000 // per_account)
        for first in range(1, accounts + 1, chunk):
            entries, lots = [], []
            for account in range(first, min(first + chunk, accounts + 1)):
                running = 0
                for n in range(credits * group):
                    entry_id += 1
                    is_credit = n % group == 0
                    amount = CREDIT if is_credit else -DEBIT
                    running += amount
                    entries.append(
                        {
                            "id": entry_id,
                            "account_id": account,
                            "business_type": ADMIN_GRANT if is_credit else ADMIN_DEDUCT,
                            "business_id": f"bench:{entry_id}",
                            "amount": amount,
                            "balance_after": running,
                            "reason": None,
                            "operator": "bench",
                            "created_at": now,
                        }
                    )
                    if is_credit:
                        lot_id += 1
                        remaining = CREDIT if n // group >= credits - open_lots else 0
                        lots.append(
                            {
                                "id": lot_id,
                                "account_id": account,
                                "entry_id": entry_id,
                                "amount": CREDIT,
                                "remaining": remaining,
                                "earned_at": now,
                            }
                        )
            with engine.begin() as conn:
                conn.execute(insert(LedgerEntry), entries)
                conn.execute(insert(PointsLot), lots)
            entries_written += len(entries)
        engine.dispose()
    return entries_written, time.perf_counter() - started


def _measure(app, fn) -> dict:
    """Seconds (alone), then peak traced Python memory (a second run) and the process's RSS high-water mark."""
    with app.app_context():
        gc.collect()
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        gc.collect()
        tracemalloc.start()
        fn()
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"seconds": seconds, "peak_mb": peak / 2**20, "result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mysql", default=os.environ.get("WEDRAW_PROD_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite (the embedded profile) instead of MariaDB")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    per_account = max(DEBITS_PER_CREDIT + 1, args.entries // args.accounts)

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-reconcile-"))
    env = _environ(args, var_dir)
    if not args.sqlite:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.mysql)
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
            conn.execute(text(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"))
        engine.dispose()
    from sqlalchemy import func, select

    from wedraw.core.config import load_settings
    from wedraw.core.factory import create_app
    from wedraw.core.migrations import upgrade
    from wedraw.points_mall.models import LedgerEntry, db
    from wedraw.points_mall.settlement import reconcile

    settings = load_settings(environ=env)
    upgrade("points_mall", settings=settings)
    app = create_app("points_mall", settings=settings)
    entries, generated_in = _generate(app, args.accounts, per_account)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def aggregate():
        rows = db.session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.account_id)
        ).all()
        db.session.rollback()
        return len(rows)

    def full():
        run = reconcile("bench")
        return f"{run.accounts_checked} accounts, {run.entries_checked} entries, {run.mismatch_count} mismatches"

    baseline = _measure(app, aggregate)
    checked = _measure(app, full)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with app.app_context():
        db.engine.dispose()

    backend = "SQLite" if args.sqlite else "MariaDB"
    print(
        f"\nReconciliation: {backend}, {entries:,} ledger entries over {args.accounts:,} accounts "
        f"(generated in {generated_in:.0f} s), {os.cpu_count()} CPUs"
    )
    header = f"{'scenario':<44} {'seconds':>8} {'entries/s':>11} {'peak MB':>8}  result"
    print(header)
    print("-" * len(header))
    for name, row in (
        ("baseline: one GROUP BY, rows fetched", baseline),
        ("reconcile(): balances vs ledger and lots", checked),
    ):
        rate = entries / row["seconds"]
        print(f"{name:<44} {row['seconds']:>8.2f} {rate:>11,.0f} {row['peak_mb']:>8.1f}  {row['result']}")
    print(f"process RSS high-water: {rss_before:.0f} MB after generating, {rss_after:.0f} MB after both runs")


if __name__ == "__main__":
    main()
