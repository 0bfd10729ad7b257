"""An XLSX report of 1,000,000 ledger rows: seconds and peak memory, beside a plain csv-module writer.

    .venv/bin/python bench/analytics_xlsx.py                  # MariaDB root@127.0.0.1
    .venv/bin/python bench/analytics_xlsx.py --sqlite         # the embedded profile's SQLite instead
    .venv/bin/python bench/analytics_xlsx.py --rows 200000    # smaller

`--rows` points ledger facts (as the points mall reports them) are generated straight into a
fresh `data_analysis` database at head, then, after one unreported warm-up pass, each in a fresh
(spawned) child process so that its memory is its own:
- baseline: the same rows read the same way (keyset chunks) and written by a bare `csv.writer`;
- `generate()` of a CSV points-ledger report: what the reports worker runs, progress recorded;
- `generate()` of an XLSX points-ledger report: openpyxl in write-only mode (the target: peak
  memory under 200 MB).
Peak memory is the child's RSS high-water mark while the report was written (VmHWM, reset when the
writing starts; the interpreter and the app included), and how much above the RSS at the start it
went. One table.
The database (`wedraw_bench_analytics_xlsx`) is dropped and made again each run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "wedraw_bench_analytics_xlsx"
FIRST = date(2026, 3, 1)
DAYS = 28
TYPES = ["sign_in", "subscribe_bonus", "streak_bonus", "admin_grant", "redemption", "expiry"]


def _environ(args, var_dir: Path) -> dict[str, str]:
    env = {"WEDRAW_PROFILE": "embedded", "WEDRAW_VAR_DIR": str(var_dir), "WEDRAW_LOG_LEVEL": "WARNING"}
    if not args.sqlite:
        env["WEDRAW_DATA_ANALYSIS_DATABASE_URL"] = f"{args.mysql.rstrip('/')}/{DATABASE}?charset=utf8mb4"
    return env


def _generate(settings, rows: int) -> float:
    from sqlalchemy import insert

    from wedraw.core.factory import create_app
    from wedraw.data_analysis.facts import LOCAL_OFFSET
    from wedraw.data_analysis.models import Fact, db

    app = create_app("data_analysis", settings=settings)
    started = time.perf_counter()
    received = datetime(2026, 4, 1)
    with app.app_context():
        engine = db.engine
        for base in range(0, rows, 20_000):
            batch = []
            for n in range(base, min(base + 20_000, rows)):
                business_type = TYPES[n % len(TYPES)]
                credit = business_type not in ("redemption", "expiry")
                amount = 10 if credit else -30
                day = FIRST + timedelta(days=n % DAYS)
                moment = datetime(day.year, day.month, day.day, 9) - LOCAL_OFFSET + timedelta(seconds=n % 40_000)
                batch.append(
                    {
                        "event_id": f"points_mall:ledger:{business_type}:bench-{n}",
                        "source": "points_mall",
                        "kind": "points.credit" if credit else "points.debit",
                        "metric": "points.earned" if credit else "points.spent",
                        "account": "",
                        "dimension": business_type,
                        "label": None,
                        "ref": f"bench-{n}",
                        "amount": abs(amount),
                        "day": day,
                        "occurred_at": moment,
                        "openid": None,
                        "unionid": None,
                        "data": {
                            "entry_id": n + 1,
                            "account_id": n % 10_000 + 1,
                            "business_type": business_type,
                            "business_id": f"bench-{n}",
                            "amount": amount,
                            "balance_after": 1000 + n % 977,
                        },
                        "received_at": received,
                    }
                )
            with engine.begin() as conn:
                conn.execute(insert(Fact), batch)
        engine.dispose()
    return time.perf_counter() - started


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (this process's high-water mark) from /proc, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_high_water() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so the peak is the scenario's.
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def _child(settings, scenario: str, out) -> None:
    """One scenario in a fresh process: builds its own app and engines, reports seconds and memory."""
    import csv

    from wedraw.core.factory import create_app
    from wedraw.data_analysis import reports
    from wedraw.data_analysis.models import Report, db
    from wedraw.data_analysis.reading import read_session

    app = create_app("data_analysis", settings=settings)
    last = FIRST + timedelta(days=DAYS - 1)
    with app.app_context():
        before = _status_mb("VmRSS")
        _reset_high_water()
        started = time.perf_counter()
        if scenario == "baseline":
            path = settings.var_dir / "baseline.csv"
            with read_session() as session, open(path, "w", newline="", encoding="utf-8") as handle:
                headers, _total, rows = reports.SOURCES["points_ledger"](session, FIRST, last)
                writer = csv.writer(handle)
                writer.writerow(headers)
                written = sum(1 for _ in map(writer.writerow, rows))
            size = path.stat().st_size
        else:
            report = Report(kind="points_ledger", format=scenario, date_from=FIRST, date_to=last, requested_by="bench")
            db.session.add(report)
            db.session.commit()
            status = reports.generate(report.id)
            db.session.refresh(report)
            assert status == "done", (status, report.error)
            written, size = report.rows, report.size
        seconds = time.perf_counter() - started
        db.engine.dispose()
    peak = _status_mb("VmHWM")
    out.send({"seconds": seconds, "rows": written, "size": size, "rss": peak, "grew": peak - before})
    out.close()


def _run(settings, scenario: str) -> dict:
    # spawn, not fork: a fresh interpreter, so the high-water mark is this scenario's alone.
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(settings, scenario, send))
    process.start()
    result = receive.recv()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mysql", default=os.environ.get("WEDRAW_PROD_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite (the embedded profile) instead of MariaDB")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-analytics-xlsx-"))
    env = _environ(args, var_dir)
    if not args.sqlite:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.mysql)
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
            conn.execute(text(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"))
        engine.dispose()
    from wedraw.core.config import load_settings
    from wedraw.core.migrations import upgrade

    settings = load_settings(environ=env)
    upgrade("data_analysis", settings=settings)
    generated_in = _generate(settings, args.rows)
    _run(settings, "baseline")  # warm-up (the database's caches), not reported
    results = [
        (name, _run(settings, scenario))
        for name, scenario in (
            ("baseline: plain csv.writer, same rows", "baseline"),
            ("CSV report: generate()", "csv"),
            ("XLSX report: generate(), write-only", "xlsx"),
        )
    ]

    backend = "SQLite" if args.sqlite else "MariaDB"
    print(
        f"\nReport of the points ledger: {backend}, {args.rows:,} ledger rows "
        f"(generated in {generated_in:.0f} s), {os.cpu_count()} CPUs; target: XLSX peak under 200 MB"
    )
    header = f"{'scenario':<40} {'seconds':>8} {'rows/s':>9} {'peak MB':>8} {'grew MB':>8} {'file MB':>8}  rows"
    print(header)
    print("-" * len(header))
    for name, row in results:
        rate = row["rows"] / row["seconds"]
        print(
            f"{name:<40} {row['seconds']:>8.1f} {rate:>9,.0f} {row['rss']:>8.0f} {row['grew']:>8.0f} "
            f"{row['size'] / 2**20:>8.1f}  {row['rows']:,}"
        )


if __name__ == "__main__":
    main()
