"""Official Account: callbacks, fans, tags, menus, auto-replies, QR codes, materials."""

from wedraw.wechat_official.api import register
from wedraw.wechat_official.models import db


def seed(app, echo) -> None:
    """The demo account wired to the sandbox, a welcome reply and a demo menu draft (idempotent).

    Only when WeChat is the sandbox: its credentials are the sandbox's demo account
    (WEDRAW_DEMO_WECHAT_APPID/_SECRET/_TOKEN/_AES_KEY), kept in step when they change.
    """
    from wedraw.wechat_official.seed import seed_demo

    settings = app.config["WEDRAW_SETTINGS"]
    if not settings.wechat_api_base:
        return
    message = seed_demo(settings)
    if message:
        echo(message)


__all__ = ["db", "register", "seed"]
