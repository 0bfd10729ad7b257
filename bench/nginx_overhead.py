"""Nginx's overhead: one read endpoint through Nginx and straight to gunicorn, in one run.

    .venv/bin/python bench/nginx_overhead.py [--requests 600] [--concurrency 1 4] [--rounds 3]

It brings the production layout up as `make prod-up` does (in a temporary root, on free
ports, databases `wedraw_bench_*`), with the per-IP limits lifted since a benchmark is one
client, signs in, and times `GET /api/roles` (an admin read: token check, one query) from
the same client against gunicorn's port (the baseline) and against Nginx, alternating
rounds so drift hits both alike. It prints a table and the ratio, then takes the layout
down. Loopback only; every loop is bounded by a request count and a time limit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wedraw.deploy import DEFAULT_ADMIN_URL, local_down, local_up, run_sql  # noqa: E402

PATH = "/api/roles"
CELL_TIME_LIMIT = 60.0  # seconds: a cell stops early rather than run away on a slow machine


def login(port: int, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"username": "admin", "password": password})
    conn.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = json.loads(response.read())
    conn.close()
    if response.status != 200:
        raise SystemExit(f"login failed: {response.status} {data}")
    return data["access_token"]


def run_cell(port: int, token: str, requests: int, concurrency: int) -> tuple[list[float], float, int]:
    """`requests` GETs from `concurrency` threads, each on its own keep-alive connection."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + CELL_TIME_LIMIT
    headers = {"Authorization": f"Bearer {token}"}

    def client(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            try:
                conn.request("GET", PATH, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    share = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]
    threads = [threading.Thread(target=client, args=(n,)) for n in share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, errors[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="requests per cell and round (default 600)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the service (default 2)")
    args = parser.parse_args(argv)

    admin_url = os.environ.get("WEDRAW_PROD_MYSQL_URL", DEFAULT_ADMIN_URL)
    redis_url = os.environ.get("WEDRAW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
    root = Path(tempfile.mkdtemp(prefix="wedraw-bench-"))
    print("bringing the production layout up (a minute at most) ...", flush=True)
    stack = local_up(
        root=root,
        free_ports=True,
        admin_url=admin_url,
        redis_url=redis_url,
        database_prefix="wedraw_bench_",
        account_prefix="wedraw_bench_",
        gunicorn_workers=args.workers,
        api_rate="100000r/s",
        app_rate_limit="10000000/minute",
        echo=lambda _m: None,
    )
    try:
        direct_port, nginx_port = stack.ports["user_center"], stack.nginx_port
        token = login(nginx_port, stack.admin_password)
        targets = {"gunicorn (direct)": direct_port, "nginx -> gunicorn": nginx_port}
        for port in targets.values():
            run_cell(port, token, 100, 2)  # warm-up: imports, pools, caches
        results: dict[tuple[int, str], dict] = {}
        for _round in range(args.rounds):
            for concurrency in args.concurrency:
                for name, port in targets.items():
                    latencies, elapsed, errors = run_cell(port, token, args.requests, concurrency)
                    cell = results.setdefault((concurrency, name), {"lat": [], "time": 0.0, "n": 0, "errors": 0})
                    cell["lat"] += latencies
                    cell["time"] += elapsed
                    cell["n"] += len(latencies)
                    cell["errors"] += errors
        print_table(results, args)
    finally:
        local_down(root, echo=lambda _m: None)
        run_sql(admin_url, stack.plan.drop_statements())
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0


def print_table(results: dict, args) -> None:
    print()
    print(f"GET {PATH} as admin, {args.rounds} rounds x {args.requests} requests per cell, loopback")
    header = (
        f"{'conc':>4}  {'target':<18} {'requests':>8} {'errors':>6} {'req/s':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    print(header)
    print("-" * len(header))
    for concurrency in args.concurrency:
        rows = {}
        for name in ("gunicorn (direct)", "nginx -> gunicorn"):
            cell = results[(concurrency, name)]
            lat = cell["lat"]
            rows[name] = {
                "rps": cell["n"] / cell["time"] if cell["time"] else 0.0,
                "p50": percentile(lat, 0.50) * 1000,
                "p95": percentile(lat, 0.95) * 1000,
                "p99": percentile(lat, 0.99) * 1000,
                "mean": statistics.fmean(lat) * 1000,
            }
            r = rows[name]
            print(
                f"{concurrency:>4}  {name:<18} {cell['n']:>8} {cell['errors']:>6} {r['rps']:>8.0f} "
                f"{r['p50']:>7.2f} {r['p95']:>7.2f} {r['p99']:>7.2f}"
            )
        direct, proxied = rows["gunicorn (direct)"], rows["nginx -> gunicorn"]
        latency = proxied["mean"] / direct["mean"]
        throughput = proxied["rps"] / direct["rps"]
        print(
            f"{concurrency:>4}  {'ratio nginx/direct':<18} mean latency x{latency:.2f} ({(latency - 1) * 100:+.1f}%), "
            f"throughput x{throughput:.2f}   target: overhead under 15%"
        )
    print()


if __name__ == "__main__":
    sys.exit(main())
