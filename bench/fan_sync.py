"""Full fan sync from the sandbox, beside a raw bulk insert of the same rows, in the same run.

    .venv/bin/python bench/fan_sync.py --mysql mysql+pymysql://root@127.0.0.1:3306/   # MariaDB (the target)
    .venv/bin/python bench/fan_sync.py --fans 20000                                   # SQLite, smaller

The sync is the real one (`wedraw.wechat_official.fan_sync.run`): `user/get` pages of
10,000, `user/info/batchget` of 100 over loopback HTTP to the sandbox, hashing, inserting.
The baseline inserts the very rows the sync wrote (read back, table emptied) with plain
executemany in chunks of 1,000. A second sync of the unchanged account is timed too.
Prints one table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_DB = "wedraw_bench_fans"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fans", type=int, default=100_000)
    parser.add_argument("--mysql", help="MariaDB/MySQL server URL (a bench database is created there)")
    args = parser.parse_args()

    from sqlalchemy import create_engine, delete, func, insert, select, text

    from wedraw.core.config import load_settings
    from wedraw.core.factory import create_app
    from wedraw.core.migrations import upgrade
    from wedraw.sandbox.server import start_sandbox

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-"))
    environ = {"WEDRAW_VAR_DIR": str(var_dir), "WEDRAW_LOG_LEVEL": "WARNING"}
    if args.mysql:
        engine = create_engine(args.mysql)
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DB}"))
            conn.execute(text(f"CREATE DATABASE {BENCH_DB} CHARACTER SET utf8mb4"))
        engine.dispose()
        environ["WEDRAW_WECHAT_OFFICIAL_DATABASE_URL"] = args.mysql.rstrip("/") + f"/{BENCH_DB}?charset=utf8mb4"
    settings = load_settings(environ=environ, profile="test")

    started = time.perf_counter()
    sandbox = start_sandbox(settings, fans=args.fans, members=1, departments=1, callback_base=None)
    world_seconds = time.perf_counter() - started
    try:
        import dataclasses

        settings = dataclasses.replace(settings, wechat_api_base=sandbox.official_url, wecom_api_base=sandbox.wecom_url)
        upgrade("wechat_official", settings=settings)
        app = create_app("wechat_official", settings=settings)
        demo = sandbox.world.demo.official
        with app.app_context():
            from wedraw.wechat_official import fan_sync
            from wedraw.wechat_official.models import Fan, FanSyncJob, db
            from wedraw.wechat_official.services import create_account

            account = create_account(
                {
                    "appid": demo.appid,
                    "name": "bench",
                    "secret": demo.secret,
                    "token": demo.token,
                    "aes_key": demo.aes_key,
                    "message_mode": "safe",
                }
            )

            def sync() -> tuple[float, FanSyncJob]:
                job = FanSyncJob(account_id=account.id, kind="full", status="pending")
                db.session.add(job)
                db.session.commit()
                begin = time.perf_counter()
                assert fan_sync.run(job.id) == "succeeded"
                elapsed = time.perf_counter() - begin
                return elapsed, db.session.get(FanSyncJob, job.id)

            first_seconds, first = sync()
            inserted = first.inserted
            second_seconds, second = sync()
            unchanged = second.unchanged
            count = db.session.execute(select(func.count()).select_from(Fan)).scalar_one()
            assert count == inserted == args.fans, (count, inserted)

            columns = [c for c in Fan.__table__.columns if c.name != "id"]
            rows = [dict(r._mapping) for r in db.session.execute(select(*columns))]
            db.session.execute(delete(Fan))
            db.session.commit()
            begin = time.perf_counter()
            with db.engine.begin() as conn:
                for start in range(0, len(rows), 1000):
                    conn.execute(insert(Fan.__table__), rows[start : start + 1000])
            raw_seconds = time.perf_counter() - begin
    finally:
        sandbox.stop()

    backend = "MariaDB" if args.mysql else "SQLite"
    print(
        f"\nFan sync: {args.fans:,} fans from the sandbox into {backend} (sandbox world built in {world_seconds:.1f} s)"
    )
    header = f"{'scenario':<44} {'seconds':>8} {'fans/s':>9} {'vs raw':>7}"
    print(header)
    print("-" * len(header))
    for name, seconds in (
        ("raw bulk insert of the same rows (baseline)", raw_seconds),
        (f"full sync ({inserted:,} inserted)", first_seconds),
        (f"second full sync ({unchanged:,} unchanged)", second_seconds),
    ):
        print(f"{name:<44} {seconds:>8.2f} {args.fans / seconds:>9.0f} {seconds / raw_seconds:>6.1f}x")
    print("targets: 100,000 fans under 60 s, within 3x the raw insert")


if __name__ == "__main__":
    main()
