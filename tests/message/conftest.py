"""Fixtures for the message center: a sandbox WeChat, the Official Account service served over HTTP
(its internal routes feed audiences and credentials), the message center pointed at both, and a
real Celery worker on the message center's queues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import pytest
from sqlalchemy import insert, select

from tests.conftest import run_worker
from wedraw.core.factory import create_app
from wedraw.core.serving import start_server, stop_server
from wedraw.message_center import credentials
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.server import start_sandbox
from wedraw.sandbox.world import person_profile
from wedraw.wechat import reset_clients

SMALL_WORLD = {"fans": 60, "members": 6, "departments": 2, "callback_base": None}
# Fast retries and short leases so retry and recovery paths finish inside a test.
# The robot's window, shortened from WeChat's minute (tests advance the sandbox's clock instead). Long
# enough that the first 20 sends land inside it even on a busy machine.
ROBOT_WINDOW_SECONDS = 12
FAST = {
    "WEDRAW_MESSAGE_BACKOFF_SECONDS": "0.1",
    "WEDRAW_MESSAGE_BACKOFF_CAP_SECONDS": "0.5",
    "WEDRAW_MESSAGE_QUOTA_PAUSE_SECONDS": "1",
    "WEDRAW_MESSAGE_LEASE_SECONDS": "5",
    "WEDRAW_MESSAGE_STUCK_SECONDS": "3",
    "WEDRAW_MESSAGE_BATCH_SIZE": "25",
    "WEDRAW_MESSAGE_ROBOT_WINDOW_SECONDS": str(ROBOT_WINDOW_SECONDS),
}


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition not met in time"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


@pytest.fixture
def world_params():
    """Tests override this to size the sandbox world (it is rebuilt before every test)."""
    return SMALL_WORLD


@pytest.fixture(scope="package")
def module_sandbox(settings):
    """One sandbox for the message tests (its ports stay; its world is rebuilt for every test)."""
    handle = start_sandbox(settings, **SMALL_WORLD)
    handle.control = SandboxControl(handle.official_url)
    try:
        yield handle
    finally:
        handle.stop()
        reset_clients()
        credentials.forget_cached()


@pytest.fixture
def sandbox(module_sandbox, world_params):
    module_sandbox.world.reset(**world_params)
    reset_clients()
    credentials.forget_cached()
    return module_sandbox


def _with_sandbox(settings, handle, env: dict):
    return dataclasses.replace(
        settings,
        wechat_api_base=handle.official_url,
        wecom_api_base=handle.wecom_url,
        extra={**settings.extra, **FAST, **env},
    )


@pytest.fixture(scope="package")
def module_official(apps, settings, module_sandbox):
    """The Official Account service, pointed at the sandbox and served over HTTP (its internal routes)."""
    app = create_app("wechat_official", settings=_with_sandbox(settings, module_sandbox, {}))
    server = start_server(app)
    yield app, f"http://127.0.0.1:{server.effective_port}"
    stop_server(server)


@pytest.fixture(scope="package")
def module_miniprogram(apps, settings, module_sandbox):
    """The miniprogram service served over HTTP (its internal routes feed `members` audiences)."""
    app = create_app("miniprogram", settings=_with_sandbox(settings, module_sandbox, {}))
    server = start_server(app, threads=4)
    yield app, f"http://127.0.0.1:{server.effective_port}"
    stop_server(server)


@pytest.fixture
def miniprogram_app(module_miniprogram):
    return module_miniprogram[0]


@pytest.fixture
def extra_env():
    """WEDRAW_MESSAGE_* overrides for a test (on top of FAST); a test with its own gets its own worker."""
    return {}


def _mc_settings(settings, handle, official_url: str, miniprogram_url: str, env: dict):
    base = _with_sandbox(settings, handle, env)
    urls = {**base.service_urls, "wechat_official": official_url, "miniprogram": miniprogram_url}
    return dataclasses.replace(base, service_urls=urls)


@pytest.fixture(scope="package")
def module_mc_settings(settings, module_sandbox, module_official, module_miniprogram):
    return _mc_settings(settings, module_sandbox, module_official[1], module_miniprogram[1], {})


@pytest.fixture
def mc_settings(settings, sandbox, module_official, module_miniprogram, extra_env, module_mc_settings):
    if not extra_env:
        return module_mc_settings
    return _mc_settings(settings, sandbox, module_official[1], module_miniprogram[1], extra_env)


@pytest.fixture
def official_app(module_official):
    return module_official[0]


@pytest.fixture
def official_url(module_official):
    return module_official[1]


@pytest.fixture
def mc_app(apps, mc_settings):
    return create_app("message_center", settings=mc_settings)


class JsonClient:
    def __init__(self, app, headers):
        self.http = app.test_client()
        self.headers = headers

    def __getattr__(self, method):
        def call(path, **kwargs):
            kwargs.setdefault("headers", self.headers)
            return self.http.open(path, method=method.upper(), **kwargs)

        return call


@pytest.fixture
def api(mc_app, admin):
    return JsonClient(mc_app, admin.headers)


@pytest.fixture
def demo(sandbox):
    return sandbox.world.demo


@pytest.fixture
def oa_account(official_app, admin, demo):
    """The demo Official Account registered in the Official Account service (credentials encrypted there)."""
    o = demo.official
    response = JsonClient(official_app, admin.headers).post(
        "/api/wechat/accounts",
        json={
            "appid": o.appid,
            "name": "演示",
            "secret": o.secret,
            "token": o.token,
            "aes_key": o.aes_key,
            "message_mode": "safe",
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def seed_fans(official_app, sandbox, appid: str, *, include_unsubscribed: bool = False) -> list[str]:
    """Store the sandbox account's fans in the Official Account service's tables (as a fan sync would)."""
    from wedraw.core.db import utcnow
    from wedraw.wechat_official.models import Account, Fan, db

    users = sandbox.world.accounts[appid].users
    rows, openids = [], []
    now = utcnow()
    with official_app.app_context():
        account_id = db.session.execute(select(Account.id).where(Account.appid == appid)).scalar_one()
        for i, openid in enumerate(users.openids):
            subscribed = users.is_subscribed(i)
            if not subscribed and not include_unsubscribed:
                continue
            tags = sorted(users.tags_of(i))
            rows.append(
                {
                    "account_id": account_id,
                    "openid": openid,
                    "unionid": person_profile(sandbox.world.params.seed, users.persons[i])["unionid"],
                    "subscribed": subscribed,
                    "tag_ids": "," + "".join(f"{t}," for t in tags),
                    "remark": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            openids.append(openid)
        for start in range(0, len(rows), 2000):
            db.session.execute(insert(Fan), rows[start : start + 2000])
        db.session.commit()
    return openids


def seed_tag(official_app, appid: str, wechat_id: int, name: str) -> None:
    """Store one of the account's WeChat tags in the Official Account service (as a tag sync would)."""
    from wedraw.wechat_official.models import Account, Tag, db

    with official_app.app_context():
        account_id = db.session.execute(select(Account.id).where(Account.appid == appid)).scalar_one()
        db.session.add(Tag(account_id=account_id, wechat_id=wechat_id, name=name))
        db.session.commit()


@pytest.fixture
def senders(api, oa_account, demo):
    """Every kind of sender, registered through the API: {kind: sender json}."""
    bodies = {
        "official_account": {"kind": "official_account", "appid": demo.official.appid},
        "mini_program": {
            "kind": "mini_program",
            "name": "积分商城",
            "appid": demo.miniprogram.appid,
            "secret": demo.miniprogram.secret,
        },
        "wecom_app": {
            "kind": "wecom_app",
            "name": "助手",
            "corp_id": demo.wecom.corp_id,
            "agent_id": demo.wecom.agent_id,
            "secret": demo.wecom.secret,
        },
        "group_robot": {"kind": "group_robot", "name": "告警", "key": demo.wecom.robot_key},
    }
    created = {}
    for kind, body in bodies.items():
        response = api.post("/api/message/senders", json=body)
        assert response.status_code == 201, response.get_json()
        created[kind] = response.get_json()
    return created


@pytest.fixture
def oa_templates(api, senders):
    """The Official Account's template-message templates, synced from WeChat (the sandbox)."""
    response = api.post("/api/message/templates/sync", json={"sender_id": senders["official_account"]["id"]})
    assert response.status_code == 200, response.get_json()
    return {t["name"]: t for t in response.get_json()}


def _start_worker(mc_settings):
    from workers.bootstrap import build_worker_app

    celery = build_worker_app("message_center", settings=mc_settings)
    purge_queues(celery)
    return celery, run_worker(celery, queues=["message_center", "wechat_push"], pool="threads", concurrency=4)


@pytest.fixture(scope="package")
def module_worker(apps, module_mc_settings):
    """One real Celery worker (threads, in this process) for the message tests, on message_center and wechat_push.

    Tasks left over from an earlier test are harmless: every task claims its rows with a
    conditional update, so it can only send what is due in the current test.
    """
    celery, running = _start_worker(module_mc_settings)
    with running as worker:
        _poll_quickly(worker)
        _IN_PROCESS.append(worker)
        try:
            yield celery
        finally:
            _IN_PROCESS.remove(worker)
    purge_queues(celery)


_IN_PROCESS: list = []


def _poll_quickly(worker) -> None:
    """The embedded broker (SQLite) is polled once a second; tests poll it every 50 ms (no effect on Redis)."""
    transport = getattr(getattr(worker.consumer, "connection", None), "transport", None)
    if transport is not None and getattr(transport, "polling_interval", None):
        transport.polling_interval = 0.05


@pytest.fixture
def no_in_process_worker():
    """Tests of real worker processes: the shared in-process worker stops consuming meanwhile."""
    queues = ("message_center", "wechat_push")
    for worker in _IN_PROCESS:
        for queue in queues:
            worker.consumer.cancel_task_queue(queue)
    yield
    for worker in _IN_PROCESS:
        for queue in queues:
            worker.consumer.add_task_queue(queue)


@pytest.fixture
def mc_worker(request, extra_env, mc_settings):
    """The module's worker, or a worker of this test's own settings (extra_env)."""
    if not extra_env:
        yield request.getfixturevalue("module_worker")
        return
    celery, running = _start_worker(mc_settings)
    with running as worker:
        _poll_quickly(worker)
        yield celery
    purge_queues(celery)


def purge_queues(celery, queues=("message_center", "wechat_push")) -> None:
    """Forget messages earlier tests left on the shared test broker."""
    with celery.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in queues:
            with contextlib.suppress(Exception):  # a queue that does not exist yet holds nothing
                channel.queue_purge(queue)


def deliveries(mc_app, **where) -> list:
    from wedraw.message_center.models import Delivery, db

    with mc_app.app_context():
        stmt = select(Delivery).order_by(Delivery.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Delivery, name) == value)
        rows = db.session.execute(stmt).scalars().all()
        db.session.expunge_all()
        return rows


def wait_campaign(api, campaign_id: int, statuses=("completed",), timeout: float = 60.0) -> dict:
    def done():
        body = api.get(f"/api/message/campaigns/{campaign_id}/progress").get_json()
        return body if body["status"] in statuses else None

    return wait_for(done, timeout, 0.2, f"campaign {campaign_id} did not reach {statuses}")


def wait_send(api, send_id: int, statuses=("sent", "failed_final"), timeout: float = 30.0) -> dict:
    def done():
        body = api.get(f"/api/message/sends/{send_id}").get_json()
        return body if body["status"] in statuses else None

    return wait_for(done, timeout, 0.1, f"send {send_id} did not reach {statuses}")
