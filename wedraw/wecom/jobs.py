"""Sync jobs: contacts, customers and customer groups, each a row with progress, run by `wecom.run_sync`.

One active job per corp and kind (a job with no progress for two hours is abandoned and
replaced). The task retries a job WeCom could not serve now (RetryLater); a final refusal
(SyncFailed: a secret without the permission, say) fails the job with WeCom's reason in
plain words.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.core.store import LockNotAcquired, lock, store_for
from wedraw.wecom import contacts, customers
from wedraw.wecom.models import Corp, SyncJob, db
from wedraw.wecom.services import HAND_ON_RETRY, QUEUE, RetryLater, SyncFailed, get_corp

log = logging.getLogger("wedraw.wecom.jobs")

RUN_SYNC_TASK = "wecom.run_sync"
KINDS = ("contacts", "customers", "groups")
ACTIVE = ("pending", "running")
STUCK_AFTER = timedelta(hours=2)
NIGHTLY = "schedule"
SEED = "seed"
RUNNERS = {"contacts": contacts.run, "customers": customers.run_customers, "groups": customers.run_groups}


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def create_job(corp_ref: int, kind: str, requested_by: str | None) -> SyncJob:
    """A pending job (409 while another of the same kind is active for the corp)."""
    corp = get_corp(corp_ref)
    try:
        with lock(store_for(_settings()), f"wecom:sync-start:{corp.id}:{kind}", ttl=30, wait=5):
            active = (
                db.session.execute(
                    select(SyncJob).where(SyncJob.corp_ref == corp.id, SyncJob.kind == kind, SyncJob.status.in_(ACTIVE))
                )
                .scalars()
                .all()
            )
            now = utcnow()
            for job in active:
                if now - (job.started_at or job.created_at) < STUCK_AFTER:
                    raise ApiError(
                        409,
                        f"A {kind} sync ({job.id}) is still {job.status}; wait for it to finish.",
                        "sync_in_progress",
                    )
                job.status, job.error, job.finished_at = "failed", "abandoned: no progress for 2 hours", now
            job = SyncJob(corp_ref=corp.id, kind=kind, status="pending", requested_by=requested_by)
            db.session.add(job)
            db.session.commit()
    except LockNotAcquired:
        raise ApiError(409, f"Another {kind} sync is being started for this corp.", "sync_in_progress") from None
    return job


def start_sync(corp_ref: int, kind: str, requested_by: str | None) -> SyncJob:
    job = create_job(corp_ref, kind, requested_by)
    try:
        current_app.extensions["celery"].send_task(
            RUN_SYNC_TASK, args=[job.id], queue=QUEUE, retry=True, retry_policy=HAND_ON_RETRY
        )
    except Exception as exc:
        job.status, job.error, job.finished_at = "failed", f"could not queue: {type(exc).__name__}", utcnow()
        db.session.commit()
        raise ApiError(
            424, f"The task queue is unavailable; the {kind} sync was not started.", "queue_unavailable"
        ) from None
    return job


def list_jobs(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(SyncJob).where(SyncJob.corp_ref == corp_ref).order_by(SyncJob.id.desc())
    if args.get("kind"):
        stmt = stmt.where(SyncJob.kind == args["kind"])
    if args.get("status"):
        stmt = stmt.where(SyncJob.status == args["status"])
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_job(corp_ref: int, job_id: int) -> SyncJob:
    job = db.session.get(SyncJob, job_id)
    if job is None or job.corp_ref != corp_ref:
        raise ApiError(404, f"No sync job {job_id} in corp {corp_ref}.")
    return job


def run(job_id: int) -> str:
    """Run one job to its end (or raise RetryLater for the task to retry). Idempotent: a finished job stays."""
    job = db.session.get(SyncJob, job_id)
    if job is None:
        return "missing"
    if job.status in ("succeeded", "failed"):
        return job.status
    try:
        with lock(store_for(_settings()), f"wecom:sync-run:{job.corp_ref}:{job.kind}", ttl=3 * 3600):
            return _run(job)
    except LockNotAcquired:
        return "busy"  # a redelivered copy of a job running elsewhere


def _run(job: SyncJob) -> str:
    corp = db.session.get(Corp, job.corp_ref)
    job.status, job.started_at, job.error = "running", job.started_at or utcnow(), None
    job.total = job.done = job.fetched = job.inserted = job.updated = job.unchanged = job.deleted = 0
    job.departments_changed = job.departments_deleted = 0
    job.warnings = []
    db.session.commit()
    try:
        RUNNERS[job.kind](job, corp)
    except SyncFailed as exc:
        db.session.rollback()
        fail(job.id, str(exc))
        return "failed"
    except ApiError as exc:  # a corp without an app, say
        db.session.rollback()
        fail(job.id, exc.description)
        return "failed"
    except RetryLater as exc:
        db.session.rollback()
        job = db.session.get(SyncJob, job.id)
        job.error = f"waiting to retry: {exc}"[:512]
        db.session.commit()
        raise
    job.status, job.stage, job.finished_at = "succeeded", None, utcnow()
    db.session.commit()
    if job.kind == "contacts" and job.requested_by in (NIGHTLY, SEED):
        # Customers are read per follow user: after the night's members are current.
        for kind in ("customers", "groups"):
            try:
                start_sync(corp.id, kind, job.requested_by)
            except ApiError as exc:
                log.info("%s sync of %s not started: %s", kind, corp.corp_id, exc.description)
    log.info(
        "%s sync %s done",
        job.kind,
        job.id,
        extra={
            "fields": {
                "corp": corp.corp_id,
                "fetched": job.fetched,
                "inserted": job.inserted,
                "updated": job.updated,
                "unchanged": job.unchanged,
                "deleted": job.deleted,
            }
        },
    )
    return job.status


def fail(job_id: int, error: str) -> None:
    job = db.session.get(SyncJob, job_id)
    if job is not None and job.status not in ("succeeded", "failed"):
        job.status, job.error, job.finished_at = "failed", error[:512], utcnow()
        db.session.commit()


def queue_nightly() -> list[int]:
    """The nightly job: a contacts sync of every enabled corp (its success queues customers and groups)."""
    started = []
    corps = db.session.execute(select(Corp).where(Corp.enabled.is_(True)).order_by(Corp.id)).scalars().all()
    for corp in corps:
        try:
            started.append(start_sync(corp.id, "contacts", NIGHTLY).id)
        except ApiError as exc:
            log.info("contacts sync of %s not started: %s", corp.corp_id, exc.description)
    return started
