"""Official Account tasks (queue `wechat_official`): callback follow-ups, fan sync, periodic jobs.

Tasks of other services are sent by name to their owner's queue (see services.py):
`points_mall.award_subscribe` (queue points, kwargs `event`), `data_analysis.record_fact`
(queue analytics, kwargs `fact`) and `message_center.job_finished` (queue message_center,
kwargs `job`); each payload carries an `event_id` that is the same on redelivery.
"""

from __future__ import annotations

import logging

from wedraw.core.jobs import locked
from wedraw.wechat_official.services import PROCESS_MESSAGE_TASK, PROCESS_MESSAGES_TASK, QUEUE, SYNC_FANS_TASK

log = logging.getLogger("wedraw.wechat_official.tasks")

SWEEP_TASK = "wechat_official.sweep_unhanded"
INCREMENTAL_SYNC_TASK = "wechat_official.incremental_sync"
REFRESH_TOKENS_TASK = "wechat_official.refresh_tokens"
BATCH_BUDGET_SECONDS = 60  # a batch of follow-ups hands what it has not reached to a fresh task after this


def register_tasks(celery) -> None:
    @celery.task(
        name=PROCESS_MESSAGE_TASK, shared=False, bind=True, max_retries=8, default_retry_delay=10, time_limit=120
    )
    def process_message(self, message_id: int) -> str:
        from wedraw.wechat_official.models import db
        from wedraw.wechat_official.services import RetryLater
        from wedraw.wechat_official.services import process_message as process

        try:
            return process(message_id)
        except RetryLater as exc:
            db.session.rollback()
            raise self.retry(exc=exc, countdown=exc.countdown) from exc
        except Exception as exc:  # database or broker hiccup: retried, and the sweep is the backstop
            db.session.rollback()
            raise self.retry(exc=exc) from exc

    @celery.task(name=PROCESS_MESSAGES_TASK, shared=False, max_retries=0, time_limit=300, soft_time_limit=240)
    def process_messages(message_ids: list[int]) -> dict:
        """The follow-ups of a batch of callbacks. One that must wait (a profile fetch WeChat refused for
        now) or fails goes on as its own `process_message` task with that task's retries."""
        import time

        from wedraw.wechat_official.models import db
        from wedraw.wechat_official.services import RetryLater
        from wedraw.wechat_official.services import process_message as process

        started, outcomes = time.monotonic(), {}
        for n, message_id in enumerate(message_ids):
            if time.monotonic() - started > BATCH_BUDGET_SECONDS:  # slow WeChat: the rest in a fresh task
                process_messages.apply_async(args=[message_ids[n:]], queue=QUEUE)
                outcomes["continued"] = len(message_ids) - n
                break
            try:
                outcome = process(message_id)
            except RetryLater as exc:
                db.session.rollback()
                process_message.apply_async(args=[message_id], countdown=exc.countdown, queue=QUEUE)
                outcome = "retrying"
            except Exception:  # database or broker hiccup: retried on its own, and the sweep is the backstop
                db.session.rollback()
                log.exception("message %s: follow-up failed; retrying it on its own", message_id)
                process_message.apply_async(args=[message_id], countdown=10, queue=QUEUE)
                outcome = "retrying"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return outcomes

    @celery.task(
        name=SYNC_FANS_TASK,
        shared=False,
        bind=True,
        max_retries=5,
        default_retry_delay=60,
        time_limit=3 * 3600,
        soft_time_limit=3 * 3600 - 60,
    )
    def sync_fans(self, job_id: int) -> str:
        from wedraw.wechat_official import fan_sync
        from wedraw.wechat_official.models import db
        from wedraw.wechat_official.services import RetryLater

        try:
            return fan_sync.run(job_id)
        except RetryLater as exc:
            if self.request.retries >= self.max_retries:
                fan_sync.fail(job_id, f"gave up after {self.max_retries} retries: {exc}")
                return "failed"
            raise self.retry(exc=exc, countdown=exc.countdown) from exc
        except Exception as exc:
            db.session.rollback()
            log.exception("fan sync %s failed", job_id)
            fan_sync.fail(job_id, f"{type(exc).__name__}: {exc}")
            return "failed"

    @celery.task(name=SWEEP_TASK, shared=False, max_retries=0, time_limit=300)
    @locked(SWEEP_TASK, ttl=300)
    def sweep_unhanded() -> int:
        from wedraw.wechat_official.services import sweep_unhanded as sweep

        return sweep()

    @celery.task(name=INCREMENTAL_SYNC_TASK, shared=False, max_retries=0, time_limit=600)
    @locked(INCREMENTAL_SYNC_TASK, ttl=600)
    def incremental_sync() -> list[int]:
        from wedraw.wechat_official.services import queue_incremental_syncs

        return queue_incremental_syncs()

    @celery.task(name=REFRESH_TOKENS_TASK, shared=False, max_retries=0, time_limit=300)
    @locked(REFRESH_TOKENS_TASK, ttl=300)
    def refresh_tokens() -> dict[str, str]:
        from sqlalchemy import select

        from wedraw.wechat import refresh_tokens_ahead
        from wedraw.wechat_official.models import Account, db
        from wedraw.wechat_official.services import client

        accounts = db.session.execute(select(Account).where(Account.enabled.is_(True))).scalars().all()
        return refresh_tokens_ahead([client(a, background=True) for a in accounts])
