"""Runs in a spawned process: one "worker" calling WeChat through the client layer."""

from __future__ import annotations


def call_followers(environ: dict[str, str], appid: str, secret: str, barrier, results) -> None:
    from wedraw.core.config import load_settings
    from wedraw.wechat import OfficialAccountConfig, official_account

    settings = load_settings(environ=environ, profile="test")
    oa = official_account(settings, OfficialAccountConfig(appid, secret))
    barrier.wait(timeout=60)  # every process calls at the same moment
    result = oa.call(oa.api.user.get_followers)
    results.put((result.status, getattr(result, "errcode", None), result.attempts))
