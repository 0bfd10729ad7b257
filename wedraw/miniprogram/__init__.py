"""Mini Program: member login (member tokens), members across channels, phone binding, subscribe grants."""

from wedraw.miniprogram.api import register
from wedraw.miniprogram.models import db


def seed(app, echo) -> None:
    """The sandbox's demo Mini Program (idempotent); only when WeChat is the sandbox."""
    from wedraw.miniprogram.demo import seed_demo

    settings = app.config["WEDRAW_SETTINGS"]
    if not settings.wechat_api_base:
        return
    message = seed_demo(settings)
    if message:
        echo(message)


__all__ = ["db", "register", "seed"]
