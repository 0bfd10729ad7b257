"""Fixtures for data analysis: facts recorded through the real task, the service's client, a worker app."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest


@pytest.fixture(autouse=True)
def audit(request):
    """Admin writes are audited into this list instead of the user center's queue (no user center worker here)."""
    records: list[dict] = []
    if "apps" not in request.fixturenames:
        yield records
        return
    apps = request.getfixturevalue("apps")
    saved = {name: app.extensions.get("wedraw.audit_sink") for name, app in apps.items()}
    for app in apps.values():
        app.extensions["wedraw.audit_sink"] = records.append
    yield records
    for name, app in apps.items():
        app.extensions["wedraw.audit_sink"] = saved[name]


@pytest.fixture
def da(apps):
    return apps["data_analysis"].test_client()


@pytest.fixture(scope="session")
def analytics_celery(settings):
    """The data analysis worker's Celery app (tasks run with .apply(), in this process)."""
    from workers.bootstrap import build_worker_app

    return build_worker_app("data_analysis", settings=settings)


@pytest.fixture
def record(apps, analytics_celery):
    """Report facts through the named task, as another service would; returns the task's result."""
    from wedraw.data_analysis.tasks import RECORD_FACT_TASK, RECORD_FACTS_TASK

    def _record(*facts):
        if len(facts) == 1:
            return analytics_celery.tasks[RECORD_FACT_TASK].apply(kwargs={"fact": facts[0]}).get()
        return analytics_celery.tasks[RECORD_FACTS_TASK].apply(kwargs={"facts": list(facts)}).get()

    return _record


@pytest.fixture
def rollup(apps):
    from wedraw.data_analysis.rollup import rollup_range

    def _rollup(first: date, last: date | None = None):
        with apps["data_analysis"].app_context():
            return rollup_range(first, last or first)

    return _rollup


def at(day: date, hour: int = 10, minute: int = 0) -> str:
    """An ISO UTC time that falls on the local (UTC+8) `day` at `hour`:`minute` local time."""
    moment = datetime(day.year, day.month, day.day, hour, minute) - timedelta(hours=8)
    return moment.isoformat() + "Z"


def fact(event_id: str, kind: str, day: date, hour: int = 10, source: str = "test", appid=None, **data) -> dict:
    return {
        "event_id": event_id,
        "source": source,
        "kind": kind,
        "appid": appid,
        "openid": data.pop("openid", None),
        "unionid": None,
        "occurred_at": at(day, hour),
        "data": data,
    }
