"""The embedded profile's demo senders and templates, wired to the WeChat sandbox."""

from __future__ import annotations

from sqlalchemy import select

from wedraw.message_center.credentials import encrypt_config
from wedraw.message_center.models import Sender, Template, db
from wedraw.message_center.services import _robot_fingerprint
from wedraw.message_center.templating import normalise_variables
from wedraw.sandbox.demo import demo_accounts

ALERT = "**{{title}}**\n> 服务：{{service}}\n> 详情：{{detail}}"
NOTICE = "您好，{{name}}：{{content}}"


def _sender(kind: str, app_key: str, name: str, config: dict | None, settings) -> tuple[Sender, bool]:
    sender = db.session.execute(
        select(Sender).where(Sender.kind == kind, Sender.app_key == app_key)
    ).scalar_one_or_none()
    created = sender is None
    if created:
        sender = Sender(kind=kind, app_key=app_key, name=name, status="active")
        db.session.add(sender)
    if config is not None:
        sender.config_enc = encrypt_config(settings, config)
        sender.secret_hint = "****" + str(config.get("secret") or config.get("key"))[-4:]
    db.session.flush()
    return sender, created


def _template(channel: str, sender: Sender | None, name: str, msgtype: str, content: str, variables: list[dict]):
    exists = db.session.execute(select(Template.id).where(Template.channel == channel, Template.name == name)).first()
    if exists:
        return
    template = Template(
        channel=channel,
        sender_id=sender.id if sender else None,
        name=name,
        msgtype=msgtype,
        content=content,
        source="local",
    )
    template.variables = normalise_variables(variables, content, text=True)
    db.session.add(template)


def seed_demo(settings) -> str | None:
    demo = demo_accounts(settings.extra)
    _, created = _sender("official_account", demo.official.appid, "WeDraw 演示公众号", None, settings)
    mp = demo.miniprogram
    _sender("mini_program", mp.appid, "WeDraw 积分商城", {"appid": mp.appid, "secret": mp.secret}, settings)
    wecom = demo.wecom
    app, _ = _sender(
        "wecom_app",
        f"{wecom.corp_id}/{wecom.agent_id}",
        "WeDraw 助手",
        {"corp_id": wecom.corp_id, "agent_id": wecom.agent_id, "secret": wecom.secret},
        settings,
    )
    robot, _ = _sender(
        "group_robot", _robot_fingerprint(wecom.robot_key), "WeDraw 告警机器人", {"key": wecom.robot_key}, settings
    )
    _template(
        "group_robot",
        robot,
        "服务告警",
        "markdown",
        ALERT,
        [
            {"name": "title", "type": "string", "max_length": 64},
            {"name": "service", "type": "string", "max_length": 64},
            {"name": "detail", "type": "string", "max_length": 500},
        ],
    )
    _template(
        "wecom_app",
        app,
        "员工通知",
        "text",
        NOTICE,
        [
            {"name": "name", "type": "string", "max_length": 32},
            {"name": "content", "type": "string", "max_length": 500},
        ],
    )
    db.session.commit()
    if created:
        return "Created the message center's demo senders (Official Account, Mini Program, WeCom agent, group robot)"
    return None
