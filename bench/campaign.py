"""A template-message campaign to 100,000 sandbox fans with two push worker processes, beside a plain loop.

    .venv/bin/python bench/campaign.py                         # MariaDB root@127.0.0.1:3306 + a private Redis
    .venv/bin/python bench/campaign.py --fans 20000            # smaller
    .venv/bin/python bench/campaign.py --pool prefork          # the push workers' pool, to compare
    .venv/bin/python bench/campaign.py --concurrency 4         # threads per push worker (deployed: 8)

Everything is real and on loopback: the WeChat sandbox in its own process, MariaDB
databases `wedraw_bench_campaign_*` (dropped and made again; WEDRAW_BENCH_DB_PREFIX or --db-prefix
names others), a private redis-server on a
free port (broker, shared store, token buckets), the Official Account service serving its
internal routes (credentials, audience pages), one `message_center` worker (orchestration)
and two `wechat_push` worker processes as Supervisor runs them (8 threads each).

1. campaign: POST /api/message/campaigns {audience: all fans, start: true} → poll progress
   until every recipient is final. Wall time from the POST; messages/s over it.
2. baseline: the same template message to the same fans from one plain loop with
   wechatpy's `message.send_template` (one client, one connection, no database).

Worker memory (RSS) is sampled every second during the campaign. Prints one table.
The sandbox's daily template quota is raised so both runs fit in one day.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc import children_of, cpu_seconds, pids_named, reference_seconds  # noqa: E402

# Its own databases (never the test suite's `wedraw_test_*`); another prefix lets two runs share a server.
DB_PREFIX = os.environ.get("WEDRAW_BENCH_DB_PREFIX", "wedraw_bench_campaign_")
SERVICES = ("user_center", "wechat_official", "message_center")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


class Children:
    """Processes this benchmark started (stopped by pid, in reverse order)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child writes it until stopped
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process))
        return process

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in reversed(self.processes):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def make_databases(server_url: str, prefix: str) -> dict[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    engine = create_engine(server.set(database=None))
    urls = {}
    with engine.connect() as conn:
        for name in SERVICES:
            database = prefix + name
            conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
            conn.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
            urls[name] = server.set(database=database, query={"charset": "utf8mb4"}).render_as_string(
                hide_password=False
            )
    engine.dispose()
    return urls


def main() -> None:
    # A terminated run still takes its sandbox, Redis and workers down (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fans", type=int, default=100_000)
    parser.add_argument(
        "--mysql", default=os.environ.get("WEDRAW_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
    )
    parser.add_argument("--db-prefix", default=DB_PREFIX, help="prefix of the MariaDB databases it drops and makes")
    parser.add_argument("--pool", default="threads", choices=("threads", "prefork"))
    parser.add_argument("--concurrency", type=int, default=8, help="threads per push worker process")
    parser.add_argument("--push-workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900, help="seconds each run may take at most")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if args.db_prefix.startswith("wedraw_test_"):
        parser.error("the test suite's databases are not the benchmark's to drop: choose another --db-prefix")

    from wedraw.core.config import load_settings
    from wedraw.sandbox.client import SandboxControl

    var_dir = Path(tempfile.mkdtemp(prefix="wedraw-bench-campaign-"))
    children = Children(var_dir)
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("redis-server is needed (the broker, the shared store and the token buckets)")
    try:
        print(f"logs: {var_dir}", file=sys.stderr)
        redis_port, official_port, wecom_port = free_port(), free_port(), free_port()
        children.start(
            "redis",
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        children.start(
            "sandbox",
            [
                sys.executable,
                "-m",
                "wedraw.sandbox",
                "--fans",
                str(args.fans),
                "--members",
                "1",
                "--departments",
                "1",
                "--official-port",
                str(official_port),
                "--wecom-port",
                str(wecom_port),
                "--callback-base",
                "",
            ],  # fmt: skip
            env={**os.environ, "PYTHONPATH": str(ROOT), "WEDRAW_VAR_DIR": str(var_dir), "WEDRAW_LOG_LEVEL": "WARNING"},
        )
        wait_port(redis_port)
        wait_port(official_port, 120)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        environ = {
            "WEDRAW_VAR_DIR": str(var_dir),
            "WEDRAW_LOG_LEVEL": "WARNING",
            "WEDRAW_REDIS_URL": redis_url,
            "WEDRAW_CELERY_BROKER_URL": redis_url,
            "WEDRAW_RATE_LIMIT_STORAGE_URL": redis_url,
            "WEDRAW_RATE_LIMIT": "100000/minute",
            "WEDRAW_WECHAT_API_BASE": f"http://127.0.0.1:{official_port}",
            "WEDRAW_WECOM_API_BASE": f"http://127.0.0.1:{wecom_port}",
        }
        for name, url in make_databases(args.mysql, args.db_prefix).items():
            environ[f"WEDRAW_{name.upper()}_DATABASE_URL"] = url
        settings = load_settings(environ=environ, profile="test")
        control = SandboxControl(settings.wechat_api_base)
        demo = control.summary()["demo"]["official"]
        control.update_account(demo["appid"], template_daily_quota=10 * args.fans + 10)
        run = Bench(args, settings, environ, children, control, demo, var_dir)
        run.prepare()
        run.pace.append(reference_seconds())
        rows = [run.campaign()]
        if not args.skip_baseline:
            rows.append(run.baseline())
        run.pace.append(reference_seconds())
        report(args, rows, run)
    finally:
        children.stop()


class Bench:
    def __init__(self, args, settings, environ, children, control, demo, var_dir):
        self.args = args
        self.settings = settings
        self.environ = environ
        self.children = children
        self.control = control
        self.demo = demo
        self.var_dir = var_dir
        self.rss: dict[str, list[tuple[float, float]]] = {}
        self.pace: list[float] = []  # reference loop seconds before and after the runs

    # ------------------------------------------------------------------ setup

    def prepare(self) -> None:
        from wedraw.core.factory import create_app
        from wedraw.core.migrations import upgrade
        from wedraw.core.serving import start_server

        for name in SERVICES:
            upgrade(name, settings=self.settings)
        official = create_app("wechat_official", settings=self.settings)
        self.official_port = free_port()
        start_server(official, port=self.official_port, threads=8)
        self.settings = dataclasses.replace(
            self.settings,
            service_urls={**self.settings.service_urls, "wechat_official": f"http://127.0.0.1:{self.official_port}"},
        )
        with official.app_context():
            from wedraw.wechat_official.services import create_account

            create_account(
                {
                    "appid": self.demo["appid"],
                    "name": "bench",
                    "secret": self.demo["secret"],
                    "token": self.demo["token"],
                    "aes_key": self.demo["aes_key"],
                    "message_mode": "safe",
                }
            )
        self.openids = self._followers()
        self._store_fans(official)
        self.mc = create_app("message_center", settings=self.settings)
        self.client = self.mc.test_client()
        self.headers = {"Authorization": f"Bearer {self._admin_token()}"}
        sender = self._api("POST", "/api/message/senders", {"kind": "official_account", "appid": self.demo["appid"]})
        templates = self._api("POST", "/api/message/templates/sync", {"sender_id": sender["id"]})
        self.template = next(t for t in templates if t["name"] == "积分变动提醒")
        self.sender = sender
        self.data = {"first": "您的积分有变动", "keyword1": "+100", "keyword2": "1380", "remark": "感谢关注"}

    def _followers(self) -> list[str]:
        from wedraw.wechat import OfficialAccountConfig, official_account

        oa = official_account(self.settings, OfficialAccountConfig(self.demo["appid"], self.demo["secret"]))
        result = oa.followers()
        assert result.ok, result
        return result.data

    def _store_fans(self, official) -> None:
        from sqlalchemy import insert, select

        from wedraw.core.db import utcnow
        from wedraw.wechat_official.models import Account, Fan, db

        now = utcnow()
        with official.app_context():
            account_id = db.session.execute(select(Account.id)).scalar_one()
            rows = [
                {"account_id": account_id, "openid": o, "subscribed": True, "tag_ids": ",", "remark": "",
                 "created_at": now, "updated_at": now}
                for o in self.openids
            ]  # fmt: skip
            for start in range(0, len(rows), 5000):
                db.session.execute(insert(Fan), rows[start : start + 5000])
            db.session.commit()

    def _admin_token(self) -> str:
        from flask_jwt_extended import create_access_token

        from wedraw.core.permissions import PERMISSIONS

        with self.mc.app_context():
            claims = {"kind": "admin", "username": "bench", "sid": "bench", "roles": ["super_admin"],
                      "perms": sorted(PERMISSIONS)}  # fmt: skip
            return create_access_token(identity="1", additional_claims=claims)

    def _api(self, method: str, path: str, body: dict | None = None):
        response = self.client.open(path, method=method, json=body, headers=self.headers)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.get_json()}")
        return response.get_json()

    # ------------------------------------------------------------------ the campaign

    def _start_workers(self) -> list[subprocess.Popen]:
        from workers.programs import worker_programs

        env = {
            **os.environ,
            **self.environ,
            "WEDRAW_PROFILE": "test",
            "WEDRAW_SERVICE": "message_center",
            "WEDRAW_WECHAT_OFFICIAL_URL": f"http://127.0.0.1:{self.official_port}",
            "PYTHONPATH": str(ROOT),
        }
        programs = {p.queue: p for p in worker_programs()}
        workers = []
        argv = programs["message_center"].argv(sys.executable)
        workers.append(("orchestrator", self.children.start("worker-message_center", argv, env)))
        push = programs["wechat_push"]
        for n in range(self.args.push_workers):
            argv = dataclasses.replace(push, pool=self.args.pool, concurrency=self.args.concurrency).argv(
                sys.executable
            )
            argv[argv.index("-n") + 1] = f"wechat_push{n + 1}@%h"
            workers.append((f"push-{n + 1}", self.children.start(f"worker-wechat_push-{n + 1}", argv, env)))
        self._wait_alive(len(workers))
        return workers

    def _wait_alive(self, expected: int) -> None:
        from wedraw.message_center.fleet import status

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alive = sum(q["alive"] for q in status(self.settings)["queues"] if q["service"] == "message_center")
            if alive >= expected:
                return
            time.sleep(0.2)
        raise SystemExit(f"workers did not report alive; see {self.var_dir}")

    def _cpu(self, workers) -> dict[str, float]:
        """CPU seconds used so far by each process taking part (workers with their pool children)."""
        usage = {name: sum(cpu_seconds(p) for p in [proc.pid, *children_of(proc.pid)]) for name, proc in workers}
        sandbox = next(proc for name, proc in self.children.processes if name == "sandbox")
        usage["sandbox"] = cpu_seconds(sandbox.pid)
        redis = next(proc for name, proc in self.children.processes if name == "redis")
        usage["redis"] = cpu_seconds(redis.pid)
        usage["mariadb"] = sum(cpu_seconds(p) for p in pids_named("mariadbd", "mysqld"))
        usage["bench (API, official service)"] = cpu_seconds(os.getpid())
        return usage

    def _sample_rss(self, workers, stop: threading.Event, started: float) -> None:
        while not stop.is_set():
            for name, process in workers:
                pids = [process.pid, *children_of(process.pid)]
                total = sum(filter(None, (rss_mb(pid) for pid in pids)))
                self.rss.setdefault(name, []).append((time.perf_counter() - started, total))
            stop.wait(1.0)

    def campaign(self) -> dict:
        workers = self._start_workers()
        self.workers = workers
        stop = threading.Event()
        body = {
            "name": "bench",
            "channel": "oa_template",
            "sender_id": self.sender["id"],
            "template_id": self.template["id"],
            "data": self.data,
            "audience": {"kind": "fans"},
            "start": True,
        }
        started = time.perf_counter()
        sampler = threading.Thread(target=self._sample_rss, args=(workers, stop, started), daemon=True)
        sampler.start()
        cpu_before = self._cpu(workers)
        campaign = self._api("POST", "/api/message/campaigns", body)
        first_sent = None
        deadline = started + self.args.timeout
        progress = {}
        while time.perf_counter() < deadline:
            progress = self._api("GET", f"/api/message/campaigns/{campaign['id']}/progress")
            if first_sent is None and progress["counts"]["sent"]:
                first_sent = time.perf_counter() - started
            if progress["status"] == "completed":
                break
            time.sleep(1.0)  # as often as a console would poll the progress
        wall = time.perf_counter() - started
        cpu_after = self._cpu(workers)
        self.cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        stop.set()
        sampler.join()
        if progress.get("status") != "completed":
            raise SystemExit(f"the campaign did not complete in {self.args.timeout:.0f} s: {progress}")
        counts = self.control.outbox(channel="template", limit=0)["counts"]
        self.control.clear_outbox()
        sent = progress["counts"]["sent"]
        return {
            "name": f"campaign ({self.args.push_workers} × {self.args.pool} {self.args.concurrency})",
            "messages": sent,
            "failed": progress["counts"]["failed_final"],
            "wall": wall,
            "rate": sent / wall,
            "first": first_sent,
            "duplicates": sum(n - 1 for n in counts.values()),
            "missing": len(set(self.openids) - set(counts)),
        }

    # ------------------------------------------------------------------ the baseline

    def baseline(self) -> dict:
        """The same messages from one plain loop: wechatpy's send_template, one client, nothing else."""
        from wechatpy import WeChatClient

        from wedraw.wechat.transport import host_map, mount

        client = WeChatClient(self.demo["appid"], self.demo["secret"], timeout=10, auto_retry=False)
        mount(client._http, host_map(self.settings))  # only to reach the sandbox instead of WeChat's host
        client._http.trust_env = True  # as wechatpy ships: requests reads the environment on every call
        data = {name: {"value": value} for name, value in self.data.items()}
        template_id = self.template["wechat_template_id"]
        started = time.perf_counter()
        failed = 0
        for openid in self.openids:
            try:
                client.message.send_template(openid, template_id, data)
            except Exception:
                failed += 1
            if time.perf_counter() - started > self.args.timeout:
                raise SystemExit(f"the baseline did not finish in {self.args.timeout:.0f} s")
        wall = time.perf_counter() - started
        counts = self.control.outbox(channel="template", limit=0)["counts"]
        return {
            "name": "baseline: plain loop, wechatpy",
            "messages": len(self.openids) - failed,
            "failed": failed,
            "wall": wall,
            "rate": (len(self.openids) - failed) / wall,
            "first": None,
            "duplicates": sum(n - 1 for n in counts.values()),
            "missing": len(set(self.openids) - set(counts)),
        }


def report(args, rows: list[dict], run: Bench) -> None:
    print()
    print(f"Template-message campaign to {args.fans:,} sandbox fans (MariaDB + Redis, loopback)")
    print()
    header = (
        f"{'run':<34} {'sent':>8} {'failed':>6} {'dupes':>6} {'missing':>7} {'wall s':>8} {'msg/s':>8} {'1st s':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        first = f"{r['first']:.1f}" if r["first"] is not None else "-"
        print(
            f"{r['name']:<34} {r['messages']:>8,} {r['failed']:>6} {r['duplicates']:>6} {r['missing']:>7} "
            f"{r['wall']:>8.1f} {r['rate']:>8.0f} {first:>6}"
        )
    if len(rows) == 2:
        print(f"\ncampaign / baseline throughput: {rows[0]['rate'] / rows[1]['rate']:.2f}×")
    messages = rows[0]["messages"] or 1
    print(f"\nCPU during the campaign (seconds; ms per message), {os.cpu_count()} cores:")
    for name, seconds in sorted(run.cpu.items(), key=lambda item: -item[1]):
        print(f"  {name:<30} {seconds:>7.1f} s  {1000 * seconds / messages:>6.2f} ms")
    before, after = run.pace
    print(f"\nmachine pace: a reference Python loop took {before:.3f} s before the runs, {after:.3f} s after")
    print("(bench/proc.py reference_seconds; lower is faster: compare runs at the same pace)")
    print("\nworker memory (RSS, MB) during the campaign:")
    print(f"{'worker':<14} {'start':>7} {'min':>7} {'max':>7} {'end':>7}   samples every 10 s")
    for name, samples in run.rss.items():
        values = [mb for _, mb in samples]
        if not values:
            continue
        every = " ".join(f"{mb:.0f}" for _, mb in samples[::10])
        print(f"{name:<14} {values[0]:>7.1f} {min(values):>7.1f} {max(values):>7.1f} {values[-1]:>7.1f}   {every}")


if __name__ == "__main__":
    main()
