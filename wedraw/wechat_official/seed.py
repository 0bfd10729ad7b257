"""The embedded profile's demo data: the sandbox's demo Official Account, a welcome reply, a menu draft."""

from __future__ import annotations

from sqlalchemy import select

from wedraw.core.crypto import cipher_for
from wedraw.core.db import utcnow
from wedraw.sandbox.demo import demo_accounts
from wedraw.wechat_official import services
from wedraw.wechat_official.models import Account, AutoReply, Menu, db

POINTS_RULES = "关注即送 100 积分，每日签到再得 10 积分，积分可在积分商城兑换礼品。"
WELCOME = "欢迎关注 WeDraw 演示公众号！回复「积分」查看积分玩法，点击菜单进入积分商城。"
DEMO_MENU = [
    {"name": "积分商城", "type": "view", "url": "https://wedraw.example/points"},
    {
        "name": "活动",
        "sub_button": [
            {"name": "今日签到", "type": "click", "key": "SIGN_IN"},
            {"name": "积分规则", "type": "click", "key": "积分"},
            {"name": "扫一扫", "type": "scancode_push", "key": "SCAN_PUSH"},
        ],
    },
    {"name": "联系我们", "type": "click", "key": "CONTACT"},
]


def seed_demo(settings) -> str | None:
    demo = demo_accounts(settings.extra).official
    cipher = cipher_for(settings)
    account = db.session.execute(select(Account).where(Account.appid == demo.appid)).scalar_one_or_none()
    created = account is None
    if created:
        account = Account(appid=demo.appid, name="WeDraw 演示公众号", message_mode="safe", enabled=True, demo=True)
        db.session.add(account)
    if created or account.demo:
        # The sandbox takes its demo credentials from the environment: follow them when they change.
        current = (
            None
            if created
            else (
                cipher.decrypt(account.secret_enc),
                cipher.decrypt(account.token_enc),
                cipher.decrypt(account.aes_key_enc) if account.aes_key_enc else None,
            )
        )
        if current != (demo.secret, demo.token, demo.aes_key):
            for field, value in (("secret", demo.secret), ("token", demo.token), ("aes_key", demo.aes_key)):
                services._set_secret(account, field, value)
            account.updated_at = utcnow()
    db.session.flush()
    has_welcome = db.session.execute(
        select(AutoReply.id).where(AutoReply.account_id == account.id, AutoReply.trigger == "subscribe")
    ).first()
    if not has_welcome:
        db.session.add(
            AutoReply(
                account_id=account.id,
                name="关注欢迎语",
                trigger="subscribe",
                reply_type="text",
                content=WELCOME,
                priority=0,
                enabled=True,
            )
        )
        points = AutoReply(
            account_id=account.id,
            name="积分玩法",
            trigger="keyword",
            match_type="contains",
            reply_type="text",
            content=POINTS_RULES,
            priority=10,
            enabled=True,
        )
        points.keywords = ["积分"]
        db.session.add(points)
    if not db.session.execute(select(Menu.id).where(Menu.account_id == account.id)).first():
        menu = Menu(account_id=account.id, name="演示菜单", status="draft")
        menu.buttons = DEMO_MENU
        db.session.add(menu)
    db.session.commit()
    if created:
        return f"Created the demo Official Account {demo.appid} (wired to the WeChat sandbox)"
    return None
