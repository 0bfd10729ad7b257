"""The embedded profile's demo data: the sandbox's demo corp, its app (with its callback) and its group robot.

A first contacts sync is queued (the worker runs it once it starts, then customers and
groups), so the console shows the organisation after `make run` without anyone pressing sync.
"""

from __future__ import annotations

from sqlalchemy import select

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.sandbox.demo import demo_accounts
from wedraw.wecom import jobs, services
from wedraw.wecom.messaging import _set_key
from wedraw.wecom.models import App, Corp, Robot, SyncJob, db

CORP_NAME = "WeDraw 演示企业"
APP_NAME = "WeDraw 助手"
ROBOT_NAME = "WeDraw 告警机器人"


_decrypt = services._secret


def seed_demo(settings) -> list[str]:
    demo = demo_accounts(settings.extra).wecom
    messages = []
    corp = db.session.execute(select(Corp).where(Corp.corp_id == demo.corp_id)).scalar_one_or_none()
    if corp is None:
        corp = Corp(corp_id=demo.corp_id, name=CORP_NAME, enabled=True, demo=True)
        db.session.add(corp)
        db.session.commit()
        messages.append(f"Created the demo WeCom corp {demo.corp_id} (wired to the WeChat sandbox)")
    if corp.demo:
        # The sandbox takes its demo credentials from the environment: follow them when they change.
        apps = db.session.execute(select(App).where(App.corp_ref == corp.id)).scalars().all()
        app = next((a for a in apps if a.agent_id == demo.agent_id), None)
        wanted = (demo.secret, demo.token, demo.aes_key)
        if app is None:
            services.create_app(
                corp.id,
                {
                    "agent_id": demo.agent_id,
                    "name": APP_NAME,
                    "secret": demo.secret,
                    "token": demo.token,
                    "aes_key": demo.aes_key,
                    "is_default": True,
                },
            )
        elif (_decrypt(app.secret_enc), _decrypt(app.token_enc), _decrypt(app.aes_key_enc)) != wanted:
            services.update_app(corp.id, app.id, {"secret": demo.secret, "token": demo.token, "aes_key": demo.aes_key})
    robot = db.session.execute(select(Robot).where(Robot.demo.is_(True))).scalar_one_or_none()
    # An operator who registered the demo robot's key as a robot of their own keeps theirs.
    taken = db.session.execute(
        select(Robot.id).where(Robot.key_fingerprint == services.fingerprint(demo.robot_key))
    ).scalar_one_or_none()
    if robot is None and taken is None:
        robot = Robot(name=ROBOT_NAME, description="The sandbox's demo robot", corp_ref=corp.id, demo=True)
        _set_key(robot, demo.robot_key)
        db.session.add(robot)
        db.session.commit()
    elif robot is not None and taken is None:  # the demo key changed (WEDRAW_DEMO_WECOM_ROBOT_KEY)
        _set_key(robot, demo.robot_key)
        robot.status, robot.broken_reason, robot.broken_at, robot.updated_at = "active", None, None, utcnow()
        db.session.commit()
    synced_before = db.session.execute(select(SyncJob.id).where(SyncJob.corp_ref == corp.id).limit(1)).first()
    if corp.contacts_synced_at is None and not synced_before:
        try:
            jobs.start_sync(corp.id, "contacts", jobs.SEED)
            messages.append("Queued the demo corp's first contacts sync (then customers and customer groups)")
        except ApiError as exc:
            messages.append(f"The demo corp's first contacts sync was not queued: {exc.description}")
    return messages
