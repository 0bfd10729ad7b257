"""One shared access token per app: the sandbox's token rules and our refresh under a lock."""

from __future__ import annotations

import multiprocessing
import os
import uuid

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.conftest import require_tier
from tests.sandbox.fixtures import client_settings
from tests.wechat.token_worker import call_followers
from wedraw.core.store import SqliteStore, store_for
from wedraw.wechat import Final, OfficialAccountConfig, Retryable, metrics, official_account, refresh_tokens_ahead
from wedraw.wechat.tokens import RECORD_KEY, SharedSessionStorage

PROCESSES = 8


def test_session_storage_namespaces_and_round_trips(tmp_path):
    store = SqliteStore(tmp_path / "store.sqlite")
    one, two = SharedSessionStorage(store, "app:one"), SharedSessionStorage(store, "app:two")
    one.set("ticket", {"value": "t", "n": 1}, ttl=60)
    assert one.get("ticket") == one["ticket"] == {"value": "t", "n": 1}
    assert two.get("ticket", "default") == "default"
    assert store.get("wechat:app:one:ticket") is not None
    one.set("ignored", None)
    assert one.get("ignored") is None
    one.delete("ticket")
    assert one.get("ticket") is None


def _spawn_callers(environ: dict, appid: str, secret: str) -> list[tuple]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=call_followers, args=(environ, appid, secret, barrier, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=90) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return outcomes


def _environ(sandbox, tmp_path, **extra) -> dict[str, str]:
    return {
        "WEDRAW_VAR_DIR": str(tmp_path),
        "WEDRAW_LOG_LEVEL": "WARNING",
        "WEDRAW_WECHAT_API_BASE": sandbox.handle.official_url,
        "WEDRAW_WECOM_API_BASE": sandbox.handle.wecom_url,
        **extra,
    }


def _expired_token_storm(sandbox, tmp_path, **extra) -> None:
    appid, secret = f"wx{uuid.uuid4().hex[:16]}", "storm-secret"  # unique: Redis outlives the test
    sandbox.control.register_account(appid, secret, fans=5)
    environ = _environ(sandbox, tmp_path, **extra)
    settings = client_settings(tmp_path, sandbox.handle.official_url, sandbox.handle.wecom_url, **extra)
    oa = official_account(settings, OfficialAccountConfig(appid, secret))
    try:
        assert oa.call(oa.api.user.get_followers).ok  # the shared token exists...
        assert sandbox.control.expire_tokens(appid) == 1  # ...and WeChat now answers 42001 for it
        sandbox.control.clear_stats()
        outcomes = _spawn_callers(environ, appid, secret)
        assert [status for status, _, _ in outcomes] == ["ok"] * PROCESSES
        assert sandbox.control.token_calls(appid) == 1
    finally:
        oa.api.shared_token.forget()


def test_eight_processes_cause_one_token_call_when_the_token_expires(sandbox, tmp_path):
    _expired_token_storm(sandbox, tmp_path)


def test_eight_cold_processes_cause_one_token_call(sandbox, tmp_path):
    outcomes = _spawn_callers(_environ(sandbox, tmp_path), sandbox.demo.official.appid, sandbox.demo.official.secret)
    assert {status for status, _, _ in outcomes} == {"ok"}
    assert sandbox.control.token_calls(sandbox.demo.official.appid) == 1


def test_eight_processes_with_redis(sandbox, tmp_path):
    redis_url = os.environ.get("WEDRAW_TEST_REDIS_URL")
    if not redis_url:
        require_tier("WEDRAW_TEST_REDIS_URL is not set: the Redis token store is not tested")
    _expired_token_storm(sandbox, tmp_path, WEDRAW_REDIS_URL=redis_url)


def test_a_newer_token_leaves_the_old_one_working_for_five_minutes(sandbox, oa):
    assert oa.call(oa.api.user.get_followers).ok
    old = oa.api.shared_token.record().token
    new = oa.api.shared_token.refresh(stale=old)
    assert new != old
    assert oa.api.get("user/get", params={"access_token": old})["total"] == 60  # still inside the grace
    sandbox.control.advance_clock(301)
    with pytest.raises(WeChatClientException) as retired:
        oa.api.get("user/get", params={"access_token": old})
    assert retired.value.errcode == 40001
    assert oa.api.get("user/get", params={"access_token": new})["total"] == 60


def test_a_token_older_than_7200_seconds_expires_and_is_refreshed_once(sandbox, oa):
    assert oa.call(oa.api.user.get_followers).ok
    sandbox.control.advance_clock(7201)
    with pytest.raises(WeChatClientException) as expired:
        oa.api.get("user/get", params={"access_token": oa.api.shared_token.record().token})
    assert expired.value.errcode == 42001
    result = oa.call(oa.api.user.get_followers)
    assert result.ok and result.attempts == 2
    assert sandbox.control.token_calls(sandbox.demo.official.appid) == 2


def test_adopts_a_token_another_process_already_refreshed(sandbox, oa):
    assert oa.call(oa.api.user.get_followers).ok
    stale = oa.api.shared_token.record().token
    fresh = oa.api.shared_token.refresh(stale=stale)  # "another process" refreshed
    calls = sandbox.control.token_calls(sandbox.demo.official.appid)
    assert oa.api.shared_token.refresh(stale=stale) == fresh  # adopted, no fetch
    assert sandbox.control.token_calls(sandbox.demo.official.appid) == calls


def test_daily_token_quota(sandbox, policy):
    sandbox.control.register_account("wxtokenquota000001", "s", fans=2, token_daily_quota=2)
    oa = official_account(sandbox.settings, OfficialAccountConfig("wxtokenquota000001", "s"), policy=policy)
    assert oa.call(oa.api.user.get_followers).ok
    sandbox.control.expire_tokens("wxtokenquota000001")
    assert oa.call(oa.api.user.get_followers).ok  # second fetch of the day
    sandbox.control.expire_tokens("wxtokenquota000001")
    result = oa.call(oa.api.user.get_followers)
    assert isinstance(result, Retryable) and result.errcode == 45009


def test_token_fetch_has_a_timeout(sandbox, policy, pauses):
    """wechatpy's own token fetch sends none; ours always has one (and is retried)."""
    sandbox.control.fault("/cgi-bin/token", delay=2, times=1)
    oa = official_account(
        sandbox.settings,
        OfficialAccountConfig(sandbox.demo.official.appid, sandbox.demo.official.secret),
        timeout=0.3,
        policy=policy,
    )
    result = oa.call(oa.api.user.get_followers)
    assert result.ok and result.attempts == 2 and len(pauses.pauses) == 1
    assert metrics.snapshot()["api_calls"]["wechat:cgi-bin/token"] == {"timeout": 1, "0": 1}
    assert metrics.snapshot()["token_fetches"][sandbox.demo.official.appid] == {"error": 1, "ok": 1}


def test_token_fetch_40001_is_a_bad_secret(sandbox, oa):
    sandbox.control.fault("/cgi-bin/token", errcode=40001)
    result = oa.call(oa.api.user.get_followers)
    assert isinstance(result, Final) and (result.errcode, result.category) == (40001, "config")


def test_scheduled_refresh_ahead_of_expiry(sandbox, oa, corp):
    assert refresh_tokens_ahead([oa, corp]) == {oa.name: "refreshed", corp.name: "refreshed"}
    assert refresh_tokens_ahead([oa, corp]) == {oa.name: "fresh", corp.name: "fresh"}
    storage = oa.api.session
    record = storage.get(RECORD_KEY)
    storage.set(RECORD_KEY, {**record, "expires_at": record["expires_at"] - 6600}, ttl=600)  # 10 minutes left
    assert refresh_tokens_ahead([oa]) == {oa.name: "refreshed"}
    assert oa.api.shared_token.record().token != record["token"]
    sandbox.control.fault("/cgi-bin/gettoken", errcode=-1, times=None, host="wecom")
    corp.api.shared_token.forget()
    assert refresh_tokens_ahead([corp])[corp.name].startswith("TokenFetchError")


def test_store_for_the_settings_is_where_tokens_live(sandbox, oa):
    assert oa.call(oa.api.user.get_followers).ok
    raw = store_for(sandbox.settings).get(f"wechat:app:{sandbox.demo.official.appid}:{RECORD_KEY}")
    assert raw and oa.api.shared_token.record().token in raw


def test_a_process_reuses_its_token_briefly_and_replaces_one_wechat_refuses(sandbox, oa, monkeypatch):
    from wedraw.wechat import tokens

    assert oa.call(oa.api.user.get_followers).ok
    storage = oa.api.shared_token.storage
    reads = []
    read = storage.get
    monkeypatch.setattr(storage, "get", lambda key, default=None: reads.append(key) or read(key, default))
    for _ in range(3):
        assert oa.call(oa.api.user.get_followers).ok
    assert reads == []  # no store round trip per call

    assert sandbox.control.expire_tokens(sandbox.demo.official.appid) == 1  # WeChat now answers 42001
    result = oa.call(oa.api.user.get_followers)
    assert result.ok and result.attempts == 2  # replaced through the store, under the lock
    assert RECORD_KEY in reads

    monkeypatch.setattr(tokens, "LOCAL_REUSE_SECONDS", 0.0)
    oa.api.shared_token.forget()
    assert oa.call(oa.api.user.get_followers).ok  # a new token, remembered with no reuse window...
    reads.clear()
    assert oa.call(oa.api.user.get_followers).ok
    assert reads == [RECORD_KEY]  # ...so the next call reads the shared store again
