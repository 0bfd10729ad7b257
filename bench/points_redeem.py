"""1,000 members redeeming one product at once, through gunicorn on MariaDB, beside the bare guarded UPDATEs.

    .venv/bin/python bench/points_redeem.py                       # MariaDB root@127.0.0.1, Redis db 13 as broker
    .venv/bin/python bench/points_redeem.py --members 1000 --stock 100 --connections 200

Rows (each in the same run, on a fresh database `wedraw_bench_points`):
- `POST /api/points/orders`, the product with `--stock` (100) in stock: exactly that many orders,
  everyone else a clean 409 `insufficient_stock`; then checked: no negative balance, every
  balance equal to its ledger and its lots, stock 0, sold = stock;
- the same with stock for everyone (every request a redemption: the full write path under
  contention on the one product row);
- baseline: a plain script (threads, PyMySQL, no web stack) issuing the same two guarded
  UPDATEs per redemption (`balance = balance - p WHERE balance >= p`, `stock = stock - 1 WHERE
  stock >= 1`) in one transaction, at the same database concurrency as the service: one
  connection per gunicorn worker (sync workers: one request, one session at a time).

Bounded: one request per member per row, a 120 s timeout per request, loopback only, and few
database connections (MariaDB's default limit is 151, shared with whatever else runs). The
order notifications the service queues go to the Redis broker (`--redis`, its `points` queue is
emptied before and after); no worker runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "wedraw_bench_points"
PRICE = 100
START_BALANCE = 500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environ(args, var_dir: Path) -> dict[str, str]:
    return {
        "WEDRAW_PROFILE": "embedded",
        "WEDRAW_VAR_DIR": str(var_dir),
        "WEDRAW_LOG_LEVEL": "WARNING",
        "WEDRAW_RATE_LIMIT": "100000000/minute",
        "WEDRAW_RATE_LIMIT_STORAGE_URL": "memory://",
        "WEDRAW_POINTS_MALL_DATABASE_URL": f"{args.mysql.rstrip('/')}/{DATABASE}?charset=utf8mb4",
        "WEDRAW_REDIS_URL": args.redis,
        "WEDRAW_CELERY_BROKER_URL": args.redis,
        "WEDRAW_WECHAT_API_BASE": "http://127.0.0.1:9",
        "WEDRAW_WECOM_API_BASE": "http://127.0.0.1:9",
    }


def _empty_queue(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).delete("points")


def _prepare(args, env: dict[str, str], stock: int) -> tuple[int, list[str]]:
    """A fresh database at head: one product, `members` accounts with points, their member tokens."""
    from flask_jwt_extended import create_access_token
    from sqlalchemy import create_engine, insert, text

    engine = create_engine(args.mysql)
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
        conn.execute(text(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"))
    engine.dispose()
    from wedraw.core.auth import MEMBER, MEMBER_AUDIENCE
    from wedraw.core.config import load_settings
    from wedraw.core.factory import create_app
    from wedraw.core.migrations import upgrade
    from wedraw.points_mall import ledger
    from wedraw.points_mall.models import ADMIN_GRANT, PointsAccount, Product, db

    settings = load_settings(environ=env)
    upgrade("points_mall", settings=settings)
    app = create_app("points_mall", settings=settings)
    tokens = []
    with app.app_context():
        product = Product(name="bench", points_price=PRICE, stock=stock, on_shelf=True, needs_address=False)
        db.session.add(product)
        keys = [f"unionid:bench{n:06d}" for n in range(args.members)]
        db.session.execute(insert(PointsAccount), [{"member_key": k} for k in keys])
        db.session.commit()
        ids = dict(db.session.execute(text("SELECT member_key, id FROM points_accounts")).all())
        for key in keys:
            ledger.credit(ids[key], START_BALANCE, ADMIN_GRANT, f"bench:{key}", reason="bench", operator="bench")
        db.session.commit()
        for n, key in enumerate(keys):
            claims = {"kind": MEMBER, "aud": MEMBER_AUDIENCE, "mkey": key, "sid": f"member-{n}-1"}
            tokens.append(create_access_token(identity=str(n + 1), additional_claims=claims))
        product_id = product.id
        db.engine.dispose()
    return product_id, tokens


def _gunicorn(env: dict[str, str], port: int, workers: int | None) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT),
        "wsgi:app",
    ]
    full = {**os.environ, **env, "WEDRAW_SERVICE": "points_mall"}
    if workers:
        full["WEDRAW_GUNICORN_WORKERS"] = str(workers)
    # Its log goes to a file: a pipe nobody reads would stall the workers once it filled.
    log_path = Path(env["WEDRAW_VAR_DIR"]) / "gunicorn.log"
    with open(log_path, "ab") as log:
        child = subprocess.Popen(argv, env=full, stdout=subprocess.DEVNULL, stderr=log)
    print(f"gunicorn log: {log_path}", file=sys.stderr)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(1.5)  # let every worker finish booting
                return child
        except OSError:
            if child.poll() is not None:
                raise SystemExit(f"gunicorn exited: {log_path.read_text()[-2000:]}") from None
            time.sleep(0.2)
    child.kill()
    raise SystemExit("gunicorn did not start")


def _client(port: int, product_id: int, tokens: list[str], threads: int, queue, go) -> None:
    import http.client
    import json

    results: list[tuple[int, str | None, float]] = []
    lock = threading.Lock()
    position = iter(range(len(tokens)))
    body = json.dumps({"product_id": product_id, "quantity": 1})

    def run():
        mine = []
        for index in position:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            headers = {
                "Authorization": f"Bearer {tokens[index]}",
                "Idempotency-Key": uuid.uuid4().hex,
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            try:
                conn.request("POST", "/api/points/orders", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                code = json.loads(payload).get("code") if response.status >= 400 else None
                mine.append((response.status, code, (time.perf_counter() - started) * 1000))
            except OSError as exc:
                mine.append((0, type(exc).__name__, (time.perf_counter() - started) * 1000))
            finally:
                conn.close()
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    queue.put("ready")
    go.wait()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(results)


def _load(port: int, product_id: int, tokens: list[str], connections: int, processes: int) -> dict:
    ctx = multiprocessing.get_context("fork")
    queues = [ctx.Queue() for _ in range(processes)]
    go = ctx.Event()
    shares = [tokens[n::processes] for n in range(processes)]
    procs = [
        ctx.Process(target=_client, args=(port, product_id, shares[n], max(1, connections // processes), queues[n], go))
        for n in range(processes)
    ]
    for proc in procs:
        proc.start()
    for q in queues:
        q.get()
    started = time.perf_counter()
    go.set()
    results = [r for q in queues for r in q.get()]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    latencies = sorted(r[2] for r in results)
    created = sum(1 for r in results if r[0] == 201)
    return {
        "requests": len(results),
        "orders": created,
        "refused": {code: sum(1 for r in results if r[1] == code) for code in {r[1] for r in results if r[1]}},
        "errors": sum(1 for r in results if r[0] == 0 or r[0] >= 500),
        "elapsed": elapsed,
        "rps": len(results) / elapsed,
        "orders_per_s": created / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
    }


def _check(args, env: dict[str, str], stock: int) -> str:
    """After a row: orders, stock, balances, and every balance against its ledger (reconciliation)."""
    from sqlalchemy import func, select

    from wedraw.core.config import load_settings
    from wedraw.core.factory import create_app
    from wedraw.points_mall.models import Order, PointsAccount, Product, db
    from wedraw.points_mall.settlement import reconcile

    app = create_app("points_mall", settings=load_settings(environ=env))
    with app.app_context():
        orders = db.session.execute(select(func.count()).select_from(Order)).scalar_one()
        product = db.session.execute(select(Product)).scalar_one()
        lowest = db.session.execute(select(func.min(PointsAccount.balance))).scalar_one()
        run = reconcile("bench")
        expected = min(stock, args.members)
        problems = []
        if orders != expected:
            problems.append(f"{orders} orders, expected {expected}")
        if (product.stock, product.sold) != (stock - expected, expected):
            problems.append(f"stock {product.stock} sold {product.sold}")
        if lowest < 0:
            problems.append(f"a negative balance ({lowest})")
        if run.mismatch_count:
            problems.append(f"{run.mismatch_count} balances differ from their ledger")
        db.engine.dispose()
    if problems:
        return "FAILED: " + "; ".join(problems)
    return "ok: orders = stock sold, no balance < 0, ledger = balances"


def _baseline(args, stock: int, connections: int) -> dict:
    """The same guarded UPDATEs per redemption, straight from a plain script (no web stack, no ledger rows)."""
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(args.mysql)
    connect = {
        "host": url.host or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username or "root",
        "password": url.password or "",
        "database": DATABASE,
        "autocommit": False,
    }
    setup = pymysql.connect(**connect)
    with setup.cursor() as cur:
        cur.execute("CREATE TABLE bench_accounts (id INT PRIMARY KEY, balance INT NOT NULL, CHECK (balance >= 0))")
        cur.execute("CREATE TABLE bench_products (id INT PRIMARY KEY, stock INT NOT NULL, CHECK (stock >= 0))")
        cur.executemany(
            "INSERT INTO bench_accounts VALUES (%s, %s)", [(n, START_BALANCE) for n in range(1, args.members + 1)]
        )
        cur.execute("INSERT INTO bench_products VALUES (1, %s)", (stock,))
    setup.commit()
    ids = iter(range(1, args.members + 1))
    lock = threading.Lock()
    latencies: list[float] = []
    made, failed = [0], [0]
    connections_ = [pymysql.connect(**connect) for _ in range(connections)]
    barrier = threading.Barrier(connections)

    def run(conn):
        mine, ok = [], 0
        try:
            barrier.wait(timeout=60)
            for account_id in ids:
                started = time.perf_counter()
                with conn.cursor() as cur:
                    paid = cur.execute(
                        "UPDATE bench_accounts SET balance = balance - %s WHERE id = %s AND balance >= %s",
                        (PRICE, account_id, PRICE),
                    )
                    taken = paid and cur.execute(
                        "UPDATE bench_products SET stock = stock - 1 WHERE id = 1 AND stock >= 1"
                    )
                if paid and taken:
                    conn.commit()
                    ok += 1
                else:
                    conn.rollback()
                mine.append((time.perf_counter() - started) * 1000)
        except Exception:
            with lock:
                failed[0] += 1
        finally:
            conn.close()
        with lock:
            latencies.extend(mine)
            made[0] += ok

    threads = [threading.Thread(target=run, args=(conn,)) for conn in connections_]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    with setup.cursor() as cur:
        cur.execute("SELECT stock FROM bench_products")
        left = cur.fetchone()[0]
        cur.execute("DROP TABLE bench_accounts, bench_products")
    setup.commit()
    setup.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "orders": made[0],
        "refused": {},
        "errors": failed[0] + (0 if left == stock - made[0] else 1),
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,
        "orders_per_s": made[0] / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mysql", default=os.environ.get("WEDRAW_PROD_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
    )
    parser.add_argument("--redis", default=os.environ.get("WEDRAW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--connections", type=int, default=100, help="concurrent HTTP client connections")
    parser.add_argument("--processes", type=int, default=4, help="load-generating processes")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: deploy/gunicorn.conf.py's)")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-points-"))
    env = _environ(args, var_dir)
    rows = []
    for label, stock in (
        (f"redeem via gunicorn, stock {args.stock}", args.stock),
        (f"redeem via gunicorn, stock {args.members}", args.members),
    ):
        _empty_queue(args.redis)
        product_id, tokens = _prepare(args, env, stock)
        port = _free_port()
        server = _gunicorn(env, port, args.workers)
        try:
            result = _load(port, product_id, tokens, args.connections, args.processes)
        finally:
            server.terminate()
            server.wait()
        result["check"] = _check(args, env, stock)
        rows.append((label, result))
        baseline = _baseline(args, stock, args.workers or (os.cpu_count() or 1) * 2 + 1)
        exact = not baseline["errors"] and baseline["orders"] == min(stock, args.members)
        baseline["check"] = "ok" if exact else "FAILED"
        rows.append((f"baseline: 2 guarded UPDATEs, stock {stock}", baseline))
    _empty_queue(args.redis)

    print(
        f"\nPoints redemption: {args.members} members at once, {args.connections} HTTP connections, MariaDB, "
        f"{args.workers or (os.cpu_count() or 1) * 2 + 1} gunicorn workers (and baseline connections), "
        f"{os.cpu_count()} CPUs"
    )
    header = (
        f"{'scenario':<38} {'requests':>8} {'orders':>7} {'req/s':>8} {'orders/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'5xx':>4}  check"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows:
        print(
            f"{name:<38} {r['requests']:>8} {r['orders']:>7} {r['rps']:>8.0f} {r['orders_per_s']:>9.0f} "
            f"{r['p50']:>8.1f} {r['p99']:>8.1f} {r['errors']:>4}  {r['check']}"
        )
        if r["refused"]:
            print(f"{'':<38} refused: " + ", ".join(f"{k} {v}" for k, v in sorted(r["refused"].items())))


if __name__ == "__main__":
    main()
