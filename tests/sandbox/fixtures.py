"""Fixtures for tests that need a running sandbox and clients pointed at it.

Each test gets its own sandbox (a small world on free ports) and its own shared store
(a SQLite file under tmp_path), so tests never see each other's tokens or deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wedraw.core.config import Settings, load_settings
from wedraw.sandbox.client import SandboxControl
from wedraw.sandbox.demo import DemoAccounts
from wedraw.sandbox.server import SandboxHandle, start_sandbox
from wedraw.sandbox.world import World
from wedraw.wechat import CallPolicy, metrics, reset_clients

SMALL_WORLD = {"fans": 60, "members": 30, "departments": 4, "callback_base": None}


def client_settings(var_dir, official_url: str, wecom_url: str, **extra: str) -> Settings:
    environ = {
        "WEDRAW_VAR_DIR": str(var_dir),
        "WEDRAW_LOG_LEVEL": "WARNING",
        "WEDRAW_WECHAT_API_BASE": official_url,
        "WEDRAW_WECOM_API_BASE": wecom_url,
        **extra,
    }
    return load_settings(environ=environ, profile="test")


@dataclass
class Sandbox:
    handle: SandboxHandle
    control: SandboxControl
    settings: Settings  # the client side's settings, pointed at this sandbox

    @property
    def world(self) -> World:
        return self.handle.world

    @property
    def demo(self) -> DemoAccounts:
        return self.handle.world.demo


@pytest.fixture
def sandbox(tmp_path):
    base = load_settings(environ={"WEDRAW_VAR_DIR": str(tmp_path), "WEDRAW_LOG_LEVEL": "WARNING"}, profile="test")
    handle = start_sandbox(base, **SMALL_WORLD)
    reset_clients()
    metrics.reset()
    try:
        yield Sandbox(
            handle,
            SandboxControl(handle.official_url),
            client_settings(tmp_path, handle.official_url, handle.wecom_url),
        )
    finally:
        handle.stop()
        reset_clients()


@dataclass
class SleepRecorder:
    """A policy `sleep` that records the backoff pauses instead of waiting them out."""

    pauses: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def pauses() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def policy(pauses) -> CallPolicy:
    return CallPolicy(max_retries=2, sleep=pauses)


@pytest.fixture
def oa(sandbox, policy):
    from wedraw.wechat import demo_official_account, official_account

    return official_account(sandbox.settings, demo_official_account(sandbox.settings), timeout=5.0, policy=policy)


@pytest.fixture
def mp(sandbox, policy):
    from wedraw.wechat import demo_mini_program, mini_program

    return mini_program(sandbox.settings, demo_mini_program(sandbox.settings), timeout=5.0, policy=policy)


@pytest.fixture
def corp(sandbox, policy):
    from wedraw.wechat import demo_wecom_app, wecom_app

    return wecom_app(sandbox.settings, demo_wecom_app(sandbox.settings), timeout=5.0, policy=policy)
