"""The beat schedule of the whole platform, in code. Every job here is a locked task."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab

# name -> (task name, owning queue, schedule)
PERIODIC_JOBS: dict[str, tuple[str, str, object]] = {
    "prune-login-sessions": ("user_center.prune_sessions", "user_center", crontab(hour=3, minute=17)),
    # Callbacks stored while the broker was down are handed on within a minute of its return.
    "wechat-sweep-unhanded": ("wechat_official.sweep_unhanded", "wechat_official", crontab()),
    "wechat-incremental-fan-sync": ("wechat_official.incremental_sync", "wechat_official", crontab(hour=2, minute=41)),
    "wechat-refresh-tokens": ("wechat_official.refresh_tokens", "wechat_official", crontab(minute="*/5")),
    # Scheduled campaigns start within 15 s of their time.
    "message-start-due-campaigns": ("message_center.start_due_campaigns", "message_center", timedelta(seconds=15)),
    # Recipients whose push task was lost (a killed worker, a broker restart) are sent again; campaigns complete.
    "message-sweep-stuck": ("message_center.sweep_stuck", "message_center", timedelta(seconds=30)),
    # WeCom: the organisation, customers and groups re-read every night (change callbacks keep them current).
    "wecom-nightly-sync": ("wecom.nightly_sync", "wecom", crontab(hour=2, minute=23)),
    "wecom-sweep-unhanded": ("wecom.sweep_unhanded", "wecom", crontab()),
    # Robot messages the message center sent (or found the key dead for) show as such within 15 s.
    "wecom-refresh-robot-messages": ("wecom.refresh_robot_messages", "wecom", timedelta(seconds=15)),
    "wecom-refresh-tokens": ("wecom.refresh_tokens", "wecom", crontab(minute="*/5")),
    # Points expiry settles each members' day once (idempotent per day): the first hourly run after local
    # midnight does the work; later ones are no-ops, or resume a run that crashed.
    "points-expire": ("points_mall.expire_points", "points", crontab(minute=7)),
    # Every balance against the sum of its ledger entries, nightly (03:37 China time; beat runs in UTC).
    "points-reconcile": ("points_mall.reconcile", "points", crontab(hour=19, minute=37)),
    # Order notifications whose task was lost (broker down at the commit) are queued again.
    "points-sweep-notifications": ("points_mall.sweep_notifications", "points", crontab(minute="*/5")),
    "miniprogram-refresh-tokens": ("miniprogram.refresh_tokens", "miniprogram", crontab(minute="*/5")),
    "miniprogram-forget-session-keys": ("miniprogram.forget_session_keys", "miniprogram", crontab(hour=20, minute=13)),
    # Yesterday's and today's daily statistics rebuilt from the facts (a day re-run gives the same numbers).
    "analytics-rollup": ("data_analysis.rollup", "analytics", crontab(minute="*/10")),
    # Report files past their retention removed.
    "analytics-cleanup-reports": ("data_analysis.cleanup_reports", "reports", crontab(minute=47)),
    # Yesterday's (Mondays: last week's) scheduled reports and robot summary, at 01:10 China time.
    "analytics-scheduled-reports": ("data_analysis.scheduled_reports", "reports", crontab(hour=17, minute=10)),
}


def beat_schedule() -> dict:
    return {
        name: {"task": task, "schedule": schedule, "options": {"queue": queue, "expires": 3600}}
        for name, (task, queue, schedule) in PERIODIC_JOBS.items()
    }
