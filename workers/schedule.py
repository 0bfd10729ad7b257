"""The beat schedule of the whole platform, in code. Every job here is a locked task."""

from __future__ import annotations

from celery.schedules import crontab

# name -> (task name, owning queue, schedule)
PERIODIC_JOBS: dict[str, tuple[str, str, object]] = {
    "prune-login-sessions": ("user_center.prune_sessions", "user_center", crontab(hour=3, minute=17)),
}


def beat_schedule() -> dict:
    return {
        name: {"task": task, "schedule": schedule, "options": {"queue": queue, "expires": 3600}}
        for name, (task, queue, schedule) in PERIODIC_JOBS.items()
    }
