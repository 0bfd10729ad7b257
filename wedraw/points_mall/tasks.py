"""Points mall tasks (queue `points`).

    points_mall.award_subscribe       the Official Account's subscribe event (kwargs `event`: event_id, appid,
                                      openid, unionid, ...): the subscribe bonus, once per member ever
    points_mall.notify_order          one order event: claim the member's subscribe grant (miniprogram
                                      service), hand the subscribe message to `message_center.send`
    points_mall.expire_points         periodic, locked: the day's expiry settlement (idempotent per day,
                                      resumes a crashed run)
    points_mall.reconcile             periodic, locked: every balance against its ledger and lots
    points_mall.sweep_notifications   periodic, locked: notifications whose task was lost, queued again

Every task is idempotent (unique business ids, conditional status updates, idempotency keys),
has a time limit and a retry policy, and ends in a recorded state.
"""

from __future__ import annotations

import logging

from wedraw.core.jobs import locked

log = logging.getLogger("wedraw.points_mall.tasks")

AWARD_SUBSCRIBE_TASK = "points_mall.award_subscribe"
NOTIFY_TASK = "points_mall.notify_order"
EXPIRE_TASK = "points_mall.expire_points"
RECONCILE_TASK = "points_mall.reconcile"
SWEEP_NOTIFICATIONS_TASK = "points_mall.sweep_notifications"


def register_tasks(celery) -> None:
    def rollback():
        from wedraw.points_mall.models import db

        db.session.rollback()

    @celery.task(
        name=AWARD_SUBSCRIBE_TASK, shared=False, bind=True, max_retries=8, default_retry_delay=15, time_limit=60
    )
    def award_subscribe(self, event: dict) -> str:
        from wedraw.points_mall.services import award_subscribe as award

        try:
            return award(event)
        except Exception as exc:  # database hiccup: retried; the business id keeps it to one award
            rollback()
            if self.request.retries >= self.max_retries:
                log.error("subscribe bonus for %s not awarded: %s", event.get("event_id"), exc)
                return "failed"
            raise self.retry(exc=exc, countdown=min(300, 15 * 2**self.request.retries)) from exc

    @celery.task(name=NOTIFY_TASK, shared=False, bind=True, max_retries=6, default_retry_delay=10, time_limit=60)
    def notify_order(self, notification_id: int) -> str:
        from wedraw.points_mall.orders import fail_notification, process_notification

        try:
            return process_notification(notification_id)
        except Exception as exc:  # RetryLater (miniprogram or broker unavailable) and database hiccups
            rollback()
            if self.request.retries >= self.max_retries:
                return fail_notification(notification_id, f"gave up: {exc}")
            raise self.retry(exc=exc, countdown=min(300, 10 * 2**self.request.retries)) from exc

    @celery.task(name=EXPIRE_TASK, shared=False, max_retries=0, time_limit=3600, soft_time_limit=3540)
    @locked(EXPIRE_TASK, ttl=3600)
    def expire_points() -> dict:
        from wedraw.points_mall.settlement import run_expiry

        return run_expiry()

    @celery.task(name=RECONCILE_TASK, shared=False, max_retries=0, time_limit=3600, soft_time_limit=3540)
    @locked(RECONCILE_TASK, ttl=3600)
    def reconcile(trigger: str = "nightly") -> dict:
        from wedraw.points_mall.settlement import reconcile as run

        result = run(trigger)
        return {"id": result.id, "status": result.status, "accounts": result.accounts_checked}

    @celery.task(name=SWEEP_NOTIFICATIONS_TASK, shared=False, max_retries=0, time_limit=300)
    @locked(SWEEP_NOTIFICATIONS_TASK, ttl=300)
    def sweep_notifications() -> int:
        from wedraw.points_mall.orders import sweep_notifications as sweep

        return sweep()
