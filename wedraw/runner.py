"""The embedded all-in-one runner behind `make run`.

It upgrades every service database, seeds, serves every service on its registry port and
all of them behind one front door (default http://127.0.0.1:8080), starts the WeChat
sandbox, one Celery worker per service (on its queues) and beat, then waits. Ctrl-C or
SIGTERM stops everything it started.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from wedraw.core.config import PROJECT_ROOT, load_settings
from wedraw.core.factory import create_app
from wedraw.core.migrations import upgrade
from wedraw.core.registry import SERVICES, WEB_SERVICES
from wedraw.core.serving import start_server, stop_server
from wedraw.frontdoor import FrontDoor
from wedraw.seed import seed_all


def _die_with_parent() -> None:
    """Child processes get SIGTERM if the runner itself is killed (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Platform:
    def __init__(self, settings, host: str, port: int, workers: bool):
        self.settings = settings
        self.host = host
        self.port = port
        self.workers = workers
        self.servers: list = []
        self.children: list[subprocess.Popen] = []
        self.sandbox = None
        self.messages: list[str] = []

    def _serve(self, app, port: int, name: str) -> None:
        self.servers.append(
            start_server(
                app, host=self.host, port=port, threads=8, name=f"http-{name}", clear_untrusted_proxy_headers=True
            )
        )

    def _spawn(self, argv: list[str], env: dict[str, str], log_name: str) -> None:
        log_dir = self.settings.log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{log_name}.log", "ab")  # noqa: SIM115 - the child owns it until it exits
        child = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        self.children.append(child)

    def start(self) -> None:
        for name in ("user_center",) + tuple(n for n in SERVICES if SERVICES[n].database and n != "user_center"):
            upgrade(name, settings=self.settings)
        seed_all(self.settings, echo=self.messages.append)

        self._start_sandbox()
        apps = {name: create_app(name, settings=self.settings) for name in WEB_SERVICES}
        for name, app in apps.items():
            self._serve(app, SERVICES[name].port, name)
        self._serve(FrontDoor(apps), self.port, "frontdoor")

        if self.workers:
            env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), WEDRAW_PROFILE=self.settings.profile)
            for name, spec in SERVICES.items():
                if spec.queues:
                    argv = [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "workers.app",
                        "worker",
                        "-Q",
                        ",".join(spec.queues),
                        "-n",
                        f"{name}@%h",
                        "--pool",
                        "threads",
                        "--concurrency",
                        "4",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel",
                        "INFO",
                    ]
                    self._spawn(argv, dict(env, WEDRAW_SERVICE=name), f"worker-{name}")
            beat_argv = [sys.executable, "-m", "celery", "-A", "workers.beat", "beat", "--loglevel", "INFO"]
            self._spawn(beat_argv, env, "beat")

    def _start_sandbox(self) -> None:
        """The local WeChat stands in for WeChat's hosts unless pointed at real WeChat."""
        if not (self.settings.wechat_api_base or self.settings.wecom_api_base):
            return
        from wedraw.sandbox.server import start_sandbox

        self.sandbox = start_sandbox(
            self.settings,
            official_port=SERVICES["sandbox"].port,
            wecom_port=SERVICES["sandbox"].extra_ports[0],
            host=self.host,
            # The demo accounts call back through this front door, wherever it listens.
            callback_base=f"http://{self.host}:{self.port}",
        )

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for child in self.children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for server in self.servers:
            stop_server(server)
        if self.sandbox is not None:
            self.sandbox.stop()

    def banner(self) -> str:
        base = f"http://{self.host}:{self.port}"
        lines = [
            "",
            "WeDraw is running (embedded profile)",
            f"  Console   {base}/",
            f"  API docs  {base}/docs",
            f"  Health    {base}/health",
        ]
        if self.sandbox is not None:
            lines.append(
                f"  Sandbox   {self.sandbox.official_url} (Official Account / Mini Program), "
                f"{self.sandbox.wecom_url} (WeCom)"
            )
            lines.append(f"  Points H5 {base}/h5/points/ (the member pages; 微信一键登录 is the demo member)")
            lines.append(f"  WeCom H5  {base}/h5/wecom/ (the demo corp's members: 企业微信登录, profile, directory)")
        lines.append(f"  Logs      {self.settings.log_dir}")
        password_lines = [m for m in self.messages if "admin" in m]
        if password_lines:
            lines += ["", *(f"  {m}" for m in password_lines)]
        else:
            lines.append(
                "  Login     admin / the password shown when it was created "
                "(or set WEDRAW_ADMIN_PASSWORD; `make admin-password` makes a new one)"
            )
        lines += [*(f"  {m}" for m in self.messages if "admin" not in m), "", "Press Ctrl-C to stop.", ""]
        return "\n".join(lines)


def main(port: int | None = None, workers: bool = True) -> None:
    settings = load_settings()
    if not settings.log_file:
        # Keep the terminal for the banner; the services' JSON lines go to var/log/web.log.
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        settings.log_file = str(settings.log_dir / "web.log")
    if settings.profile == "production":
        raise SystemExit("`wedraw run` is the embedded profile; production runs under Supervisor (see README).")
    host = os.environ.get("WEDRAW_HOST", "127.0.0.1")
    port = port or int(os.environ.get("WEDRAW_PORT", "8080"))
    platform = Platform(settings, host, port, workers)
    stopping = threading.Event()

    def _stop(_signum, _frame):
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        platform.start()
        print(platform.banner(), flush=True)
        while not stopping.wait(1.0):
            dead = [c for c in platform.children if c.poll() is not None]
            if dead:
                print(f"a worker process exited (code {dead[0].returncode}); see {settings.log_dir}", file=sys.stderr)
                break
    finally:
        print("Stopping WeDraw...", flush=True)
        platform.stop()
