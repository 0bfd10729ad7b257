"""The shared store: the same contract on SQLite and Redis, safe across threads and forks."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from tests.conftest import BACKEND
from wedraw.core.store import LockNotAcquired, lock, store_for


@pytest.fixture
def store(settings, apps):
    return store_for(settings)


def test_set_get_expire_and_add(store):
    store.set("k", "v", ttl=60)
    assert store.get("k") == "v"
    assert store.add("k", "other") is False
    assert store.get("k") == "v"
    store.delete("k")
    assert store.get("k") is None
    assert store.add("k", "first", ttl=60) is True
    assert store.delete_if_equal("k", "not-it") is False
    assert store.delete_if_equal("k", "first") is True


def test_incr_counts_within_its_window(store):
    assert [store.incr("c", ttl=60) for _ in range(3)] == [1, 2, 3]


def test_lock_is_exclusive_and_released_by_its_holder_only(store):
    with lock(store, "job", ttl=30), pytest.raises(LockNotAcquired), lock(store, "job", ttl=30):
        pass
    with lock(store, "job", ttl=30):
        pass


def _child_uses_store(store, queue):
    try:
        store.set("from-child", str(os.getpid()), ttl=60)
        queue.put(store.get("from-child"))
    except Exception as exc:  # report to the parent instead of dying silently
        queue.put(repr(exc))


@pytest.mark.skipif(BACKEND != "embedded", reason="the fork guard is SQLite's; Redis clients reconnect themselves")
def test_a_forked_child_gets_its_own_sqlite_connection(store):
    store.set("warm", "1")  # the parent has an open connection before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_uses_store, args=(store, queue))
    child.start()
    child.join(30)
    answer = queue.get(timeout=5)
    assert answer.isdigit() and int(answer) == child.pid
    assert store.get("from-child") == answer
    assert store.get("warm") == "1"
