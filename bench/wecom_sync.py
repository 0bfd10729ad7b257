"""Full WeCom contacts sync from the sandbox, beside a raw bulk insert of the same rows, in the same run.

    .venv/bin/python bench/wecom_sync.py                                   # 50,000 members, 2,000 departments, MariaDB
    .venv/bin/python bench/wecom_sync.py --members 5000 --departments 200 --sqlite

The sync is the real one (`wedraw.wecom.jobs.run`): `department/list`, then `user/list` for every
department (a few calls in flight) over loopback HTTP to the sandbox, hashing, chunked Core
inserts of members and their department links, progress commits. The sandbox runs in its own
process (as WeChat would), on free ports of 127.0.0.1. The baseline inserts the very rows the
sync wrote (read back, tables emptied) with plain executemany in chunks of 1,000. A second
sync of the unchanged organisation is timed too. Prints one table; every wait is bounded.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_DB = "wedraw_bench_wecom"
DEFAULT_MYSQL = os.environ.get("WEDRAW_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(members: int, departments: int, deadline: float) -> tuple[subprocess.Popen, str, str, float]:
    """The sandbox in its own process on loopback; waits (bounded) until both hosts answer."""
    official, wecom = free_port(), free_port()
    argv = [
        sys.executable,
        "-m",
        "wedraw.sandbox",
        "--host",
        "127.0.0.1",
        "--official-port",
        str(official),
        "--wecom-port",
        str(wecom),
        "--fans",
        "0",
        "--members",
        str(members),
        "--departments",
        str(departments),
        "--callback-base",
        "",
    ]
    env = dict(os.environ, WEDRAW_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    urls = (f"http://127.0.0.1:{official}", f"http://127.0.0.1:{wecom}")
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the sandbox exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if all(requests.get(u + "/health", timeout=1).status_code == 200 for u in urls):
                return process, urls[0], urls[1], time.perf_counter() - started
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the sandbox did not start in time")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--departments", type=int, default=2_000)
    parser.add_argument("--mysql", default=DEFAULT_MYSQL, help="MariaDB/MySQL server URL (a bench database is made)")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of MariaDB")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout

    from sqlalchemy import create_engine, delete, func, insert, select, text

    from wedraw.core.config import load_settings
    from wedraw.core.factory import create_app
    from wedraw.core.migrations import upgrade

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-wecom-"))
    environ = {"WEDRAW_VAR_DIR": str(var_dir), "WEDRAW_LOG_LEVEL": "WARNING"}
    if not args.sqlite:
        engine = create_engine(args.mysql)
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DB}"))
            conn.execute(text(f"CREATE DATABASE {BENCH_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        engine.dispose()
        environ["WEDRAW_WECOM_DATABASE_URL"] = args.mysql.rstrip("/") + f"/{BENCH_DB}?charset=utf8mb4"
    settings = load_settings(environ=environ, profile="test")
    upgrade("wecom", settings=settings)

    sandbox, official_url, wecom_url, world_seconds = start_sandbox(args.members, args.departments, deadline)
    try:
        settings = dataclasses.replace(settings, wechat_api_base=official_url, wecom_api_base=wecom_url)
        app = create_app("wecom", settings=settings)
        from wedraw.sandbox.demo import demo_accounts

        demo = demo_accounts(settings.extra).wecom
        with app.app_context():
            from wedraw.wecom import jobs, services
            from wedraw.wecom.models import Department, Member, MemberDepartment, SyncJob, db

            corp = services.create_corp(
                {
                    "corp_id": demo.corp_id,
                    "name": "bench",
                    "apps": [{"agent_id": demo.agent_id, "name": "bench", "secret": demo.secret}],
                }
            )

            def sync() -> tuple[float, SyncJob]:
                if time.monotonic() > deadline:
                    raise SystemExit("out of time")
                job = jobs.create_job(corp.id, "contacts", "bench")
                begin = time.perf_counter()
                outcome = jobs.run(job.id)
                elapsed = time.perf_counter() - begin
                job = db.session.get(SyncJob, job.id)
                if outcome != "succeeded":
                    raise SystemExit(f"sync {outcome}: {job.error}")
                return elapsed, job

            first_seconds, first = sync()
            inserted = first.inserted
            second_seconds, second = sync()
            unchanged = second.unchanged
            members = db.session.execute(select(func.count()).select_from(Member)).scalar_one()
            links = db.session.execute(select(func.count()).select_from(MemberDepartment)).scalar_one()
            depts = db.session.execute(select(func.count()).select_from(Department)).scalar_one()
            assert members == inserted == args.members, (members, inserted)
            assert depts == args.departments and unchanged == args.members, (depts, unchanged)

            tables = [Department.__table__, Member.__table__, MemberDepartment.__table__]
            rows = {t.name: [dict(r._mapping) for r in db.session.execute(select(t))] for t in tables}
            db.session.execute(delete(MemberDepartment))
            db.session.execute(delete(Member))
            db.session.execute(delete(Department))
            db.session.commit()
            begin = time.perf_counter()
            with db.engine.begin() as conn:
                for table in tables:
                    batch = rows[table.name]
                    for start in range(0, len(batch), 1000):
                        conn.execute(insert(table), batch[start : start + 1000])
            raw_seconds = time.perf_counter() - begin
            db.engine.dispose()
    finally:
        sandbox.send_signal(signal.SIGTERM)
        try:
            sandbox.wait(timeout=20)
        except subprocess.TimeoutExpired:
            sandbox.kill()

    backend = "SQLite" if args.sqlite else "MariaDB"
    print(
        f"\nWeCom contacts sync: {args.members:,} members in {args.departments:,} departments from the sandbox "
        f"into {backend} ({links:,} department links; sandbox world built in {world_seconds:.1f} s)"
    )
    header = f"{'scenario':<46} {'seconds':>8} {'members/s':>10} {'vs raw':>7}"
    print(header)
    print("-" * len(header))
    for name, seconds in (
        ("raw bulk insert of the same rows (baseline)", raw_seconds),
        (f"full sync ({inserted:,} inserted)", first_seconds),
        (f"second full sync ({unchanged:,} unchanged)", second_seconds),
    ):
        print(f"{name:<46} {seconds:>8.2f} {args.members / seconds:>10.0f} {seconds / raw_seconds:>6.1f}x")
    print("target: the full sync under 60 s")


if __name__ == "__main__":
    main()
