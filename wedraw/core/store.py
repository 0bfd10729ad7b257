"""A small key-value store shared by every process of an installation.

Production uses Redis. The embedded profile uses one SQLite file, so web processes,
workers and beat on one machine still agree without a server. It holds short-lived
shared state: revoked sessions, locks for periodic jobs and WeChat access tokens.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class SharedStore(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl: int | None = None) -> None: ...
    def add(self, key: str, value: str, ttl: int | None = None) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_if_equal(self, key: str, value: str) -> bool: ...
    def incr(self, key: str, ttl: int) -> int: ...


class LockNotAcquired(RuntimeError):
    pass


@contextmanager
def lock(store: SharedStore, name: str, ttl: int = 60, wait: float = 0.0) -> Iterator[str]:
    """Hold a named lock for at most `ttl` seconds; raise LockNotAcquired when taken.

    `wait` > 0 polls until the lock frees or the wait ends. Only the holder's token
    releases it, so a lock that outlived its ttl is never freed by the wrong owner.
    """
    token = uuid.uuid4().hex
    key = f"lock:{name}"
    deadline = time.monotonic() + wait
    while not store.add(key, token, ttl):
        if time.monotonic() >= deadline:
            raise LockNotAcquired(name)
        time.sleep(0.05)
    try:
        yield token
    finally:
        store.delete_if_equal(key, token)


class RedisStore:
    def __init__(self, url: str, prefix: str = "wedraw:"):
        import redis

        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return self.prefix + key

    def get(self, key: str) -> str | None:
        return self.client.get(self._k(key))

    def set(self, key: str, value: str, ttl: int | None = None) -> None:
        self.client.set(self._k(key), value, ex=ttl)

    def add(self, key: str, value: str, ttl: int | None = None) -> bool:
        return bool(self.client.set(self._k(key), value, ex=ttl, nx=True))

    def delete(self, key: str) -> None:
        self.client.delete(self._k(key))

    _DEL_IF_EQ = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

    def delete_if_equal(self, key: str, value: str) -> bool:
        return bool(self.client.eval(self._DEL_IF_EQ, 1, self._k(key), value))

    def incr(self, key: str, ttl: int) -> int:
        pipe = self.client.pipeline()
        pipe.incr(self._k(key))
        pipe.expire(self._k(key), ttl, nx=True)
        value, _ = pipe.execute()
        return int(value)


class SqliteStore:
    """The same contract on one SQLite file; safe across threads and processes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._pid = os.getpid()
        with self._conn() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)")

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        if self._pid != os.getpid():
            # A forked child must not share its parent's SQLite connections.
            self._local = threading.local()
            self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        yield conn

    @staticmethod
    def _expiry(ttl: int | None) -> float | None:
        return time.time() + ttl if ttl else None

    def get(self, key: str) -> str | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)", (key, time.time())
            ).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str, ttl: int | None = None) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (key, value, self._expiry(ttl)),
            )

    def add(self, key: str, value: str, ttl: int | None = None) -> bool:
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "DELETE FROM kv WHERE key = ? AND expires_at IS NOT NULL AND expires_at <= ?", (key, time.time())
                )
                cur = conn.execute(
                    "INSERT OR IGNORE INTO kv (key, value, expires_at) VALUES (?, ?, ?)",
                    (key, value, self._expiry(ttl)),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return cur.rowcount == 1

    def delete(self, key: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM kv WHERE key = ?", (key,))

    def delete_if_equal(self, key: str, value: str) -> bool:
        with self._conn() as conn:
            cur = conn.execute("DELETE FROM kv WHERE key = ? AND value = ?", (key, value))
        return cur.rowcount == 1

    def incr(self, key: str, ttl: int) -> int:
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                conn.execute("DELETE FROM kv WHERE key = ? AND expires_at IS NOT NULL AND expires_at <= ?", (key, now))
                conn.execute(
                    "INSERT INTO kv (key, value, expires_at) VALUES (?, '1', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                    (key, now + ttl),
                )
                value = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(value)


_stores: dict[str, SharedStore] = {}
_stores_lock = threading.Lock()


def store_for(settings) -> SharedStore:
    """One store per process and location (built lazily, never at import)."""
    location = settings.redis_url or str(settings.var_dir / "shared-store.sqlite")
    with _stores_lock:
        store = _stores.get(location)
        if store is None:
            store = RedisStore(settings.redis_url) if settings.redis_url else SqliteStore(Path(location))
            _stores[location] = store
        return store


def reset_store_cache() -> None:
    """Forget stores built before a fork or between tests."""
    with _stores_lock:
        _stores.clear()
