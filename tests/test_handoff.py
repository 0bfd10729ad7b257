"""The batch hand-off: ids submitted while a publish is under way go out together, in the app's context."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from wedraw.core.handoff import handoff_for


def test_ids_gathered_during_a_publish_go_out_as_one_batch():
    app = Flask("handoff-test")
    batches, apps, first_started, release = [], [], threading.Event(), threading.Event()

    def publish(ids):
        apps.append(current_app.name)
        batches.append(list(ids))
        first_started.set()
        release.wait(10)

    handoff = handoff_for(app, "test", publish)
    assert handoff_for(app, "test", publish) is handoff  # one per app and name
    handoff.submit(1)
    assert first_started.wait(10)
    for item in (2, 3, 4, 5):
        handoff.submit(item)
    release.set()
    assert handoff.drain(10)
    assert batches == [[1], [2, 3, 4, 5]]
    assert apps == ["handoff-test", "handoff-test"]


def test_a_failing_publish_is_logged_and_the_thread_goes_on(caplog):
    app = Flask("handoff-failing")
    batches = []

    def publish(ids):
        batches.append(list(ids))
        if ids == [1]:
            raise RuntimeError("broker refused")

    handoff = handoff_for(app, "failing", publish)
    handoff.submit(1)
    assert handoff.drain(10)
    handoff.submit(2)
    assert handoff.drain(10)
    assert batches == [[1], [2]]
    assert "1 id(s) not handed on" in caplog.text


def test_batches_are_capped():
    app = Flask("handoff-capped")
    batches, release = [], threading.Event()

    def publish(ids):
        batches.append(len(ids))
        release.wait(10)

    handoff = handoff_for(app, "capped", publish)
    handoff.max_batch = 3
    for item in range(7):
        handoff.submit(item)
    release.set()
    assert handoff.drain(10)
    assert sum(batches) == 7 and max(batches) <= 3
