"""The beat schedule of the whole platform, in code. Every job here is a locked task."""

from __future__ import annotations

from celery.schedules import crontab

# name -> (task name, owning queue, schedule)
PERIODIC_JOBS: dict[str, tuple[str, str, object]] = {
    "prune-login-sessions": ("user_center.prune_sessions", "user_center", crontab(hour=3, minute=17)),
    # Callbacks stored while the broker was down are handed on within a minute of its return.
    "wechat-sweep-unhanded": ("wechat_official.sweep_unhanded", "wechat_official", crontab()),
    "wechat-incremental-fan-sync": ("wechat_official.incremental_sync", "wechat_official", crontab(hour=2, minute=41)),
    "wechat-refresh-tokens": ("wechat_official.refresh_tokens", "wechat_official", crontab(minute="*/5")),
}


def beat_schedule() -> dict:
    return {
        name: {"task": task, "schedule": schedule, "options": {"queue": queue, "expires": 3600}}
        for name, (task, queue, schedule) in PERIODIC_JOBS.items()
    }
