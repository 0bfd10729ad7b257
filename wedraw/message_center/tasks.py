"""Message center tasks.

Queue `message_center` (orchestration, the service's default queue):
    message_center.send              a single send requested by another service (kwargs `message`)
    message_center.start_campaign    materialise a campaign's audience and dispatch its batches
    message_center.job_finished      WeChat's TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH (kwargs `job`),
                                     sent by the Official Account service
    message_center.start_due_campaigns   periodic, locked: scheduled campaigns whose time has come
    message_center.sweep_stuck           periodic, locked: work whose task was lost; completion

Queue `wechat_push` (I/O-bound WeChat calls, a threads pool):
    message_center.push_batch        one batch of a campaign's recipients
    message_center.push_one          one single send
    message_center.push_mass         one mass-send call (clientmsgid)

Every task is idempotent (recipients are claimed with a conditional UPDATE; events and
single sends carry unique keys), has a time limit, and acknowledges late: a task whose
worker dies is redelivered, and the sweeper re-dispatches whatever the broker lost.

Another service asks for a send like this:

    celery.send_task("message_center.send", queue="message_center", kwargs={"message": {
        "idempotency_key": "order-1234-shipped",      # the same key never sends twice
        "channel": "mp_subscribe", "sender": "<mini program appid>", "to": "<openid>",
        "template_id": 7, "data": {"thing1": "积分兑换", "number2": 200, "time3": "2026-01-31 15:01"},
    }})
"""

from __future__ import annotations

import logging

from wedraw.core.jobs import locked
from wedraw.message_center.delivery import (
    PUSH_BATCH_TASK,
    PUSH_MASS_TASK,
    PUSH_ONE_TASK,
    PUSH_QUEUE,
    QUEUE,
    START_TASK,
)

log = logging.getLogger("wedraw.message_center.tasks")

SEND_TASK = "message_center.send"
JOB_FINISHED_TASK = "message_center.job_finished"
START_DUE_TASK = "message_center.start_due_campaigns"
SWEEP_TASK = "message_center.sweep_stuck"


def register_tasks(celery) -> None:
    def rollback():
        from wedraw.message_center.models import db

        db.session.rollback()

    @celery.task(name=SEND_TASK, shared=False, bind=True, max_retries=10, default_retry_delay=10, time_limit=60)
    def send(self, message: dict, caller: str | None = None) -> dict:
        from wedraw.message_center.services import send_from_task

        try:
            return send_from_task(message, caller)
        except Exception as exc:  # database or broker hiccup: the request waits; its key keeps it single
            rollback()
            raise self.retry(exc=exc) from exc

    @celery.task(
        name=START_TASK,
        shared=False,
        bind=True,
        max_retries=10,
        default_retry_delay=15,
        time_limit=1800,
        soft_time_limit=1740,
    )
    def start_campaign(self, campaign_id: int) -> dict:
        from wedraw.core.errors import ApiError
        from wedraw.message_center.delivery import start_campaign as start

        try:
            return start(campaign_id)
        except ApiError as exc:
            rollback()
            if exc.code in (404, 409, 422):  # the audience itself is wrong now (a list or tag gone): final
                _fail_campaign(campaign_id, exc.description)
                return {"status": "failed", "error": exc.description}
            if self.request.retries >= self.max_retries:
                _fail_campaign(campaign_id, f"could not start: {exc.description}")
                return {"status": "failed"}
            raise self.retry(exc=exc, countdown=min(300, 15 * 2**self.request.retries)) from exc
        except Exception as exc:
            rollback()
            if self.request.retries >= self.max_retries:
                _fail_campaign(campaign_id, f"could not start: {type(exc).__name__}: {exc}")
                return {"status": "failed"}
            log.warning("campaign %s start failed (%s); retrying", campaign_id, exc)
            raise self.retry(exc=exc, countdown=min(300, 15 * 2**self.request.retries)) from exc

    @celery.task(
        name=PUSH_BATCH_TASK,
        shared=False,
        bind=True,
        max_retries=20,
        default_retry_delay=5,
        time_limit=600,
        soft_time_limit=540,
    )
    def push_batch(self, campaign_id: int, batch_no: int) -> dict:
        from wedraw.message_center.delivery import push_batch as push

        try:
            return push(campaign_id, batch_no)
        except Exception as exc:  # database or store down: the claimed rows' lease runs out; retried
            rollback()
            raise self.retry(exc=exc, countdown=min(120, 5 * 2**self.request.retries)) from exc

    @celery.task(
        name=PUSH_ONE_TASK,
        shared=False,
        bind=True,
        max_retries=20,
        default_retry_delay=5,
        time_limit=300,
        soft_time_limit=270,
    )
    def push_one(self, delivery_id: int) -> dict:
        from wedraw.message_center.delivery import push_one as push

        try:
            return push(delivery_id)
        except Exception as exc:
            rollback()
            raise self.retry(exc=exc, countdown=min(120, 5 * 2**self.request.retries)) from exc

    @celery.task(
        name=PUSH_MASS_TASK,
        shared=False,
        bind=True,
        max_retries=20,
        default_retry_delay=5,
        time_limit=300,
        soft_time_limit=270,
    )
    def push_mass(self, job_id: int) -> dict:
        from wedraw.message_center.delivery import push_mass as push

        try:
            return push(job_id)
        except Exception as exc:
            rollback()
            raise self.retry(exc=exc, countdown=min(120, 5 * 2**self.request.retries)) from exc

    @celery.task(name=JOB_FINISHED_TASK, shared=False, bind=True, max_retries=12, default_retry_delay=5, time_limit=60)
    def job_finished(self, job: dict) -> str:
        from wedraw.message_center.services import NotYetKnown
        from wedraw.message_center.services import job_finished as apply

        try:
            return apply(job)
        except NotYetKnown as exc:
            # WeChat's report can overtake our own record of the send: try again shortly.
            if self.request.retries >= self.max_retries:
                log.info("job report %s matched no send: %s", job.get("event_id"), exc)
                return "unmatched"
            raise self.retry(exc=exc, countdown=5) from exc
        except Exception as exc:
            rollback()
            raise self.retry(exc=exc) from exc

    @celery.task(name=START_DUE_TASK, shared=False, max_retries=0, time_limit=120)
    @locked(START_DUE_TASK, ttl=120)
    def start_due_campaigns() -> list[int]:
        from wedraw.message_center.services import start_due_campaigns as start_due

        return start_due()

    @celery.task(name=SWEEP_TASK, shared=False, max_retries=0, time_limit=300)
    @locked(SWEEP_TASK, ttl=300)
    def sweep_stuck() -> dict:
        from flask import current_app

        from wedraw.message_center.fleet import push_queue_length
        from wedraw.message_center.services import sweep

        return sweep(push_queue_length(current_app.config["WEDRAW_SETTINGS"]))


def _fail_campaign(campaign_id: int, error: str) -> None:
    from sqlalchemy import update

    from wedraw.core.db import utcnow
    from wedraw.message_center.models import FAILED, PREPARING, Campaign, db

    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == PREPARING)
        .values(status=FAILED, error=error[:255], finished_at=utcnow())
    )
    db.session.commit()


__all__ = ["PUSH_QUEUE", "QUEUE", "register_tasks"]
