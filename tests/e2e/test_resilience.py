"""Reload, restart and a killed master under Supervisor, with a client sending requests throughout;
logrotate while requests are logged."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import requests

from tests.conftest import require_tier
from tests.e2e.conftest import children, client_from, log_lines, rotated

PROGRAM = "wedraw-web:wedraw-user_center"


class Traffic:
    """A client sending GET /api/auth/me through Nginx from many addresses until stopped."""

    def __init__(self, layout, headers: dict, addresses: list[str], pause: float = 0.01):
        self.url = f"{layout.url}/api/auth/me"
        self.headers = headers
        self.sessions = itertools.cycle([client_from(ip) for ip in addresses])
        self.pause = pause
        self.results: list[tuple[float, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = next(self.sessions).get(self.url, headers=self.headers, timeout=15)
                outcome = response.status_code if response.status_code == 200 else (response.status_code, response.text)
            except requests.RequestException as exc:
                outcome = ("error", type(exc).__name__)
            self.results.append((time.monotonic(), outcome))
            time.sleep(self.pause)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join(timeout=30)

    def failures(self, since: float = 0.0) -> list:
        return [outcome for at, outcome in self.results if at >= since and outcome != 200]

    def count(self, since: float = 0.0) -> int:
        return sum(1 for at, _ in self.results if at >= since)


def _wait(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


def test_hup_reloads_gracefully_no_request_fails(layout):
    headers = layout.login()
    master = layout.pid(PROGRAM)
    old_workers = children(master)
    assert len(old_workers) == 2
    with Traffic(layout, headers, layout.addresses(60)) as traffic:
        time.sleep(1.0)
        hup_at = time.monotonic()
        signalled = layout.ctl("signal", "HUP", PROGRAM)
        assert signalled.returncode == 0, signalled.stdout + signalled.stderr
        new_workers = _wait(
            lambda: (lambda now: now if len(now) == 2 and not now & old_workers else None)(children(master)),
            60,
            "gunicorn did not replace its workers after HUP",
        )
        time.sleep(1.5)  # and keep going on the new workers
    assert layout.pid(PROGRAM) == master  # the same master: the listening socket never closed
    assert new_workers.isdisjoint(old_workers)
    assert traffic.count(since=hup_at) >= 10  # requests kept coming while the workers were replaced
    assert traffic.failures() == [], traffic.failures()[:5]


def test_restart_comes_back_and_only_the_gap_is_answered_503_by_nginx(layout):
    """`supervisorctl restart` stops gunicorn before starting it again, so for that gap no process
    listens: Nginx answers the requests it cannot place with its JSON 503 (and Retry-After). That is
    why the README says to deploy with `signal HUP` (graceful, test above) and restart only to
    change gunicorn's own settings."""
    headers = layout.login()
    master = layout.pid(PROGRAM)
    with Traffic(layout, headers, layout.addresses(60)) as traffic:
        time.sleep(1.0)
        restarted = layout.ctl("restart", PROGRAM)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        back = time.monotonic()
        layout.wait_healthy(60)
        time.sleep(1.0)
    assert layout.pid(PROGRAM) != master
    failures = traffic.failures()
    for outcome in failures:
        status, body = outcome
        assert status == 503 and json.loads(body)["code"] == "service_unavailable", outcome
    assert traffic.failures(since=back + 0.5) == []  # once started, every request succeeds again
    assert traffic.count(since=back) > 10


def test_a_killed_gunicorn_master_is_restarted_by_supervisor(layout):
    """Workers stop with their master (parent-death signal in gunicorn.conf.py) instead of idling
    up to 15 s before gunicorn's own parent check, so the master Supervisor starts again can bind
    the port; until it serves, Nginx answers the gap with its JSON 503, then every request succeeds."""
    headers = layout.login()
    master = layout.pid(PROGRAM)
    workers = children(master)
    assert len(workers) == 2
    os.kill(master, signal.SIGKILL)  # while idle: no request makes a worker look at its parent
    _wait(lambda: not any(_alive(p) for p in workers), 5, f"orphaned workers still alive: {workers}")
    with Traffic(layout, headers, layout.addresses(120)) as traffic:
        _wait(lambda: _pid_or_zero(layout) not in (0, master), 60, "supervisor did not start wedraw-user_center again")
        new_master = layout.pid(PROGRAM)
        _wait(lambda: len(children(new_master)) == 2, 60, "the new master has not started its workers")
        _wait(lambda: layout.stack.status().get("wedraw-user_center") == "RUNNING", 90, "not RUNNING again")
        layout.wait_healthy(60)
        back = time.monotonic()
        time.sleep(1.5)
    assert layout.pid(PROGRAM) == new_master != master
    for outcome in traffic.failures():
        status, body = outcome
        assert status == 503 and json.loads(body)["code"] == "service_unavailable", outcome
    assert traffic.count(since=back) >= 10
    assert traffic.failures(since=back) == [], traffic.failures(since=back)[:5]


def _pid_or_zero(layout) -> int:
    out = layout.ctl("pid", PROGRAM).stdout.strip()
    return int(out) if out.isdigit() else 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_logrotate_reopens_every_log_and_loses_no_line(layout):
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not os.path.exists(logrotate):
        require_tier("logrotate is not installed (apt-get install logrotate)")
    web = client_from(layout.addresses(1)[0])
    ids = [f"rot-{uuid.uuid4().hex[:10]}-{i:03d}" for i in range(40)]
    errors: list = []

    def send(request_ids):
        for rid in request_ids:
            try:
                response = web.get(f"{layout.url}/api/users", headers={"X-Request-ID": rid}, timeout=10)
                if response.status_code >= 500:  # 401 without a token is fine: it is logged
                    errors.append((rid, response.status_code, response.text[:200]))
            except requests.RequestException as exc:
                errors.append(exc)

    # Requests keep coming while the logs are renamed and supervisord/Nginx reopen them.
    sender = threading.Thread(target=send, args=(ids[:30],))
    sender.start()
    time.sleep(0.05)
    result = subprocess.run(
        [
            logrotate,
            "-f",
            "-s",
            str(layout.stack.path("logrotate.state")),
            str(layout.stack.path("etc", "logrotate.conf")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    sender.join()
    assert result.returncode == 0, result.stderr
    send(ids[30:])
    assert errors == []

    def where(rid: str, program: str) -> tuple[int, int]:
        return (
            sum(rid in line for line in rotated(layout, program)),
            sum(rid in line for line in log_lines(layout, program)),
        )

    def all_logged() -> bool:
        return all(sum(where(rid, "wedraw-user_center")) >= 1 for rid in ids)

    _wait(all_logged, 15, "some request ids never reached a log file")
    for rid in ids:
        old, new = where(rid, "wedraw-user_center")
        assert old + new == 1, (rid, old, new)  # each access line exactly once, in one of the two files
    for rid in ids[30:]:
        assert where(rid, "wedraw-user_center") == (0, 1)  # after the reopen: the new file
    # Nginx reopened its access log too: the last requests are in the new one.
    access = layout.stack.path("log", "nginx", "access.log").read_text()
    assert ids[-1] in access
    assert any(p.name.startswith("access.log-") for p in layout.stack.path("log", "nginx").iterdir())
