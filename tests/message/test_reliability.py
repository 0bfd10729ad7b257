"""Nothing is lost when a worker dies or the broker restarts: real worker processes, real brokers.

The test plays beat: it runs the sweeper (`message_center.sweep_stuck`'s body) every second, as
beat does every 30 s in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BACKEND, free_port
from tests.message.conftest import FAST, JsonClient, purge_queues, seed_fans, wait_for
from wedraw.core.celery_app import make_celery
from wedraw.core.config import PROJECT_ROOT
from wedraw.core.factory import create_app
from workers.programs import worker_programs

pytestmark = pytest.mark.slow

BIG_WORLD = {"fans": 10_000, "members": 6, "departments": 2, "callback_base": None}
RELIABILITY_ENV = {"WEDRAW_MESSAGE_BATCH_SIZE": "500", "WEDRAW_MESSAGE_MASS_BATCH_SIZE": "500"}


@pytest.fixture(autouse=True)
def world_params(no_in_process_worker):
    """A world of 10,000 fans, and only the worker processes this module starts consume the queues."""
    return BIG_WORLD


class Worker:
    """One worker program (as Supervisor runs it) in a child process of this test."""

    def __init__(self, queue: str, env: dict[str, str], log_dir: Path):
        self.program = next(p for p in worker_programs() if p.queue == queue)
        self.env = env
        self.log = log_dir / f"{self.program.name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.program.argv(sys.executable), cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _stop(*workers: Worker | None) -> None:
    """Warm shutdown for all at once (each finishes its current task), then wait for them."""
    running = [w for w in workers if w is not None]
    for worker in running:
        worker.terminate()
    for worker in running:
        worker.wait()


def _env(settings, official_url: str, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        **settings.extra,
        **FAST,
        **RELIABILITY_ENV,
        "WEDRAW_PROFILE": "test",
        "WEDRAW_SERVICE": "message_center",
        "WEDRAW_WECHAT_API_BASE": settings.wechat_api_base,
        "WEDRAW_WECOM_API_BASE": settings.wecom_api_base,
        "WEDRAW_WECHAT_OFFICIAL_URL": official_url,
        "PYTHONPATH": str(PROJECT_ROOT),
        **overrides,
    }


def _counts(app, campaign_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from wedraw.message_center.models import Delivery, db

    with app.app_context():
        rows = db.session.execute(
            select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id).group_by(Delivery.status)
        ).all()
        db.session.remove()
    return dict(rows)


def _play_beat(app, settings) -> None:
    """One run of the sweeper, as beat would send it; a broker that is down is simply tried next time."""
    from wedraw.message_center import fleet, services
    from wedraw.message_center.models import db

    with app.app_context():
        try:
            services.sweep(fleet.push_queue_length(settings))
        except Exception:
            db.session.rollback()
        finally:
            db.session.remove()


def _campaigns(api, senders, oa_templates, openids: list[str]) -> tuple[dict, dict]:
    template = api.post(
        "/api/message/campaigns",
        json={
            "name": "万人模板消息",
            "channel": "oa_template",
            "sender_id": senders["official_account"]["id"],
            "template_id": oa_templates["积分变动提醒"]["id"],
            "data": {"keyword1": "+100", "keyword2": "1100"},
            "audience": {"kind": "fans"},
            "start": True,
        },
    )
    assert template.status_code == 201, template.get_json()
    mass = api.post(
        "/api/message/campaigns",
        json={
            "name": "群发",
            "channel": "oa_mass",
            "sender_id": senders["official_account"]["id"],
            "message": {"msgtype": "text", "text": {"content": "本周会员日"}},
            "audience": {"kind": "openids", "openids": openids},
            "start": True,
        },
    )
    assert mass.status_code == 201, mass.get_json()
    return template.get_json(), mass.get_json()


def _finish(app, settings, api, campaign_ids: list[int], timeout: float, supervise: tuple = ()) -> int:
    """Play beat until the campaigns complete; like Supervisor (autorestart), restart a worker that exits.

    Returns how many worker restarts that took.
    """
    deadline = time.monotonic() + timeout
    restarts = 0
    while True:
        states = [api.get(f"/api/message/campaigns/{cid}").get_json()["status"] for cid in campaign_ids]
        if all(s == "completed" for s in states):
            return restarts
        if time.monotonic() > deadline:
            raise AssertionError(f"campaigns not completed in {timeout:.0f} s: {states}")
        for worker in supervise:
            if worker.process.poll() is not None:
                worker.start()
                restarts += 1
        _play_beat(app, settings)
        time.sleep(1.0)


def _duplicates(sandbox, channel: str, expected: set[str]) -> int:
    counts = sandbox.control.outbox(channel=channel, limit=0)["counts"]
    assert set(counts) == expected, "a recipient was lost, or a stranger was sent to"
    return sum(n - 1 for n in counts.values())


def test_a_worker_killed_mid_campaign_loses_nothing(
    api, senders, oa_templates, sandbox, demo, official_app, official_url, mc_app, mc_settings, tmp_path
):
    fans = seed_fans(official_app, sandbox, demo.official.appid)
    assert len(fans) == 10_000
    purge_queues(make_celery("message_center", mc_settings))
    env = _env(mc_settings, official_url)
    orchestrator = Worker("message_center", env, tmp_path).start()
    pusher = Worker("wechat_push", env, tmp_path).start()
    replacement = None
    try:
        template, mass = _campaigns(api, senders, oa_templates, fans[:3000])

        def mid_flight():  # well under way, with sends in flight right now
            counts = _counts(mc_app, template["id"])
            return counts.get("sent", 0) >= 1500 and counts.get("sending", 0) > 0

        wait_for(mid_flight, 90, 0.02, f"the campaign did not get going; see {tmp_path}")
        pusher.kill()  # SIGKILL: no cleanup, no acknowledgement, claimed rows stay "sending"
        in_flight = _counts(mc_app, template["id"]).get("sending", 0)
        sent_at_kill = _counts(mc_app, template["id"]).get("sent", 0)
        assert sent_at_kill < 10_000, "the campaign finished before the kill; nothing was tested"
        replacement = Worker("wechat_push", env, tmp_path).start()
        _finish(mc_app, mc_settings, api, [template["id"], mass["id"]], timeout=150)
    finally:
        _stop(orchestrator, pusher, replacement)
    counts = _counts(mc_app, template["id"])
    assert counts == {"sent": 10_000}, counts
    template_duplicates = _duplicates(sandbox, "template", set(fans))
    mass_duplicates = _duplicates(sandbox, "mass", set(fans[:3000]))
    print(
        f"\nSIGKILL at {sent_at_kill}/10000 sent, {in_flight} in flight: "
        f"{template_duplicates} template message(s) sent twice, {mass_duplicates} mass duplicates"
    )
    assert template_duplicates <= in_flight
    assert mass_duplicates == 0
    assert _counts(mc_app, mass["id"]) == {"sent": 3000}


@pytest.mark.skipif(BACKEND != "mysql", reason="the Redis restart runs in the MariaDB + Redis tier")
def test_the_campaign_finishes_across_a_redis_restart(
    admin, senders, oa_templates, sandbox, demo, official_app, official_url, mc_settings, tmp_path
):
    import dataclasses

    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed")
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def start_redis() -> subprocess.Popen:
        with open(tmp_path / "redis.log", "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        import redis

        wait_for(lambda: _pings(redis.Redis.from_url(redis_url)), 10, 0.05, "private redis-server did not start")
        return process

    private = dataclasses.replace(
        mc_settings,
        redis_url=redis_url,
        celery_broker_url=redis_url,
        rate_limit_storage_url=redis_url,
        extra={**mc_settings.extra, "WEDRAW_REDIS_URL": redis_url, "WEDRAW_CELERY_BROKER_URL": redis_url},
    )
    redis_process = start_redis()
    app = create_app("message_center", settings=private)
    api = JsonClient(app, admin.headers)
    fans = seed_fans(official_app, sandbox, demo.official.appid)[:3000]
    env = _env(
        private,
        official_url,
        WEDRAW_REDIS_URL=redis_url,
        WEDRAW_CELERY_BROKER_URL=redis_url,
        WEDRAW_RATE_LIMIT_STORAGE_URL=redis_url,
    )
    workers = [Worker("message_center", env, tmp_path).start(), Worker("wechat_push", env, tmp_path).start()]
    try:
        campaign = api.post(
            "/api/message/campaigns",
            json={
                "name": "Redis 重启",
                "channel": "oa_template",
                "sender_id": senders["official_account"]["id"],
                "template_id": oa_templates["积分变动提醒"]["id"],
                "data": {"keyword1": "+1", "keyword2": "2"},
                "audience": {"kind": "openids", "openids": fans},
                "start": True,
            },
        ).get_json()
        wait_for(lambda: _counts(app, campaign["id"]).get("sent", 0) >= 800, 60, 0.1, "the campaign did not start")
        redis_process.terminate()  # the broker, the shared store and every queued task: gone
        redis_process.wait(10)
        at_restart = _counts(app, campaign["id"])
        time.sleep(2)
        redis_process = start_redis()
        restarts = _finish(app, private, api, [campaign["id"]], timeout=120, supervise=tuple(workers))
    finally:
        _stop(*workers)
        redis_process.terminate()
        redis_process.wait(10)
    assert _counts(app, campaign["id"]) == {"sent": 3000}
    assert at_restart.get("sent", 0) < 3000, "the campaign finished before the restart; nothing was tested"
    duplicates = _duplicates(sandbox, "template", set(fans))
    print(
        f"\nRedis restarted at {at_restart.get('sent', 0)}/3000 sent, {at_restart.get('sending', 0)} in flight: "
        f"{duplicates} message(s) sent twice; {restarts} worker restart(s) by the supervisor"
    )
    assert duplicates <= at_restart.get("sending", 0)


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False
