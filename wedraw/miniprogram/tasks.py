"""Mini Program tasks (queue `miniprogram`): periodic upkeep of WeChat credentials and sessions.

miniprogram.refresh_tokens        periodic, locked: each enabled Mini Program's shared access token
                                  refreshed ahead of expiry (the message center sends with it)
miniprogram.forget_session_keys   periodic, locked: session keys no login renewed for 30 days dropped
"""

from __future__ import annotations

from wedraw.core.jobs import locked

REFRESH_TOKENS_TASK = "miniprogram.refresh_tokens"
FORGET_SESSION_KEYS_TASK = "miniprogram.forget_session_keys"


def register_tasks(celery) -> None:
    @celery.task(name=REFRESH_TOKENS_TASK, shared=False, max_retries=0, time_limit=300)
    @locked(REFRESH_TOKENS_TASK, ttl=300)
    def refresh_tokens() -> dict[str, str]:
        from sqlalchemy import select

        from wedraw.miniprogram.models import MpApp, db
        from wedraw.miniprogram.services import client
        from wedraw.wechat import refresh_tokens_ahead

        apps = db.session.execute(select(MpApp).where(MpApp.enabled.is_(True))).scalars().all()
        return refresh_tokens_ahead([client(a, background=True) for a in apps])

    @celery.task(name=FORGET_SESSION_KEYS_TASK, shared=False, max_retries=0, time_limit=600)
    @locked(FORGET_SESSION_KEYS_TASK, ttl=600)
    def forget_session_keys() -> int:
        from wedraw.miniprogram.services import forget_session_keys as forget

        return forget()
