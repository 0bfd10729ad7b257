"""The call policy: refresh once, back off, stop, or fail at once, and the typed results."""

from __future__ import annotations

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from wedraw.core.store import LockNotAcquired
from wedraw.wechat import CallPolicy, Final, Ok, Retryable
from wedraw.wechat.tokens import TokenFetchError

USER_INFO = "/cgi-bin/user/info"


def first_fan(sandbox) -> str:
    return sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]


def calls_to(sandbox, path: str) -> int:
    return sandbox.control.stats()["calls"].get(f"official {path}", 0)


def test_40001_once_means_one_refresh_and_a_successful_retry(sandbox, oa):
    openid = first_fan(sandbox)
    assert oa.call(oa.api.user.get, openid).ok
    token_calls = sandbox.control.token_calls(sandbox.demo.official.appid)
    sandbox.control.fault(USER_INFO, errcode=40001, times=1)
    result = oa.call(oa.api.user.get, openid)
    assert isinstance(result, Ok) and result.attempts == 2 and result.data["openid"] == openid
    assert sandbox.control.token_calls(sandbox.demo.official.appid) == token_calls + 1


def test_token_errors_twice_in_a_row_are_retryable_not_a_loop(sandbox, oa):
    sandbox.control.fault(USER_INFO, errcode=42001, times=None)
    result = oa.call(oa.api.user.get, first_fan(sandbox))
    assert isinstance(result, Retryable) and result.errcode == 42001 and result.attempts == 2


def test_45009_is_reported_without_a_retry(sandbox, oa, pauses):
    sandbox.control.fault(USER_INFO, errcode=45009, times=None)
    sandbox.control.clear_stats()
    result = oa.call(oa.api.user.get, first_fan(sandbox))
    assert isinstance(result, Retryable) and result.errcode == 45009 and result.attempts == 1
    assert calls_to(sandbox, USER_INFO) == 1 and pauses.pauses == []


def test_a_six_second_delay_times_out_and_the_retry_succeeds(sandbox, oa, pauses):
    sandbox.control.fault(USER_INFO, delay=6, times=1)
    result = oa.call(oa.api.user.get, first_fan(sandbox), call_timeout=0.5)
    assert isinstance(result, Ok) and result.attempts == 2 and len(pauses.pauses) == 1


def test_timeouts_that_persist_are_retryable(sandbox, oa, pauses):
    sandbox.control.fault(USER_INFO, delay=6, times=3)
    result = oa.call(oa.api.user.get, first_fan(sandbox), call_timeout=0.3)
    assert isinstance(result, Retryable) and result.errcode is None and result.meaning == "timed out"
    assert result.attempts == 3 and len(pauses.pauses) == 2


def test_system_busy_backs_off_with_growing_pauses(sandbox, oa, pauses):
    sandbox.control.fault(USER_INFO, errcode=-1, times=2)
    assert oa.call(oa.api.user.get, first_fan(sandbox)).attempts == 3
    assert 0.25 <= pauses.pauses[0] <= 0.5 and 0.5 <= pauses.pauses[1] <= 1.0
    sandbox.control.fault(USER_INFO, errcode=-1, times=None)
    busy = oa.call(oa.api.user.get, first_fan(sandbox))
    assert isinstance(busy, Retryable) and busy.errcode == -1 and busy.attempts == 3


def test_http_errors(sandbox, oa):
    sandbox.control.fault(USER_INFO, http_status=502, times=1)
    assert oa.call(oa.api.user.get, first_fan(sandbox)).attempts == 2
    sandbox.control.fault(USER_INFO, http_status=403, times=1)
    refused = oa.call(oa.api.user.get, first_fan(sandbox))
    assert isinstance(refused, Final) and refused.meaning == "HTTP 403"


@pytest.mark.parametrize("errcode", [40003, 43004, 43101, 45015, 45047, 40037, 47003, 41030, 40029, 40163])
def test_final_codes_fail_at_once(sandbox, oa, pauses, errcode):
    sandbox.control.fault(USER_INFO, errcode=errcode, times=1)
    result = oa.call(oa.api.user.get, first_fan(sandbox))
    assert isinstance(result, Final) and result.errcode == errcode and result.attempts == 1
    assert result.meaning and str(errcode) not in result.meaning
    assert pauses.pauses == []


def test_faults_can_target_one_app(sandbox, oa):
    sandbox.control.fault("/cgi-bin/menu/get", errcode=45009, appid=sandbox.demo.miniprogram.appid)
    assert oa.call(oa.api.menu.get).ok  # another app's fault does not apply


# --------------------------------------------------------------------------- the policy alone


def _raiser(*errors):
    remaining = list(errors)

    def call():
        if remaining:
            raise remaining.pop(0)
        return "done"

    return call


def test_refresh_failure_is_reported_as_the_token_fetch_error():
    def refresh():
        raise TokenFetchError(40125, "invalid appsecret")

    result = CallPolicy(sleep=lambda s: None).run(_raiser(WeChatClientException(40001, "x")), refresh_token=refresh)
    assert isinstance(result, Final) and (result.errcode, result.category) == (40125, "config")


def test_lock_held_elsewhere_is_retryable():
    result = CallPolicy(sleep=lambda s: None).run(_raiser(LockNotAcquired("wechat:app:x:refresh")))
    assert isinstance(result, Retryable) and result.retry_after == 5.0


def test_connection_failures_are_retried():
    result = CallPolicy(sleep=lambda s: None).run(_raiser(requests.ConnectionError(), requests.ConnectionError()))
    assert result == Ok("done", attempts=3)


def test_unknown_codes_are_final_and_bugs_are_raised():
    result = CallPolicy().run(_raiser(WeChatClientException(61234, "whatever")))
    assert isinstance(result, Final) and result.category == "unexpected"
    with pytest.raises(KeyError):
        CallPolicy().run(_raiser(KeyError("a bug in the caller")))


def test_results_say_what_they_are():
    assert (Ok(1).status, Ok(1).ok) == ("ok", True)
    assert (Retryable(-1, "busy").status, Retryable(-1, "busy").ok) == ("retryable", False)
    assert (Final(40003, "bad").status, Final(40003, "bad").ok) == ("final", False)
