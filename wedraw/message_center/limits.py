"""Rate limits shared by every worker process: Redis in production, the SQLite store file in embedded.

Two shapes, both per key (one WeChat app and channel, or one robot):

- `bucket`: a token bucket of `limit` tokens refilled at `limit / window` per second. It
  allows a burst of `limit` and then the steady rate (template, customer-service,
  subscribe, WeCom and mass sends).
- `window`: at most `limit` in any `window` seconds, exactly as WeChat counts a robot's 20
  messages a minute (a bucket would let the 21st through three seconds after a burst).

`acquire(key, limit, want)` takes up to `want` permits at once and answers how many it
granted and, when fewer, how long until the next one: a limited send waits (its task is
re-queued with that countdown); it is never dropped. On Redis each call is one Lua script
using Redis's clock, so every worker agrees; on SQLite it is one IMMEDIATE transaction.

`block(key, seconds)` stops a key for a while (WeChat answered 45009: quota or frequency).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wedraw.core.store import RedisStore, SharedStore, SqliteStore


@dataclass(frozen=True)
class Limit:
    limit: int
    window: float  # seconds
    strategy: str = "bucket"  # bucket | window

    @property
    def rate(self) -> float:
        return self.limit / self.window

    def describe(self) -> str:
        per = "second" if self.window == 1 else f"{self.window:g} s"
        return f"{self.limit} per {per}" + (" (sliding window)" if self.strategy == "window" else "")


@dataclass(frozen=True)
class Grant:
    granted: int
    wait: float  # seconds until the next permit when granted < wanted


_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then tokens = cap; ts = now end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
local wait_ms = 0
if granted < want then wait_ms = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate * 1000) + 1000)
return {granted, wait_ms}
"""

_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local granted = math.max(0, math.min(want, limit - used))
for i = 1, granted do
  local seq = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], now, tostring(now) .. ':' .. tostring(seq))
end
local wait_ms = 0
if granted < want then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] then wait_ms = math.max(1, tonumber(oldest[2]) + window - now) else wait_ms = 1 end
end
redis.call('PEXPIRE', KEYS[1], window + 1000)
redis.call('PEXPIRE', KEYS[2], window + 1000)
return {granted, wait_ms}
"""


class RedisLimiter:
    def __init__(self, store: RedisStore):
        self.client = store.client
        self.prefix = store.prefix
        self._bucket = self.client.register_script(_BUCKET_LUA)
        self._window = self.client.register_script(_WINDOW_LUA)

    def acquire(self, key: str, limit: Limit, want: int = 1) -> Grant:
        full = f"{self.prefix}mc:rate:{key}"
        if limit.strategy == "window":
            granted, wait_ms = self._window(
                keys=[full, full + ":seq"], args=[limit.limit, int(limit.window * 1000), want]
            )
        else:
            granted, wait_ms = self._bucket(keys=[full], args=[limit.limit, repr(limit.rate), want])
        return Grant(int(granted), int(wait_ms) / 1000)


class SqliteLimiter:
    """The same algorithms over the embedded profile's shared SQLite file (its `kv` table)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._pid = os.getpid()

    @contextmanager
    def _transaction(self):
        if self._pid != os.getpid():  # a forked child opens its own connection
            self._local = threading.local()
            self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def acquire(self, key: str, limit: Limit, want: int = 1) -> Grant:
        full = f"mc:rate:{key}"
        with self._transaction() as conn:
            now = time.time()
            row = conn.execute(
                "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)", (full, now)
            ).fetchone()
            state = json.loads(row[0]) if row else None
            if limit.strategy == "window":
                log = [t for t in (state or {}).get("log", []) if t > now - limit.window]
                granted = max(0, min(want, limit.limit - len(log)))
                log.extend([now] * granted)
                wait = 0.0 if granted == want else max(0.001, min(log) + limit.window - now)
                value, ttl = {"log": log}, limit.window + 1
            else:
                tokens = float(state["tokens"]) if state else float(limit.limit)
                last = float(state["ts"]) if state else now
                tokens = min(limit.limit, tokens + max(0.0, now - last) * limit.rate)
                granted = min(want, math.floor(tokens))
                tokens -= granted
                wait = 0.0 if granted == want else (1 - tokens) / limit.rate
                value, ttl = {"tokens": tokens, "ts": now}, limit.window + 1
            conn.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (full, json.dumps(value), now + ttl),
            )
        return Grant(int(granted), wait)


class Limiter:
    """Rate limits and quota blocks over the installation's shared store."""

    def __init__(self, store: SharedStore):
        self.store = store
        if isinstance(store, RedisStore):
            self.backend = RedisLimiter(store)
        elif isinstance(store, SqliteStore):
            self.backend = SqliteLimiter(store.path)
        else:
            raise TypeError(f"no rate limiter for {type(store).__name__}")

    def acquire(self, key: str, limit: Limit, want: int = 1) -> Grant:
        blocked = self.blocked_for(key)
        if blocked > 0:
            return Grant(0, blocked)
        return self.backend.acquire(key, limit, want)

    def block(self, key: str, seconds: float) -> None:
        until = time.time() + seconds
        self.store.set(f"mc:block:{key}", repr(until), ttl=max(1, math.ceil(seconds)))

    def blocked_for(self, key: str) -> float:
        raw = self.store.get(f"mc:block:{key}")
        return max(0.0, float(raw) - time.time()) if raw else 0.0


_limiters: dict[int, Limiter] = {}
_lock = threading.Lock()


def limiter_for(store: SharedStore) -> Limiter:
    with _lock:
        limiter = _limiters.get(id(store))
        if limiter is None or limiter.store is not store:
            limiter = _limiters[id(store)] = Limiter(store)
        return limiter
