"""One call policy for every WeChat call, and the typed result callers get.

- 40001/40014/42001: refresh the shared token once (or adopt a newer one another process
  stored) and retry once;
- -1, 45011, timeouts and transport failures: back off and retry a bounded number of times;
- 45009: stop and report (retryable later, never retried in the call);
- 40003, 43004, 43101, 45015, 45047, 40037, 47003, 41030, 40029, 40163 and the rest: final.

A caller gets `Ok(data)`, `Retryable(errcode, meaning, retry_after)` or
`Final(errcode, meaning, category)` and never a wechatpy exception.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

import requests
from wechatpy.exceptions import WeChatClientException

from wedraw.core.store import LockNotAcquired
from wedraw.wechat.tokens import TokenFetchError

log = logging.getLogger("wedraw.wechat.policy")

T = TypeVar("T")


class Disposition(Enum):
    REFRESH = "refresh the token once and retry once"
    BACKOFF = "back off and retry (bounded)"
    STOP = "stop and report"
    FINAL = "final"
    SUCCESS = "treat as success"
    EMPTY = "treat as empty"


@dataclass(frozen=True)
class Rule:
    meaning: str
    disposition: Disposition
    category: str = "error"  # what a caller does with a final answer: config, recipient, content, grant, ...
    retry_after: float | None = None


# WECHAT-NOTES.md's errcode table; anything not listed is final ("unexpected").
ERRCODES: dict[int, Rule] = {
    -1: Rule("system busy", Disposition.BACKOFF, "transient", 5.0),
    40001: Rule("access token invalid or not latest", Disposition.REFRESH, "token"),
    40014: Rule("access token invalid", Disposition.REFRESH, "token"),
    42001: Rule("access token expired", Disposition.REFRESH, "token"),
    41001: Rule("access token missing", Disposition.REFRESH, "token"),
    40013: Rule("bad appid or corp id", Disposition.FINAL, "config"),
    40125: Rule("bad app secret", Disposition.FINAL, "config"),
    40164: Rule("IP not in the whitelist", Disposition.FINAL, "config"),
    48001: Rule("API not authorised for this account", Disposition.FINAL, "config"),
    45009: Rule("quota or frequency limit reached", Disposition.STOP, "quota", 60.0),
    45011: Rule("per-minute limit reached", Disposition.BACKOFF, "quota", 60.0),
    40003: Rule("bad openid", Disposition.FINAL, "recipient"),
    43004: Rule("user has not subscribed", Disposition.FINAL, "recipient"),
    43019: Rule("the account has blacklisted this fan", Disposition.FINAL, "recipient"),
    45015: Rule("outside the 48-hour customer-service window", Disposition.FINAL, "recipient"),
    45047: Rule("customer-service message count exceeded", Disposition.FINAL, "recipient"),
    40037: Rule("bad template id", Disposition.FINAL, "content"),
    47003: Rule("bad template data", Disposition.FINAL, "content"),
    41030: Rule("bad page path", Disposition.FINAL, "content"),
    40008: Rule("bad message type", Disposition.FINAL, "content"),
    40007: Rule("bad media id", Disposition.FINAL, "content"),
    43101: Rule("user refused or has no grant left", Disposition.FINAL, "grant"),
    40029: Rule("bad or expired code", Disposition.FINAL, "code"),
    40163: Rule("code already used", Disposition.FINAL, "code"),
    40226: Rule("risky user", Disposition.FINAL, "code"),
    45065: Rule("clientmsgid already used: the first send stands", Disposition.SUCCESS),
    46003: Rule("no menu", Disposition.EMPTY),
    93000: Rule("bad robot webhook key", Disposition.FINAL, "robot"),
}
# The token endpoint answers 40001 for a wrong secret: there it is a configuration error.
TOKEN_FETCH_FINAL = {40001: Rule("bad app secret", Disposition.FINAL, "config")}
TIMEOUT_RULE = Rule("timed out", Disposition.BACKOFF, "transient", 5.0)
CONNECTION_RULE = Rule("connection failed", Disposition.BACKOFF, "transient", 5.0)
LOCK_RULE = Rule("token refresh held by another process", Disposition.STOP, "transient", 5.0)


def rule_for(errcode: int | None, *, token_fetch: bool = False) -> Rule:
    if token_fetch and errcode in TOKEN_FETCH_FINAL:
        return TOKEN_FETCH_FINAL[errcode]
    if errcode in ERRCODES:
        return ERRCODES[errcode]
    return Rule("unexpected WeChat error", Disposition.FINAL, "unexpected")


@dataclass(frozen=True)
class Ok(Generic[T]):
    data: T
    attempts: int = 1
    errcode: int = 0
    status = "ok"

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True)
class Retryable:
    errcode: int | None
    meaning: str
    errmsg: str = ""
    retry_after: float | None = None
    attempts: int = 1
    status = "retryable"

    @property
    def ok(self) -> bool:
        return False


@dataclass(frozen=True)
class Final:
    errcode: int | None
    meaning: str
    errmsg: str = ""
    category: str = "error"
    attempts: int = 1
    status = "final"

    @property
    def ok(self) -> bool:
        return False


CallResult = Ok[Any] | Retryable | Final


@dataclass(frozen=True)
class _Failure:
    errcode: int | None
    errmsg: str
    rule: Rule
    body: Any = None


def _body_of(exc: WeChatClientException) -> Any:
    try:
        return exc.response.json() if exc.response is not None else None
    except ValueError:
        return None


def classify(exc: BaseException) -> _Failure | None:
    """What went wrong, as a rule of the table; None for errors that are bugs (re-raised)."""
    if isinstance(exc, TokenFetchError):
        return _Failure(exc.errcode, exc.errmsg, rule_for(exc.errcode, token_fetch=True))
    if isinstance(exc, WeChatClientException):
        if exc.errcode is None:  # an HTTP error status
            status = getattr(exc.response, "status_code", None)
            transient = status is None or status >= 500 or status == 429
            rule = Rule(
                f"HTTP {status}",
                Disposition.BACKOFF if transient else Disposition.FINAL,
                "transient" if transient else "unexpected",
                5.0,
            )
            return _Failure(None, f"HTTP {status}", rule)
        return _Failure(int(exc.errcode), str(exc.errmsg), rule_for(int(exc.errcode)), _body_of(exc))
    if isinstance(exc, requests.Timeout):
        return _Failure(None, type(exc).__name__, TIMEOUT_RULE)
    if isinstance(exc, requests.ConnectionError):
        return _Failure(None, type(exc).__name__, CONNECTION_RULE)
    if isinstance(exc, LockNotAcquired):
        return _Failure(None, str(exc), LOCK_RULE)
    return None


class CallPolicy:
    def __init__(
        self,
        max_retries: int = 2,
        backoff: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.sleep = sleep

    def delay(self, retry: int) -> float:
        """Exponential backoff with jitter (half to full), so retrying processes spread out."""
        return min(self.backoff_cap, self.backoff * 2**retry) * (0.5 + random.random() / 2)

    def run(
        self, call: Callable[[], T], *, refresh_token: Callable[[], Any] | None = None, label: str = "wechat call"
    ) -> CallResult:
        """Run `call` under the policy. `refresh_token` replaces the token that just failed."""
        attempts = retries = 0
        refreshed = False
        while True:
            attempts += 1
            try:
                return Ok(call(), attempts)
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
            rule = failure.rule
            disposition = rule.disposition
            if disposition is Disposition.SUCCESS:
                return Ok(failure.body, attempts, failure.errcode or 0)
            if disposition is Disposition.EMPTY:
                return Ok(None, attempts, failure.errcode or 0)
            if disposition is Disposition.REFRESH and refresh_token is None:
                # A user's OAuth token, not the app's: nothing to refresh here.
                return Final(failure.errcode, rule.meaning, failure.errmsg, "token", attempts)
            if disposition is Disposition.REFRESH and not refreshed:
                refreshed = True
                log.info(
                    "%s: %s, refreshing the token",
                    label,
                    failure.errcode,
                    extra={"fields": {"errcode": failure.errcode}},
                )
                try:
                    refresh_token()
                except Exception as exc:
                    refresh_failure = classify(exc)
                    if refresh_failure is None:
                        raise
                    return self._stop(refresh_failure, attempts)
                continue
            if disposition is Disposition.BACKOFF and retries < self.max_retries:
                pause = self.delay(retries)
                retries += 1
                log.info(
                    "%s: %s (%s), retry %d in %.2fs",
                    label,
                    failure.errcode,
                    rule.meaning,
                    retries,
                    pause,
                    extra={"fields": {"errcode": failure.errcode, "retry": retries}},
                )
                self.sleep(pause)
                continue
            return self._stop(failure, attempts)

    @staticmethod
    def _stop(failure: _Failure, attempts: int) -> Retryable | Final:
        rule = failure.rule
        if rule.disposition is Disposition.FINAL:
            return Final(failure.errcode, rule.meaning, failure.errmsg, rule.category, attempts)
        if rule.disposition in (Disposition.SUCCESS, Disposition.EMPTY):  # reached via a failed refresh only
            return Final(failure.errcode, rule.meaning, failure.errmsg, "unexpected", attempts)
        return Retryable(failure.errcode, rule.meaning, failure.errmsg, rule.retry_after, attempts)
