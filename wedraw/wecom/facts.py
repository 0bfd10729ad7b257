"""Facts for data analysis: the corp's member and customer-group counts after each sync.

Reported by the named task `data_analysis.record_fact` (queue `analytics`) after the commit that
finished the sync; the event id names the sync job, so a redelivered report counts once. These
are levels (gauges): data analysis keeps each day's highest. A broker that is down loses only
statistics, never a sync.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import func, select

from wedraw.core.db import utcnow
from wedraw.wecom.models import Corp, CustomerGroup, Member, SyncJob, db

log = logging.getLogger("wedraw.wecom.facts")

RECORD_FACT_TASK, ANALYTICS_QUEUE = "data_analysis.record_fact", "analytics"


def report_count(job: SyncJob, corp: Corp, kind: str) -> None:
    """kind "members" (after a contacts sync) or "groups" (after a customer-group sync)."""
    try:
        model = Member if kind == "members" else CustomerGroup
        count = db.session.execute(
            select(func.count()).select_from(model).where(model.corp_ref == corp.id)
        ).scalar_one()
        fact = {
            "event_id": f"wecom:sync:{job.id}:{kind}",
            "source": "wecom",
            "kind": f"wecom.{kind}",
            "appid": corp.corp_id,
            "openid": None,
            "unionid": None,
            "occurred_at": utcnow().isoformat() + "Z",
            "data": {"corp_id": corp.corp_id, "count": count, "job_id": job.id},
        }
        db.session.commit()
        current_app.extensions["celery"].send_task(
            RECORD_FACT_TASK, kwargs={"fact": fact}, queue=ANALYTICS_QUEUE, retry=False
        )
    except Exception as exc:  # statistics never fail a sync
        db.session.rollback()
        log.warning("%s count of corp %s not reported (%s)", kind, corp.corp_id, type(exc).__name__)
