"""User center tasks (queue `user_center`): audit records from every service, session pruning."""

from __future__ import annotations

from wedraw.core.audit import AUDIT_TASK
from wedraw.core.jobs import locked

PRUNE_SESSIONS_TASK = "user_center.prune_sessions"


def register_tasks(celery) -> None:
    @celery.task(name=AUDIT_TASK, shared=False, bind=True, max_retries=10, default_retry_delay=5, time_limit=60)
    def record_audit(self, record: dict) -> bool:
        from wedraw.user_center.services import record_audit as store

        try:
            return store(record)
        except Exception as exc:  # database hiccup: the record waits, it is not dropped
            raise self.retry(exc=exc) from exc

    @celery.task(name=PRUNE_SESSIONS_TASK, shared=False, max_retries=0, time_limit=600)
    @locked(PRUNE_SESSIONS_TASK, ttl=600)
    def prune_sessions() -> int:
        from wedraw.user_center.services import prune_sessions as prune

        return prune()
