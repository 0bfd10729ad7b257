"""Message center: channels, senders, templates, single sends and campaigns, and the push workers."""

from wedraw.message_center.api import register
from wedraw.message_center.models import db


def seed(app, echo) -> None:
    """The sandbox's demo senders (Official Account, Mini Program, WeCom agent, group robot): idempotent.

    Only when WeChat is the sandbox. The Official Account's credentials stay with the
    Official Account service (which seeds the same demo account).
    """
    from wedraw.message_center.seed import seed_demo

    settings = app.config["WEDRAW_SETTINGS"]
    if not (settings.wechat_api_base and settings.wecom_api_base):
        return
    message = seed_demo(settings)
    if message:
        echo(message)


__all__ = ["db", "register", "seed"]
