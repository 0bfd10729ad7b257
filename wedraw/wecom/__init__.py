"""WeCom: contacts, customers and customer groups, app chats, group robots, app messages, callbacks."""

from wedraw.wecom.api import register
from wedraw.wecom.models import db


def seed(app, echo) -> None:
    """The demo corp wired to the sandbox (its app, callback and group robot) and a first contacts sync (idempotent).

    Only when WeCom is the sandbox: its credentials are the sandbox's demo corp
    (WEDRAW_DEMO_WECOM_CORP_ID/_SECRET/_AGENT_ID/_TOKEN/_AES_KEY/_ROBOT_KEY), kept in step when they change.
    """
    from wedraw.wecom.demo import seed_demo  # not `seed`: a submodule of that name would replace this function

    settings = app.config["WEDRAW_SETTINGS"]
    if not (settings.wechat_api_base and settings.wecom_api_base):
        return
    for message in seed_demo(settings):
        echo(message)


__all__ = ["db", "register", "seed"]
