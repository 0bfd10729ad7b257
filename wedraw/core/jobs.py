"""Periodic jobs: each runs under a shared lock so two beats or a retry never overlap."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import current_app

from wedraw.core.store import LockNotAcquired, lock, store_for

log = logging.getLogger("wedraw.jobs")
LOCKED_ATTR = "_wedraw_locked"


def locked(name: str, ttl: int = 3600) -> Callable:
    """Run the wrapped job only when no other process holds its lock; else skip it."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            store = store_for(current_app.config["WEDRAW_SETTINGS"])
            try:
                with lock(store, f"job:{name}", ttl=ttl):
                    return fn(*args, **kwargs)
            except LockNotAcquired:
                log.info("job %s is already running elsewhere; skipped", name)
                return None

        setattr(run, LOCKED_ATTR, name)
        return run

    return wrap
