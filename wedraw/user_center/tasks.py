"""User center tasks (queue `user_center`)."""

from __future__ import annotations

from wedraw.core.audit import AUDIT_TASK


def register_tasks(celery) -> None:
    @celery.task(name=AUDIT_TASK, bind=True, max_retries=10, default_retry_delay=5, acks_late=True)
    def record_audit(self, record: dict) -> bool:
        from wedraw.user_center.services import record_audit as store

        try:
            return store(record)
        except Exception as exc:  # database hiccup: the record waits, it is not dropped
            raise self.retry(exc=exc) from exc
