"""Data analysis tasks.

Queue `analytics`:
    data_analysis.record_fact       one fact another service reports (kwargs `fact`); stored once per event_id
    data_analysis.record_facts      a batch of facts (kwargs `facts`), the same way
    data_analysis.rollup            periodic, locked: yesterday's and today's daily statistics, rebuilt whole
Queue `reports`:
    data_analysis.generate_report   one requested report, written streaming (claims only a queued report)
    data_analysis.cleanup_reports   periodic, locked: files past their retention removed
    data_analysis.scheduled_reports periodic, locked: yesterday's (Mondays: last week's) report files and
                                    markdown summary to a WeCom group robot (see scheduled.py)

Fact tasks are thin and idempotent (the unique event id); a database hiccup is retried, a
malformed fact is dropped with a log line (its terminal state).
"""

from __future__ import annotations

import logging

from wedraw.core.jobs import locked
from wedraw.data_analysis.reports import CLEANUP_TASK, GENERATE_TASK
from wedraw.data_analysis.rollup import ROLLUP_TASK
from wedraw.data_analysis.scheduled import SCHEDULED_TASK

log = logging.getLogger("wedraw.data_analysis.tasks")

RECORD_FACT_TASK = "data_analysis.record_fact"
RECORD_FACTS_TASK = "data_analysis.record_facts"


def register_tasks(celery) -> None:
    def rollback():
        from wedraw.data_analysis.models import db

        db.session.rollback()

    def _record(task, facts: list) -> dict:
        from wedraw.data_analysis.facts import record

        try:
            return record(facts)
        except Exception as exc:  # database hiccup: retried; the unique event id keeps it to one row
            rollback()
            if task.request.retries >= task.max_retries:
                log.error("%d fact(s) not stored: %s", len(facts), exc)
                return {"stored": 0, "failed": len(facts)}
            raise task.retry(exc=exc, countdown=min(300, 5 * 2**task.request.retries)) from exc

    @celery.task(name=RECORD_FACT_TASK, shared=False, bind=True, max_retries=8, time_limit=60)
    def record_fact(self, fact: dict) -> dict:
        return _record(self, [fact])

    @celery.task(name=RECORD_FACTS_TASK, shared=False, bind=True, max_retries=8, time_limit=120)
    def record_facts(self, facts: list) -> dict:
        return _record(self, list(facts or []))

    @celery.task(name=ROLLUP_TASK, shared=False, max_retries=0, time_limit=1800, soft_time_limit=1740)
    @locked(ROLLUP_TASK, ttl=1800)
    def rollup() -> dict:
        from wedraw.data_analysis.rollup import rollup_recent

        return rollup_recent()

    @celery.task(name=GENERATE_TASK, shared=False, max_retries=0, time_limit=3600, soft_time_limit=3540)
    def generate_report(report_id: int) -> str:
        from wedraw.data_analysis.reports import generate

        return generate(report_id)  # records its own failure: a failed report is retried from the console

    @celery.task(name=CLEANUP_TASK, shared=False, max_retries=0, time_limit=600)
    @locked(CLEANUP_TASK, ttl=600)
    def cleanup_reports() -> int:
        from wedraw.data_analysis.reports import cleanup

        return cleanup()

    @celery.task(name=SCHEDULED_TASK, shared=False, max_retries=0, time_limit=1800, soft_time_limit=1740)
    @locked(SCHEDULED_TASK, ttl=1800)
    def scheduled_reports() -> dict:
        from wedraw.data_analysis.scheduled import run_scheduled

        return run_scheduled()
