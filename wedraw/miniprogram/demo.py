"""The embedded profile's demo data: the sandbox's demo Mini Program (WeDraw 积分商城); `seed()` calls it."""

from __future__ import annotations

from sqlalchemy import select

from wedraw.core.crypto import cipher_for
from wedraw.core.db import utcnow
from wedraw.miniprogram.models import MpApp, db
from wedraw.sandbox.demo import demo_accounts


def seed_demo(settings) -> str | None:
    demo = demo_accounts(settings.extra).miniprogram
    cipher = cipher_for(settings)
    app = db.session.execute(select(MpApp).where(MpApp.appid == demo.appid)).scalar_one_or_none()
    created = app is None
    if created:
        app = MpApp(appid=demo.appid, name="WeDraw 积分商城", enabled=True, demo=True)
        db.session.add(app)
    if created or (app.demo and cipher.decrypt(app.secret_enc) != demo.secret):
        # The sandbox takes its demo credentials from the environment: follow them when they change.
        app.secret_enc, app.secret_hint = cipher.encrypt(demo.secret), "****" + demo.secret[-4:]
        app.updated_at = utcnow()
    db.session.commit()
    if created:
        return f"Created the demo Mini Program {demo.appid} (wired to the WeChat sandbox)"
    return None
