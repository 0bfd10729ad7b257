"""Callback throughput and latency in safe mode, beside a bare Flask app, under the same gunicorn settings.

    .venv/bin/python bench/official_callbacks.py                      # SQLite + SQLite broker (embedded)
    .venv/bin/python bench/official_callbacks.py \\
        --mysql mysql+pymysql://root@127.0.0.1:3306/ --redis redis://127.0.0.1:6379/14

Full path per request: verify the signature, decrypt, dedupe (unique key), store, pick the
auto-reply, encrypt the reply, answer, hand the follow-up task to the broker. Two message
kinds: text messages (keyword reply) and subscribe events (welcome reply, fan upsert).
The baseline is a bare Flask app answering `success`, served by gunicorn with the same
config file (deploy/gunicorn.conf.py) in the same run. Bounded: a fixed number of requests
per row, 32 concurrent connections, loopback only. Prints one table.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc import children_of, cpu_seconds, pids_named  # noqa: E402

APPID = "wxbe0c0000000000b1"
SECRET = "be0c" * 8
TOKEN = "benchtoken"
AES_KEY = "QmVuY2hPZmZpY2lhbENhbGxiYWNrQUVTS2V5MDAwMDE"
ORIGINAL_ID = "gh_be0c00000001"


def bare_app():
    """The baseline: the least a Flask app can do for a callback."""
    from flask import Flask

    app = Flask("bare")

    @app.post("/api/wechat/callback/<appid>")
    def callback(appid):
        return "success"

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environ(args, var_dir: Path) -> dict[str, str]:
    env = {
        "WEDRAW_PROFILE": "embedded",
        "WEDRAW_VAR_DIR": str(var_dir),
        "WEDRAW_LOG_LEVEL": "WARNING",
        "WEDRAW_RATE_LIMIT": "1000000/minute",
        "WEDRAW_WECHAT_API_BASE": "http://127.0.0.1:9",  # never called on this path
        "WEDRAW_WECOM_API_BASE": "http://127.0.0.1:9",
    }
    if args.mysql:
        env["WEDRAW_WECHAT_OFFICIAL_DATABASE_URL"] = args.mysql.rstrip("/") + "/wedraw_bench_official?charset=utf8mb4"
    if args.redis:
        env.update(
            WEDRAW_REDIS_URL=args.redis, WEDRAW_CELERY_BROKER_URL=args.redis, WEDRAW_RATE_LIMIT_STORAGE_URL="memory://"
        )
    return env


def _prepare(args, env: dict[str, str]) -> None:
    """A fresh database at head with one safe-mode account and its auto-replies."""
    if args.mysql:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.mysql)
        with engine.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS wedraw_bench_official"))
            conn.execute(text("CREATE DATABASE wedraw_bench_official CHARACTER SET utf8mb4"))
        engine.dispose()
    from wedraw.core.config import load_settings
    from wedraw.core.factory import create_app
    from wedraw.core.migrations import upgrade

    settings = load_settings(environ=env)
    upgrade("wechat_official", settings=settings)
    app = create_app("wechat_official", settings=settings)
    with app.app_context():
        from wedraw.wechat_official import services

        account = services.create_account(
            {
                "appid": APPID,
                "name": "bench",
                "secret": SECRET,
                "token": TOKEN,
                "aes_key": AES_KEY,
                "message_mode": "safe",
                "original_id": ORIGINAL_ID,
            }
        )
        services.create_reply(
            account.id, {"name": "welcome", "trigger": "subscribe", "reply_type": "text", "content": "欢迎关注"}
        )
        services.create_reply(
            account.id,
            {
                "name": "points",
                "trigger": "keyword",
                "match_type": "contains",
                "keywords": ["积分"],
                "reply_type": "text",
                "content": "积分规则",
            },
        )


def _gunicorn(app_spec: str, env: dict[str, str], port: int) -> subprocess.Popen:
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
        app_spec,
    ]
    child = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(1.0)  # let every worker finish booting
                return child
        except OSError:
            if child.poll() is not None:
                raise SystemExit(f"gunicorn {app_spec} exited: {child.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.2)
    child.kill()
    raise SystemExit(f"gunicorn {app_spec} did not start")


def _requests(kind: str, count: int, seed: str) -> list[tuple[str, bytes]]:
    """Pre-built signed, encrypted callbacks (built before timing starts)."""
    from wedraw.wechat.callbacks import MessageCrypto, build_xml, sha1_signature

    crypto = MessageCrypto(TOKEN, AES_KEY, APPID)
    now = int(time.time())
    out = []
    for i in range(count):
        openid = "o" + hashlib.sha256(f"{seed}{i}".encode()).hexdigest()[:27]
        if kind == "text":
            fields = {
                "ToUserName": ORIGINAL_ID,
                "FromUserName": openid,
                "CreateTime": now,
                "MsgType": "text",
                "Content": "我的积分",
                "MsgId": int(uuid.uuid4().int % 10**18),
            }
        else:
            fields = {
                "ToUserName": ORIGINAL_ID,
                "FromUserName": openid,
                "CreateTime": now,
                "MsgType": "event",
                "Event": "subscribe",
                "EventKey": "",
            }
        encrypted = crypto.encrypt(build_xml(fields))
        nonce = secrets.token_hex(5)
        query = (
            f"signature={sha1_signature(TOKEN, now, nonce)}&timestamp={now}&nonce={nonce}&openid={openid}"
            f"&encrypt_type=aes&msg_signature={sha1_signature(TOKEN, now, nonce, encrypted)}"
        )
        out.append((query, build_xml({"ToUserName": ORIGINAL_ID, "Encrypt": encrypted}).encode()))
    return out


def _client(port: int, kind: str, count: int, threads: int, seed: str, queue, go) -> None:
    import http.client
    import threading

    batch = _requests(kind, count, seed)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    position = iter(range(len(batch)))

    def run():
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], 0
        for index in position:
            query, body = batch[index]
            started = time.perf_counter()
            try:
                conn.request(
                    "POST", f"/api/wechat/callback/{APPID}?{query}", body=body, headers={"Content-Type": "text/xml"}
                )
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except OSError:
                bad += 1
                conn.close()
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)
            errors += bad

    workers = [threading.Thread(target=run) for _ in range(threads)]
    queue.put("ready")
    go.wait()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((latencies, errors))


def _cpu(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (gunicorn's master and workers), MariaDB and Redis."""
    return {
        "server": sum(cpu_seconds(p) for p in [server_pid, *children_of(server_pid)]),
        "db": sum(cpu_seconds(p) for p in pids_named("mariadbd", "mysqld")),
        "redis": sum(cpu_seconds(p) for p in pids_named("redis-server")),
    }


def _clients_cpu() -> float:
    """CPU seconds of this process's reaped children: the load processes, once joined."""
    times = os.times()
    return times.children_user + times.children_system


def _load(port: int, kind: str, total: int, connections: int, processes: int, server_pid: int | None = None) -> dict:
    """`connections` keep-alive clients split over `processes`, `total` requests in all."""
    ctx = multiprocessing.get_context("fork")
    queues = [ctx.Queue() for _ in range(processes)]
    go = ctx.Event()
    seed = uuid.uuid4().hex
    procs = [
        ctx.Process(
            target=_client,
            args=(port, kind, total // processes, connections // processes, f"{seed}-{n}", queues[n], go),
        )
        for n in range(processes)
    ]
    for proc in procs:
        proc.start()
    for q in queues:
        q.get()  # each process has built its requests
    cpu_before = {**(_cpu(server_pid) if server_pid else {}), "clients": _clients_cpu()}
    started = time.perf_counter()
    go.set()
    results = [q.get() for q in queues]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    # The clients' CPU includes building their requests (before the start): a small overstatement.
    cpu_after = {**(_cpu(server_pid) if server_pid else {}), "clients": _clients_cpu()}
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        # CPU milliseconds per request, by process group
        "cpu": {k: (cpu_after[k] - cpu_before.get(k, 0.0)) * 1000 / max(len(latencies), 1) for k in cpu_after},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mysql", help="MariaDB/MySQL server URL (a bench database is created there)")
    parser.add_argument("--redis", help="Redis URL for the broker (default: the SQLite broker)")
    parser.add_argument("--requests", type=int, default=4000, help="requests per row")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=4, help="load-generating processes")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: deploy/gunicorn.conf.py's)")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-"))
    env = _environ(args, var_dir)
    if args.workers:
        env["WEDRAW_GUNICORN_WORKERS"] = str(args.workers)
    _prepare(args, env)

    rows = []
    port = _free_port()
    bare = _gunicorn("bench.official_callbacks:bare_app()", env, port)
    try:
        _load(port, "text", min(args.requests, 400), args.connections, args.processes)  # warm-up
        rows.append(
            (
                "bare Flask `success` (baseline)",
                _load(port, "text", args.requests, args.connections, args.processes, bare.pid),
            )
        )
    finally:
        bare.terminate()
        bare.wait()
    port = _free_port()
    service = _gunicorn("wsgi:app", {**env, "WEDRAW_SERVICE": "wechat_official"}, port)
    try:
        _load(port, "text", min(args.requests, 400), args.connections, args.processes)  # warm-up
        rows.append(
            (
                "callback: text message (safe mode)",
                _load(port, "text", args.requests, args.connections, args.processes, service.pid),
            )
        )
        rows.append(
            (
                "callback: subscribe event (safe mode)",
                _load(port, "subscribe", args.requests, args.connections, args.processes, service.pid),
            )
        )
    finally:
        service.terminate()
        service.wait()

    backend = "MariaDB" if args.mysql else "SQLite"
    broker = "Redis" if args.redis else "SQLite broker"
    print(
        f"\nOfficial Account callbacks: {backend}, {broker}, {args.connections} connections, "
        f"{args.requests} requests per row, {os.cpu_count()} CPUs"
    )
    base = rows[0][1]["rps"]
    header = (
        f"{'scenario':<40} {'req/s':>9} {'vs bare':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'CPU ms/req: app':>16} {'db':>5} {'redis':>6} {'clients':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows:
        cpu = r["cpu"]
        print(
            f"{name:<40} {r['rps']:>9.0f} {r['rps'] / base:>7.0%} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['errors']:>7}"
            f" {cpu.get('server', 0):>16.2f} {cpu.get('db', 0):>5.2f} {cpu.get('redis', 0):>6.2f}"
            f" {cpu.get('clients', 0):>8.2f}"
        )
    print("targets: callbacks at least 50% of the bare app's throughput, p99 under 50 ms")
    print(
        f"CPU per request is what bounds req/s here: the {os.cpu_count()} cores are shared by the app (gunicorn"
        " master and workers), MariaDB, Redis and the load clients."
    )


if __name__ == "__main__":
    main()
