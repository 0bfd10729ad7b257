"""Hand stored rows on to the broker in batches, from a background thread of the web process.

A WeChat callback stores its row and answers; publishing a Celery task per callback would
cost more than the rest of the request. Instead the view submits the row's id here and
returns. One thread per app and process publishes whatever has gathered meanwhile, so a
busy process sends one task per batch, an idle one a task per callback within moments.

Nothing is lost if the process dies with ids still buffered: the rows are stored with no
`handed_on_at`, and the service's periodic sweep hands on such rows after its grace time.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

from flask import Flask

log = logging.getLogger("wedraw.core.handoff")

IDLE_SECONDS = 30.0  # a thread with nothing to do for this long ends; the next submit starts another
GATHER_SECONDS = 0.05  # after the first id, how long the thread lets more gather before publishing
_live: weakref.WeakSet[BatchHandOff] = weakref.WeakSet()


class BatchHandOff:
    """Gathers ids and calls `publish(ids)` (inside an app context) from one background thread.

    `publish` must never raise for a broker outage: it records what went out, and what did not
    waits for the sweep.
    """

    def __init__(self, app: Flask, name: str, publish: Callable[[list[int]], object], max_batch: int = 200):
        self.app = app
        self.name = name
        self.publish = publish
        self.max_batch = max_batch
        self._ids: list[int] = []
        self._busy = 0  # ids taken by the thread and not yet published
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        _live.add(self)

    def submit(self, item: int) -> None:
        with self._cond:
            if self._pid != os.getpid():  # a forked child: the parent's thread and ids are not ours
                self._pid, self._thread, self._ids, self._busy = os.getpid(), None, [], 0
            self._ids.append(item)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"handoff-{self.name}", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted id has been published (or refused); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ids or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    return False  # nobody left to publish them: the sweep will
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._ids:
                    self._cond.wait(IDLE_SECONDS)
                    if not self._ids:
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                # A publish costs about as much as a callback: let a busy process gather a few first.
                deadline = time.monotonic() + GATHER_SECONDS
                while len(self._ids) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                batch, self._ids = self._ids[: self.max_batch], self._ids[self.max_batch :]
                self._busy = len(batch)
            try:
                with self.app.app_context():
                    self.publish(batch)
            except Exception:  # the rows keep no handed_on_at: the sweep hands them on
                log.exception("%s: %d id(s) not handed on; the sweep will", self.name, len(batch))
            finally:
                with self._cond:
                    self._busy = 0
                    self._cond.notify_all()


def handoff_for(app: Flask, name: str, publish: Callable[[list[int]], object]) -> BatchHandOff:
    """The app's hand-off called `name`, made on first use."""
    key = f"wedraw.handoff.{name}"
    handoff = app.extensions.get(key)
    if handoff is None:
        handoff = app.extensions.setdefault(key, BatchHandOff(app, name, publish))
    return handoff


@atexit.register
def _drain_all() -> None:
    """A process that exits normally (gunicorn's max_requests, a HUP reload) publishes what it holds."""
    for handoff in list(_live):
        handoff.drain(timeout=5.0)
