"""Celery bootstrap: every queue has a worker program, periodic jobs are locked, context flows."""

from __future__ import annotations

import importlib
import json
import time

from tests.conftest import run_worker
from wedraw.core.jobs import LOCKED_ATTR
from wedraw.core.registry import SERVICES, all_queues
from wedraw.core.store import lock, store_for
from workers.bootstrap import build_worker_app
from workers.programs import worker_programs
from workers.schedule import PERIODIC_JOBS, beat_schedule


def test_every_queue_has_exactly_one_worker_program():
    programs = worker_programs()
    assert sorted(p.queue for p in programs) == sorted(all_queues())
    for program in programs:
        assert program.service == all_queues()[program.queue]
        assert "-Q" in program.argv() and program.queue in program.argv()


def test_every_periodic_job_is_a_registered_locked_task_on_its_owners_queue(settings):
    apps = {name: build_worker_app(name, settings=settings) for name, spec in SERVICES.items() if spec.queues}
    for name, entry in beat_schedule().items():
        task_name, queue = entry["task"], entry["options"]["queue"]
        owner = all_queues()[queue]
        task = apps[owner].tasks[task_name]
        assert getattr(task.run, LOCKED_ATTR, None) == task_name, f"{name} is not locked"
    assert PERIODIC_JOBS


def test_every_task_has_limits_celery_accepts_so_it_can_be_queued_and_retried(settings):
    checked = 0
    for name, spec in SERVICES.items():
        if not spec.queues:
            continue
        for task_name, task in build_worker_app(name, settings=settings).tasks.items():
            if task_name.startswith("celery."):
                continue
            assert task.time_limit, f"{task_name} has no time limit"
            assert task.soft_time_limit and task.soft_time_limit < task.time_limit, task_name
            checked += 1
    assert checked > 20


def test_a_locked_job_does_not_run_twice_at_once(apps, settings):
    from wedraw.user_center.tasks import PRUNE_SESSIONS_TASK

    celery = build_worker_app("user_center", settings=settings)
    task = celery.tasks[PRUNE_SESSIONS_TASK]
    with lock(store_for(settings), f"job:{PRUNE_SESSIONS_TASK}", ttl=30):
        assert task.apply().get() is None  # skipped: another run holds the lock
    assert task.apply().get() == 0  # ran: nothing to prune


def test_tasks_run_in_their_service_app_and_carry_the_request_id(settings, apps):
    from flask import current_app

    from wedraw.core.celery_app import make_celery
    from wedraw.core.logs import request_id_var

    store = store_for(settings)
    celery = build_worker_app("user_center", settings=settings)

    @celery.task(name="tests.probe", shared=False)
    def probe():
        seen = {"rid": request_id_var.get(), "service": current_app.config["WEDRAW_SERVICE"]}
        store.set("tests:probe", json.dumps(seen), ttl=60)

    sender = make_celery("wechat_official", settings)
    with run_worker(celery):
        token = request_id_var.set("rid-from-web")
        try:
            sender.send_task("tests.probe", queue="user_center")
        finally:
            request_id_var.reset(token)
        deadline = time.monotonic() + 20
        while store.get("tests:probe") is None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert json.loads(store.get("tests:probe")) == {"rid": "rid-from-web", "service": "user_center"}


def test_worker_modules_import_without_side_effects():
    for module in ("workers.bootstrap", "workers.programs", "workers.schedule"):
        importlib.import_module(module)
