"""Official Account tasks (queue `wechat_official`): callback follow-ups, fan sync, periodic jobs.

Tasks of other services are sent by name to their owner's queue (see services.py):
`points_mall.award_subscribe` (queue points, kwargs `event`), `data_analysis.record_fact`
(queue analytics, kwargs `fact`) and `message_center.job_finished` (queue message_center,
kwargs `job`); each payload carries an `event_id` that is the same on redelivery.
"""

from __future__ import annotations

import logging

from wedraw.core.jobs import locked
from wedraw.wechat_official.services import PROCESS_MESSAGE_TASK, SYNC_FANS_TASK

log = logging.getLogger("wedraw.wechat_official.tasks")

SWEEP_TASK = "wechat_official.sweep_unhanded"
INCREMENTAL_SYNC_TASK = "wechat_official.incremental_sync"
REFRESH_TOKENS_TASK = "wechat_official.refresh_tokens"


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
