"""WeCom tasks (queue `wecom`): sync jobs, callback follow-ups, periodic jobs.

    wecom.run_sync                  one sync job (contacts, customers or customer groups), args [job_id]
    wecom.process_event             the follow-up of one stored callback event, args [event_id]
    wecom.send_robot_message        another service's robot alert, kwargs robot (id or name), message
                                    ({"msgtype": "text", "content": ...}), idempotency_key, requested_by
    wecom.nightly_sync              periodic, locked: a contacts sync of every enabled corp (then customers, groups)
    wecom.sweep_unhanded            periodic, locked: events the broker never took, or whose task was lost
    wecom.refresh_robot_messages    periodic, locked: the outcome of queued robot messages, from the message center
    wecom.refresh_tokens            periodic, locked: every app's access token refreshed before it runs out

Every task is idempotent: a finished job or a processed event is left as it is.
"""

from __future__ import annotations

import logging

from wedraw.core.jobs import locked
from wedraw.wecom.events import PROCESS_EVENT_TASK
from wedraw.wecom.jobs import RUN_SYNC_TASK

log = logging.getLogger("wedraw.wecom.tasks")

NIGHTLY_SYNC_TASK = "wecom.nightly_sync"
SWEEP_TASK = "wecom.sweep_unhanded"
REFRESH_ROBOTS_TASK = "wecom.refresh_robot_messages"
REFRESH_TOKENS_TASK = "wecom.refresh_tokens"
ROBOT_SEND_TASK = "wecom.send_robot_message"


def register_tasks(celery) -> None:
    def rollback():
        from wedraw.wecom.models import db

        db.session.rollback()

    @celery.task(
        name=RUN_SYNC_TASK,
        shared=False,
        bind=True,
        max_retries=5,
        default_retry_delay=60,
        time_limit=3 * 3600,
        soft_time_limit=3 * 3600 - 60,
    )
    def run_sync(self, job_id: int) -> str:
        from wedraw.wecom import jobs
        from wedraw.wecom.services import RetryLater

        try:
            return jobs.run(job_id)
        except RetryLater as exc:
            rollback()
            if self.request.retries >= self.max_retries:
                jobs.fail(job_id, f"gave up after {self.max_retries} retries: {exc}")
                return "failed"
            raise self.retry(exc=exc, countdown=exc.countdown) from exc
        except Exception as exc:
            rollback()
            log.exception("sync job %s failed", job_id)
            jobs.fail(job_id, f"{type(exc).__name__}: {exc}")
            return "failed"

    @celery.task(
        name=PROCESS_EVENT_TASK, shared=False, bind=True, max_retries=8, default_retry_delay=10, time_limit=600
    )
    def process_event(self, event_id: int) -> str:
        from wedraw.wecom.events import process_event as process
        from wedraw.wecom.services import RetryLater

        try:
            return process(event_id)
        except RetryLater as exc:
            rollback()
            raise self.retry(exc=exc, countdown=exc.countdown) from exc
        except Exception as exc:  # database or broker hiccup: retried, and the sweep is the backstop
            rollback()
            raise self.retry(exc=exc) from exc

    @celery.task(name=ROBOT_SEND_TASK, shared=False, bind=True, max_retries=10, default_retry_delay=15, time_limit=60)
    def send_robot_message(
        self, robot: int | str, message: dict, idempotency_key: str | None = None, requested_by: str | None = None
    ) -> dict:
        """Another service's robot alert: `robot` is our robot id or its name; `message` as the API takes it."""
        from marshmallow import ValidationError

        from wedraw.core.errors import ApiError
        from wedraw.wecom import messaging
        from wedraw.wecom.schemas import RobotMessageInputSchema

        try:
            data = RobotMessageInputSchema().load(message)
            target = messaging.find_robot(robot)
            row = messaging.send_robot_message(
                target.id, data, requested_by or "service", idempotency_key=idempotency_key
            )
        except ValidationError as exc:
            return {"status": "rejected", "code": "validation_error", "errors": exc.normalized_messages()}
        except ApiError as exc:
            rollback()
            if exc.code == 424 and idempotency_key and self.request.retries < self.max_retries:
                raise self.retry(exc=exc) from exc  # the message center is away: the same key, later
            return {"status": "rejected", "code": exc.error_code, "message": exc.description}
        return {"status": row.status, "message_id": row.id}

    @celery.task(name=NIGHTLY_SYNC_TASK, shared=False, max_retries=0, time_limit=600)
    @locked(NIGHTLY_SYNC_TASK, ttl=600)
    def nightly_sync() -> list[int]:
        from wedraw.wecom.jobs import queue_nightly

        return queue_nightly()

    @celery.task(name=SWEEP_TASK, shared=False, max_retries=0, time_limit=300)
    @locked(SWEEP_TASK, ttl=300)
    def sweep_unhanded() -> int:
        from wedraw.wecom.events import sweep_unhanded as sweep

        return sweep()

    @celery.task(name=REFRESH_ROBOTS_TASK, shared=False, max_retries=0, time_limit=120)
    @locked(REFRESH_ROBOTS_TASK, ttl=120)
    def refresh_robot_messages() -> int:
        from wedraw.wecom.messaging import refresh_robot_messages as refresh

        return refresh()

    @celery.task(name=REFRESH_TOKENS_TASK, shared=False, max_retries=0, time_limit=300)
    @locked(REFRESH_TOKENS_TASK, ttl=300)
    def refresh_tokens() -> dict[str, str]:
        from sqlalchemy import select

        from wedraw.wechat import refresh_tokens_ahead
        from wedraw.wecom.models import App, Corp, db
        from wedraw.wecom.services import app_client

        rows = db.session.execute(
            select(Corp, App).join(App, App.corp_ref == Corp.id).where(Corp.enabled.is_(True), App.enabled.is_(True))
        ).all()
        return refresh_tokens_ahead([app_client(corp, app, background=True) for corp, app in rows])
