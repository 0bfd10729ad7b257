"""One access token per app, shared by every process.

Every Official Account token fetch invalidates the previous token (after 5 minutes), so
processes that fetch on their own knock each other's tokens out: the classic 40001
storm. Here the token lives in the shared store (Redis in production, one SQLite file
in embedded) and is refreshed under a lock with a re-check: when it expires, N
processes cause exactly one `token` call; the others adopt what the winner stored.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wechatpy.session import SessionStorage

from wedraw.core.store import SharedStore, lock
from wedraw.wechat.metrics import WeChatMetrics, metrics

log = logging.getLogger("wedraw.wechat.tokens")

RECORD_KEY = "access_token"
REFRESH_MARGIN = 300  # refresh this long before expiry: older tokens are still valid meanwhile
REFRESH_AHEAD = 900  # the scheduled job refreshes tokens with less than this left
# How long a process reuses the token it last read before reading the shared store again. Safe because
# a replaced token keeps working for 5 minutes on WeChat's side, and a token WeChat refuses (40001/42001)
# is replaced through `refresh`, which always reads the store. Saves a store round trip per API call.
LOCAL_REUSE_SECONDS = 5.0


class TokenFetchError(Exception):
    """WeChat refused to issue a token (bad secret, bad appid, IP not allowed, quota, busy)."""

    def __init__(self, errcode: int | None, errmsg: str):
        super().__init__(f"token fetch failed: {errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class SharedSessionStorage(SessionStorage):
    """wechatpy's SessionStorage over the shared store; keys live under `wechat:<namespace>:`."""

    def __init__(self, store: SharedStore, namespace: str):
        self.store = store
        self.prefix = f"wechat:{namespace}:"

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.store.get(self.prefix + key)
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        self.store.set(self.prefix + key, json.dumps(value), ttl=int(ttl) if ttl else None)

    def delete(self, key: str) -> None:
        self.store.delete(self.prefix + key)

    def __getitem__(self, key: str) -> Any:  # wechatpy's base forgets to return
        return self.get(key)


@dataclass(frozen=True)
class TokenRecord:
    token: str
    expires_at: float


class SharedAccessToken:
    """The shared token of one app. `fetch` performs the HTTP call and returns WeChat's JSON."""

    def __init__(
        self,
        storage: SharedSessionStorage,
        fetch: Callable[[], dict],
        app: str,
        *,
        lock_ttl: int = 30,
        registry: WeChatMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.storage = storage
        self.fetch = fetch
        self.app = app
        self.lock_ttl = lock_ttl
        self.metrics = registry or metrics
        self.clock = clock
        self._local: tuple[TokenRecord, float] | None = None  # (record, monotonic time to read again)

    def _remember(self, record: TokenRecord) -> None:
        self._local = (record, time.monotonic() + LOCAL_REUSE_SECONDS)

    def record(self) -> TokenRecord | None:
        value = self.storage.get(RECORD_KEY)
        if not isinstance(value, dict) or not value.get("token"):
            return None
        return TokenRecord(value["token"], float(value["expires_at"]))

    def _fresh(self, record: TokenRecord | None) -> bool:
        return record is not None and record.expires_at - self.clock() > REFRESH_MARGIN

    def current(self) -> str:
        """The shared token, refreshed first when it is missing or about to expire."""
        local = self._local
        if local is not None and time.monotonic() < local[1] and self._fresh(local[0]):
            return local[0].token
        record = self.record()
        if self._fresh(record):
            self._remember(record)
            return record.token
        return self.refresh(stale=record.token if record else None)

    def refresh(self, stale: str | None = None) -> str:
        """Replace `stale` (the token that failed or is expiring), unless another process already did.

        Under the lock, re-read first: a fresh token other than `stale` is adopted without
        calling WeChat. Raises TokenFetchError, or LockNotAcquired if the holder never finishes.
        """
        with lock(self.storage.store, f"{self.storage.prefix}refresh", ttl=self.lock_ttl, wait=self.lock_ttl + 5):
            record = self.record()
            if self._fresh(record) and record.token != stale:
                self._remember(record)
                return record.token
            result = self._fetch()
            expires_in = int(result.get("expires_in") or 7200)
            token = result["access_token"]
            expires_at = self.clock() + expires_in
            self.storage.set(RECORD_KEY, {"token": token, "expires_at": expires_at}, ttl=expires_in)
            self._remember(TokenRecord(token, expires_at))
            log.info("access token refreshed", extra={"fields": {"app": self.app, "expires_in": expires_in}})
            return token

    def _fetch(self) -> dict:
        try:
            result = self.fetch()
        except TokenFetchError as exc:
            self.metrics.token_fetched(self.app, exc.errcode if exc.errcode is not None else "error")
            raise
        except Exception:
            self.metrics.token_fetched(self.app, "error")
            raise
        self.metrics.token_fetched(self.app, "ok")
        return result

    def refresh_ahead(self, min_remaining: float = REFRESH_AHEAD) -> bool:
        """For the scheduled job: refresh when less than `min_remaining` seconds are left."""
        record = self.record()
        if record is not None and record.expires_at - self.clock() > min_remaining:
            return False
        self.refresh(stale=record.token if record else None)
        return True

    def forget(self) -> None:
        self._local = None
        self.storage.delete(RECORD_KEY)
