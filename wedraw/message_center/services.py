"""Message center use cases: one transaction each. Views and tasks call these and nothing else.

Every check that can fail a send runs here, before anything is queued: an unknown or
mismatched sender or template, template data that is missing, unknown, too long or of
the wrong type, a message a channel would refuse, an empty audience, a schedule in the
past (all 422); a broken robot (409). Work is queued only after the commit that made
its rows; when the broker is down the rows wait for the sweeper instead.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.db import naive_utc, utcnow
from wedraw.core.errors import ApiError
from wedraw.core.internal import call_service
from wedraw.core.pagination import paginate
from wedraw.message_center import credentials, delivery
from wedraw.message_center.audiences import source_for
from wedraw.message_center.channels import CHANNELS, Channel, get_channel
from wedraw.message_center.config import message_settings
from wedraw.message_center.models import (
    CAMPAIGN_CANCELLED,
    DELIVERY_STATES,
    DRAFT,
    FINISHED_CAMPAIGN_STATES,
    PAUSED,
    PENDING,
    PREPARING,
    RUNNING,
    SCHEDULED,
    AudienceList,
    AudienceListItem,
    Campaign,
    Delivery,
    MassJob,
    Sender,
    Template,
    db,
)
from wedraw.message_center.templating import (
    check_values,
    normalise_variables,
    render_wechat,
    variables_for_wechat,
)
from wedraw.wechat.policy import ERRCODES

log = logging.getLogger("wedraw.message_center")

MAX_LIST = 200_000
ROBOT_TARGET = "@group"


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def _commit(conflict: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, conflict, "conflict") from None


def _hint(value: str) -> str:
    return "****" + value[-4:] if len(value) > 8 else "****"


def _unavailable(what: str) -> ApiError:
    return ApiError(424, f"{what} is unavailable; try again shortly.", "upstream_unavailable")


# ---------------------------------------------------------------- channels


def list_channels() -> list[dict]:
    ms = message_settings(_settings())
    return [
        {
            "name": c.name,
            "title": c.title,
            "sender_kind": c.sender_kind,
            "target_kind": c.target_kind,
            "campaigns": c.campaigns,
            "per_call": c.per_call,
            "template_format": c.template_format,
            "msgtypes": list(c.msgtypes),
            "fallback_on": list(c.fallback_on),
            "default_limit": c.default_limit(ms).describe(),
        }
        for c in CHANNELS.values()
    ]


# ---------------------------------------------------------------- senders


def list_senders(args: dict) -> dict:
    stmt = select(Sender).order_by(Sender.id)
    if args.get("kind"):
        stmt = stmt.where(Sender.kind == args["kind"])
    if args.get("status"):
        stmt = stmt.where(Sender.status == args["status"])
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(Sender.name.like(like), Sender.app_key.like(like)))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_sender(sender_id: int) -> Sender:
    sender = db.session.get(Sender, sender_id)
    if sender is None:
        raise ApiError(404, f"No sender {sender_id}.")
    return sender


def _robot_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _sender_config(kind: str, data: dict) -> tuple[str, dict, str]:
    """(app_key, credentials to encrypt, secret hint) for a locally kept sender; 422 when incomplete."""
    required = {
        "mini_program": ("appid", "secret"),
        "wecom_app": ("corp_id", "agent_id", "secret"),
        "group_robot": ("key",),
    }[kind]
    missing = [name for name in required if data.get(name) in (None, "")]
    if missing:
        raise ApiError(
            422,
            f"A {kind} sender needs {', '.join(missing)}.",
            errors={name: [f"Required for {kind} senders."] for name in missing},
        )
    if kind == "mini_program":
        return data["appid"], {"appid": data["appid"], "secret": data["secret"]}, _hint(data["secret"])
    if kind == "wecom_app":
        config = {"corp_id": data["corp_id"], "agent_id": int(data["agent_id"]), "secret": data["secret"]}
        return f"{data['corp_id']}/{int(data['agent_id'])}", config, _hint(data["secret"])
    return _robot_fingerprint(data["key"]), {"key": data["key"]}, _hint(data["key"])


def create_sender(data: dict) -> Sender:
    kind = data["kind"]
    settings = _settings()
    sender = Sender(kind=kind, status="active")
    if kind == "official_account":
        appid = data.get("appid")
        if not appid:
            raise ApiError(
                422, "An official_account sender needs the account's appid.", errors={"appid": ["Required."]}
            )
        try:
            _, enabled, name = credentials.official_account_info(settings, appid, fresh=True)
        except credentials.SenderGone:
            raise ApiError(
                422,
                f"No Official Account {appid} in the Official Account service; add the account there first.",
                errors={"appid": ["Unknown Official Account."]},
            ) from None
        except credentials.CredentialsUnavailable:
            raise _unavailable("The Official Account service") from None
        sender.app_key, sender.name = appid, data.get("name") or name
    else:
        app_key, config, hint = _sender_config(kind, data)
        if not data.get("name"):
            raise ApiError(422, "A sender needs a name.", errors={"name": ["Required."]})
        sender.app_key, sender.name, sender.secret_hint = app_key, data["name"], hint
        sender.config_enc = credentials.encrypt_config(settings, config)
    if data.get("rate_limits") is not None:
        sender.rate_limits = _check_rate_limits(data["rate_limits"], kind)
    db.session.add(sender)
    _commit(f"This {kind} is already a sender.")
    return sender


def _check_rate_limits(limits: dict, kind: str) -> dict:
    allowed = [c.name for c in CHANNELS.values() if c.sender_kind == kind]
    unknown = [name for name in limits if name not in allowed]
    if unknown:
        raise ApiError(
            422,
            f"A {kind} sender sends on {', '.join(allowed)}; not on {', '.join(unknown)}.",
            errors={"rate_limits": [f"Unknown channel(s): {', '.join(unknown)}."]},
        )
    return {name: {"limit": int(v["limit"]), "window": float(v["window"])} for name, v in limits.items()}


def update_sender(sender_id: int, data: dict) -> Sender:
    sender = get_sender(sender_id)
    if "name" in data:
        sender.name = data["name"]
    if "status" in data:
        sender.status = data["status"]
        if data["status"] == "active":
            sender.broken_reason, sender.broken_at = None, None
    if "rate_limits" in data:
        sender.rate_limits = _check_rate_limits(data["rate_limits"] or {}, sender.kind)
    secrets_given = {k: data[k] for k in ("secret", "key") if data.get(k)}
    if secrets_given:
        if sender.kind == "official_account":
            raise ApiError(
                422,
                "An Official Account's secret is managed by the Official Account service.",
                errors={"secret": ["Not accepted here."]},
            )
        current = credentials.decrypt_config(_settings(), sender)
        merged = {**current, **secrets_given}
        app_key, config, hint = _sender_config(sender.kind, merged)
        if sender.kind == "group_robot":
            sender.app_key = app_key
        sender.config_enc, sender.secret_hint = credentials.encrypt_config(_settings(), config), hint
        sender.status, sender.broken_reason, sender.broken_at = "active", None, None
    sender.updated_at = utcnow()
    _commit("Another sender already has this robot key.")
    return sender


def delete_sender(sender_id: int) -> None:
    sender = get_sender(sender_id)
    used = db.session.execute(select(Campaign.id).where(Campaign.sender_id == sender.id).limit(1)).first()
    if used:
        raise ApiError(409, "Campaigns were sent by this sender; disable it instead.", "sender_in_use")
    db.session.delete(sender)
    db.session.commit()


def official_accounts() -> list[dict]:
    """The Official Accounts the Official Account service manages (to register as senders)."""
    try:
        body = call_service(
            "wechat_official", "GET", "/internal/wechat/accounts", settings=_settings(), caller="message_center"
        )
    except ApiError:
        raise _unavailable("The Official Account service") from None
    registered = set(
        db.session.execute(select(Sender.app_key).where(Sender.kind == "official_account")).scalars().all()
    )
    return [{**a, "registered": a["appid"] in registered} for a in body["accounts"]]


def _usable_sender(sender_id: int, channel: Channel, field: str = "sender_id") -> Sender:
    sender = db.session.get(Sender, sender_id)
    if sender is None:
        raise ApiError(422, f"No sender {sender_id}.", errors={field: ["Unknown sender."]})
    if sender.kind != channel.sender_kind:
        raise ApiError(
            422,
            f"The {channel.name} channel sends as a {channel.sender_kind}; sender {sender.id} is a {sender.kind}.",
            errors={field: [f"Needs a {channel.sender_kind} sender."]},
        )
    if sender.status == "broken":
        raise ApiError(
            409,
            f"Sender {sender.name} is broken: {sender.broken_reason}. Give it a working key (or mark it active) first.",
            "sender_broken",
        )
    if sender.status == "disabled":
        raise ApiError(409, f"Sender {sender.name} is disabled.", "sender_disabled")
    return sender


# ---------------------------------------------------------------- templates


def list_templates(args: dict) -> dict:
    stmt = select(Template).order_by(Template.id)
    for name in ("channel", "sender_id", "source"):
        if args.get(name) is not None:
            stmt = stmt.where(getattr(Template, name) == args[name])
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(Template.name.like(like), Template.content.like(like)))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_template(template_id: int) -> Template:
    template = db.session.get(Template, template_id)
    if template is None:
        raise ApiError(404, f"No template {template_id}.")
    return template


def _fill_template(template: Template, data: dict, channel: Channel) -> None:
    for name in ("name", "content", "wechat_template_id", "example"):
        if name in data:
            setattr(template, name, data[name])
    if "options" in data:
        template.options = data["options"] or {}
    if channel.template_format == "wechat":
        if not template.wechat_template_id:
            raise ApiError(
                422,
                f"A {channel.name} template needs WeChat's template id.",
                errors={"wechat_template_id": ["Required."]},
            )
        template.msgtype = "template"
        template.variables = variables_for_wechat(template.content, subscribe=channel.name == "mp_subscribe")
    else:
        msgtype = data.get("msgtype", template.msgtype if template.msgtype != "template" else "text")
        if msgtype not in ("text", "markdown") or (msgtype == "markdown" and "markdown" not in channel.msgtypes):
            allowed = [t for t in ("text", "markdown") if t in channel.msgtypes]
            raise ApiError(
                422, f"A {channel.name} template is {' or '.join(allowed)}.", errors={"msgtype": [f"One of {allowed}."]}
            )
        template.msgtype = msgtype
        declared = data.get("variables", template.variables)
        template.variables = normalise_variables(declared, template.content, text=True)


def create_template(data: dict) -> Template:
    channel = get_channel(data["channel"])
    template = Template(channel=channel.name, source="local")
    if data.get("sender_id") is not None:
        template.sender_id = _usable_sender(data["sender_id"], channel).id
    elif channel.template_format == "wechat":
        raise ApiError(
            422, "A WeChat template belongs to one app: give sender_id.", errors={"sender_id": ["Required."]}
        )
    _fill_template(template, data, channel)
    db.session.add(template)
    _commit("This sender already has a template with this WeChat template id.")
    return template


def update_template(template_id: int, data: dict) -> Template:
    template = get_template(template_id)
    if template.source == "wechat" and ({"content", "wechat_template_id"} & set(data)):
        raise ApiError(
            422,
            "A template synced from WeChat changes in WeChat; sync again.",
            errors={"content": ["Synced from WeChat."]},
        )
    _fill_template(template, data, get_channel(template.channel))
    template.updated_at = utcnow()
    _commit("This sender already has a template with this WeChat template id.")
    return template


def delete_template(template_id: int) -> None:
    template = get_template(template_id)
    db.session.delete(template)
    db.session.commit()


def sync_templates(sender_id: int) -> list[Template]:
    """Make the sender's Official Account templates exactly WeChat's (new, changed, removed)."""
    sender = get_sender(sender_id)
    if sender.kind != "official_account":
        raise ApiError(422, "Templates are synced from Official Accounts only.", errors={"sender_id": ["Not one."]})
    try:
        app = credentials.app_for(_settings(), sender)
    except credentials.CredentialsUnavailable:
        raise _unavailable("The Official Account service") from None
    except credentials.SenderGone as exc:
        raise ApiError(409, str(exc), "sender_gone") from None
    result = app.call(app.api.template.get_all_private_template)
    if not result.ok:
        if result.status == "final":
            raise ApiError(409, f"WeChat refused to list templates: {result.meaning} (errcode {result.errcode}).")
        raise ApiError(424, f"WeChat could not list templates now ({result.meaning}).", "wechat_unavailable")
    now = utcnow()
    local = {
        t.wechat_template_id: t
        for t in db.session.execute(
            select(Template).where(Template.sender_id == sender.id, Template.channel == "oa_template")
        ).scalars()
    }
    seen = set()
    for item in result.data.get("template_list") or []:
        wechat_id = item["template_id"]
        seen.add(wechat_id)
        template = local.get(wechat_id) or Template(
            channel="oa_template", sender_id=sender.id, wechat_template_id=wechat_id, msgtype="template"
        )
        template.name = (item.get("title") or wechat_id)[:64]
        template.content = item.get("content") or ""
        template.example = item.get("example") or None
        template.variables = variables_for_wechat(template.content, subscribe=False)
        template.source, template.synced_at, template.updated_at = "wechat", now, now
        db.session.add(template)
    for wechat_id, template in local.items():
        if wechat_id not in seen and template.source == "wechat":
            db.session.delete(template)
    db.session.commit()
    return list(
        db.session.execute(
            select(Template)
            .where(Template.sender_id == sender.id, Template.channel == "oa_template")
            .order_by(Template.id)
        ).scalars()
    )


def _template_for(template_id: int, channel: Channel, sender: Sender, field: str = "template_id") -> Template:
    template = db.session.get(Template, template_id)
    if template is None:
        raise ApiError(422, f"No template {template_id}.", errors={field: ["Unknown template."]})
    if template.channel != channel.name:
        raise ApiError(
            422,
            f"Template {template_id} is a {template.channel} template, not {channel.name}.",
            errors={field: [f"Needs a {channel.name} template."]},
        )
    if template.sender_id is not None and template.sender_id != sender.id:
        raise ApiError(
            422, f"Template {template_id} belongs to another sender.", errors={field: ["Belongs to another sender."]}
        )
    return template


def build_message(channel: Channel, sender: Sender, body: dict, prefix: str = "") -> tuple[dict, Template | None]:
    """The checked message a send or campaign carries: from template + data, or given whole (422 when bad)."""
    if body.get("template_id") is not None:
        template = _template_for(body["template_id"], channel, sender, prefix + "template_id")
        values = check_values(template.variables, body.get("data"))
        return channel.message_from_template(template, values, body.get("options")), template
    if body.get("message"):
        return channel.check_message(body["message"]), None
    raise ApiError(
        422,
        "Give a template_id with data, or a message.",
        errors={prefix + "template_id": ["A template or a message is required."]},
    )


def preview_template(template_id: int, data: dict | None, options: dict | None) -> dict:
    template = get_template(template_id)
    channel = get_channel(template.channel)
    values = check_values(template.variables, data)
    message = channel.message_from_template(template, values, options)
    text = render_wechat(template.content, values) if channel.template_format == "wechat" else channel.preview(message)
    return {"text": text, "message": {k: v for k, v in message.items() if k != "preview"}, "values": values}


# ---------------------------------------------------------------- audiences


_TARGET = re.compile(r"^[A-Za-z0-9_\-@.|]{1,64}$")


def _targets(items: list) -> list[tuple[str, str | None]]:
    seen: dict[str, str | None] = {}
    bad = []
    for item in items:
        target, unionid = (item.get("target"), item.get("unionid")) if isinstance(item, dict) else (item, None)
        target = str(target or "").strip()
        if not _TARGET.match(target):
            bad.append(target[:70])
            continue
        seen.setdefault(target, (str(unionid).strip()[:64] or None) if unionid else None)
    if bad:
        raise ApiError(
            422,
            f"{len(bad)} entries are not openids or userids (e.g. {bad[0]!r}).",
            errors={"targets": [f"Not an openid/userid: {b!r}" for b in bad[:20]]},
        )
    if not seen:
        raise ApiError(422, "The list is empty.", errors={"targets": ["At least one openid or userid."]})
    if len(seen) > MAX_LIST:
        raise ApiError(422, f"A list holds at most {MAX_LIST} entries.", errors={"targets": ["Too many."]})
    return list(seen.items())


def parse_csv(text: str) -> list[dict]:
    """An uploaded CSV: one openid (or userid) per line, optionally `,unionid`; a header line is skipped."""
    rows = []
    for record in csv.reader(io.StringIO(text)):
        if not record or not record[0].strip():
            continue
        first = record[0].strip().lstrip("\ufeff")
        if first.lower() in ("openid", "userid", "target"):
            continue
        rows.append({"target": first, "unionid": record[1].strip() if len(record) > 1 else None})
    return rows


def create_list(name: str, target_kind: str, items: list, created_by: str | None) -> AudienceList:
    targets = _targets(items)
    audience = AudienceList(name=name, target_kind=target_kind, size=len(targets), created_by=created_by)
    db.session.add(audience)
    db.session.flush()
    for start in range(0, len(targets), 5000):
        db.session.execute(
            AudienceListItem.__table__.insert(),
            [{"list_id": audience.id, "target": t, "unionid": u} for t, u in targets[start : start + 5000]],
        )
    db.session.commit()
    return audience


def list_lists(args: dict) -> dict:
    stmt = select(AudienceList).order_by(AudienceList.id.desc())
    if args.get("q"):
        stmt = stmt.where(AudienceList.name.like(f"%{args['q']}%"))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_list(list_id: int) -> AudienceList:
    audience = db.session.get(AudienceList, list_id)
    if audience is None:
        raise ApiError(404, f"No audience list {list_id}.")
    return audience


def list_items(list_id: int, page: int, page_size: int) -> dict:
    get_list(list_id)
    stmt = select(AudienceListItem).where(AudienceListItem.list_id == list_id).order_by(AudienceListItem.id)
    return paginate(db.session, stmt, page, page_size)


def delete_list(list_id: int) -> None:
    audience = get_list(list_id)
    waiting = db.session.execute(
        select(Campaign.id, Campaign.audience_json).where(
            Campaign.status.in_((DRAFT, SCHEDULED, PREPARING, PAUSED)), Campaign.materialized.is_(False)
        )
    ).all()
    for row in waiting:
        spec = json.loads(row.audience_json)
        if spec.get("kind") == "list" and int(spec.get("list_id") or 0) == audience.id:
            raise ApiError(409, f"Campaign {row.id} will send to this list; it cannot be deleted yet.", "list_in_use")
    db.session.delete(audience)
    db.session.commit()


def _audience(spec: dict, sender: Sender, channel: Channel, campaign_name: str, who: str | None) -> tuple[dict, int]:
    """The stored audience spec and its size now (an inline openid list becomes an uploaded list)."""
    spec = dict(spec or {})
    spec.pop("tag_name", None)  # looked up below, never taken from the caller
    if spec.get("kind") == "openids":
        kind = "userid" if channel.target_kind == "userid" else "openid"
        audience = create_list(f"{campaign_name} (inline)"[:64], kind, spec.get("openids") or [], who)
        spec = {"kind": "list", "list_id": audience.id}
    source = source_for(spec)
    if sender.kind not in source.sender_kinds:
        raise ApiError(
            422,
            f"A {source.kind} audience is for {', '.join(source.sender_kinds)} senders.",
            errors={"audience.kind": [f"Not for a {sender.kind} sender."]},
        )
    source.check(spec, sender)
    count, facts = source.measure(spec, sender, _settings())
    spec.update(facts)
    if count == 0:
        raise ApiError(
            422,
            f"The audience ({source.describe(spec)}) is empty.",
            "empty_audience",
            errors={"audience": ["No recipients."]},
        )
    if channel.name == "oa_mass" and spec["kind"] == "list" and count < 2:
        raise ApiError(422, "A mass send to a list needs at least 2 recipients.", errors={"audience": ["Too few."]})
    clean = {k: spec[k] for k in ("kind", "tag_id", "tag_name", "list_id", "filter") if spec.get(k) is not None}
    return clean, count


def estimate(sender_id: int, spec: dict) -> dict:
    sender = get_sender(sender_id)
    source = source_for(spec)
    if sender.kind not in source.sender_kinds:
        raise ApiError(
            422,
            f"A {source.kind} audience is for {', '.join(source.sender_kinds)} senders.",
            errors={"kind": [f"Not for a {sender.kind} sender."]},
        )
    source.check(spec, sender)
    count, facts = source.measure(spec, sender, _settings())
    return {"count": count, "description": source.describe({**spec, **facts})}


# ---------------------------------------------------------------- campaigns


def list_campaigns(args: dict) -> dict:
    stmt = select(Campaign).order_by(Campaign.id.desc())
    for name in ("status", "channel", "sender_id"):
        if args.get(name):
            stmt = stmt.where(getattr(Campaign, name) == args[name])
    if args.get("q"):
        stmt = stmt.where(Campaign.name.like(f"%{args['q']}%"))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise ApiError(404, f"No campaign {campaign_id}.")
    return campaign


def _fallback(data: dict | None, channel: Channel) -> dict | None:
    if not data:
        return None
    if not channel.fallback_on:
        raise ApiError(
            422,
            f"The {channel.name} channel has no fallback.",
            errors={"fallback": ["Not available for this channel."]},
        )
    fallback_channel = get_channel(data.get("channel") or "oa_template")
    if fallback_channel.name != "oa_template":
        raise ApiError(
            422,
            "The fallback is an Official Account template message.",
            errors={"fallback.channel": ["oa_template only."]},
        )
    sender = _usable_sender(data["sender_id"], fallback_channel, "fallback.sender_id")
    message, template = build_message(fallback_channel, sender, data, "fallback.")
    return {
        "channel": fallback_channel.name,
        "sender_id": sender.id,
        "template_id": template.id if template else None,
        "data": data.get("data") or {},
        "options": data.get("options") or {},
        "message": message,
        "on": list(channel.fallback_on),
    }


def _check_schedule(when: datetime | None) -> datetime | None:
    """A future send time, rounded up to the second (as MariaDB stores it): never earlier than asked."""
    if when is None:
        return None
    when = naive_utc(when)
    if when.microsecond:
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    if when <= utcnow():
        raise ApiError(422, "The schedule is in the past.", errors={"scheduled_at": ["Must be in the future."]})
    return when


def _fill_campaign(campaign: Campaign, data: dict, who: str | None) -> None:
    channel = get_channel(data.get("channel", campaign.channel))
    if not channel.campaigns:
        raise ApiError(
            422,
            f"The {channel.name} channel has no campaigns; use single sends.",
            errors={"channel": ["No campaigns."]},
        )
    sender = _usable_sender(data.get("sender_id", campaign.sender_id), channel)
    body = {
        "template_id": data.get("template_id", campaign.template_id),
        "data": data.get("data", campaign.data),
        "message": data.get("message"),
        "options": data.get("options"),
    }
    if "message" in data:
        body["template_id"] = None
    elif body["template_id"] is None and campaign.message:
        body["message"] = {k: v for k, v in campaign.message.items() if k != "preview"}
    message, template = build_message(channel, sender, body)
    name = data.get("name", campaign.name)
    audience, count = _audience(data.get("audience", campaign.audience), sender, channel, name, who)
    campaign.name, campaign.channel, campaign.sender_id = name, channel.name, sender.id
    campaign.template_id = template.id if template else None
    campaign.data = body["data"] if template else None
    campaign.message = message
    campaign.audience, campaign.audience_estimate = audience, count
    if "fallback" in data or campaign.fallback_json is None:
        campaign.fallback = _fallback(data.get("fallback"), channel)
    if "scheduled_at" in data:
        campaign.scheduled_at = _check_schedule(data["scheduled_at"])


def create_campaign(data: dict, who: str | None) -> Campaign:
    campaign = Campaign(
        uid=uuid.uuid4().hex,
        status=DRAFT,
        created_by=who,
        data_json=None,
        message_json="{}",
        audience_json="{}",
        channel=data["channel"],
        name=data["name"],
    )
    _fill_campaign(campaign, data, who)
    start = data.get("start", False)
    if campaign.scheduled_at is not None:
        campaign.status = SCHEDULED
    elif start:
        campaign.status = PREPARING
    db.session.add(campaign)
    db.session.commit()
    if campaign.status == PREPARING:
        _queue_start(campaign)
    return campaign


def update_campaign(campaign_id: int, data: dict, who: str | None) -> Campaign:
    campaign = get_campaign(campaign_id)
    if campaign.status not in (DRAFT, SCHEDULED):
        raise ApiError(409, f"A {campaign.status} campaign cannot be edited.", "campaign_not_editable")
    _fill_campaign(campaign, data, who)
    if "scheduled_at" in data:
        campaign.status = SCHEDULED if campaign.scheduled_at else DRAFT
    campaign.updated_at = utcnow()
    db.session.commit()
    return campaign


def delete_campaign(campaign_id: int) -> None:
    campaign = get_campaign(campaign_id)
    if campaign.status in (PREPARING, RUNNING, PAUSED):
        raise ApiError(409, f"A {campaign.status} campaign cannot be deleted; cancel it first.", "campaign_active")
    db.session.delete(campaign)
    db.session.commit()


def _queue_start(campaign: Campaign) -> None:
    try:
        delivery.dispatch_start(campaign.id)
    except Exception as exc:  # broker down: the sweeper starts campaigns left preparing
        log.warning("campaign %s: start not queued (%s); the sweeper will", campaign.id, type(exc).__name__)


def _transition(campaign_id: int, allowed: tuple[str, ...], target: str, action: str, **values) -> Campaign:
    """Move a campaign between states with one conditional UPDATE (409 when it is not in an allowed state)."""
    campaign = get_campaign(campaign_id)
    changed = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(allowed))
        .values(status=target, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.refresh(campaign)
    if not changed:
        raise ApiError(409, f"A {campaign.status} campaign cannot be {action}.", f"campaign_{campaign.status}")
    return campaign


def start_campaign(campaign_id: int) -> Campaign:
    campaign = get_campaign(campaign_id)
    if campaign.status in (DRAFT, SCHEDULED):
        # Re-check what may have changed since it was saved (the audience, the sender).
        _usable_sender(campaign.sender_id, get_channel(campaign.channel))
        _audience(campaign.audience, get_sender(campaign.sender_id), get_channel(campaign.channel), campaign.name, None)
        db.session.rollback()
    campaign = _transition(campaign_id, (DRAFT, SCHEDULED), PREPARING, "started", scheduled_at=None)
    _queue_start(campaign)
    return campaign


def pause_campaign(campaign_id: int) -> Campaign:
    return _transition(campaign_id, (PREPARING, RUNNING), PAUSED, "paused", paused_at=utcnow())


def resume_campaign(campaign_id: int) -> Campaign:
    campaign = _transition(campaign_id, (PAUSED,), RUNNING, "resumed", paused_at=None)
    try:
        if campaign.materialized:
            delivery.dispatch_open(campaign.id)
        else:  # paused while its audience was being stored: storing (and sending) carries on
            delivery.dispatch_start(campaign.id)
    except Exception as exc:  # broker down: the sweeper picks the open recipients up
        log.warning("campaign %s: resume not queued (%s); the sweeper will", campaign.id, type(exc).__name__)
    return campaign


def cancel_campaign(campaign_id: int) -> Campaign:
    campaign = get_campaign(campaign_id)
    if campaign.status in FINISHED_CAMPAIGN_STATES:
        raise ApiError(
            409, f"The campaign is already {campaign.status}; there is nothing to cancel.", "campaign_finished"
        )
    campaign = _transition(
        campaign_id,
        (DRAFT, SCHEDULED, PREPARING, RUNNING, PAUSED),
        CAMPAIGN_CANCELLED,
        "cancelled",
        finished_at=utcnow(),
    )
    delivery.cancel_open(campaign_id)
    return campaign


def progress(campaign_id: int) -> dict:
    campaign = get_campaign(campaign_id)
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    for status, count in db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id).group_by(Delivery.status)
    ).all():
        counts[status] = count
    reported = dict(
        db.session.execute(
            select(Delivery.report_status, func.count())
            .where(Delivery.campaign_id == campaign_id, Delivery.report_status.is_not(None))
            .group_by(Delivery.report_status)
        ).all()
    )
    now = utcnow()
    window = 10
    recent = db.session.execute(
        select(func.count()).where(
            Delivery.campaign_id == campaign_id, Delivery.sent_at >= now - timedelta(seconds=window)
        )
    ).scalar_one()
    first_last = db.session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(Delivery.campaign_id == campaign_id)
    ).one()
    jobs = (
        db.session.execute(select(MassJob).where(MassJob.campaign_id == campaign_id).order_by(MassJob.batch_no))
        .scalars()
        .all()
    )
    total = campaign.total if campaign.materialized else max(campaign.total, campaign.audience_estimate)
    done = counts["sent"] + counts["failed_final"] + counts["cancelled"]
    rate = recent / window
    average = None
    if first_last[0] and first_last[1] and first_last[1] > first_last[0]:
        average = round(counts["sent"] / (first_last[1] - first_last[0]).total_seconds(), 2)
    remaining = max(0, total - done)
    return {
        "campaign_id": campaign.id,
        "status": campaign.status,
        "total": total,
        "materialized": campaign.materialized,
        "counts": counts,
        "done": done,
        "percent": round(100 * done / total, 2) if total else (100.0 if campaign.status == "completed" else 0.0),
        "rate_per_second": round(rate, 2),
        "average_per_second": average,
        "eta_seconds": round(remaining / rate, 1) if rate and remaining else None,
        "reported": {
            "delivered": sum(v for k, v in reported.items() if k == "success"),
            "failed": sum(v for k, v in reported.items() if k != "success"),
            "by_status": reported,
        },
        "mass_jobs": [
            {
                "batch_no": j.batch_no,
                "size": j.size,
                "status": j.status,
                "msg_id": j.msg_id,
                "errcode": j.errcode,
                "errmsg": j.errmsg,
                "report_status": j.report_status,
                "total_count": j.total_count,
                "filter_count": j.filter_count,
                "sent_count": j.sent_count,
                "error_count": j.error_count,
            }
            for j in jobs
        ],
        "started_at": campaign.started_at,
        "finished_at": campaign.finished_at,
    }


def _delivery_filters(stmt, args: dict):
    if args.get("status"):
        stmt = stmt.where(Delivery.status == args["status"])
    if args.get("errcode") is not None:
        stmt = stmt.where(Delivery.errcode == args["errcode"])
    if args.get("channel"):
        stmt = stmt.where(Delivery.channel == args["channel"])
    if args.get("sender_id"):
        stmt = stmt.where(Delivery.sender_id == args["sender_id"])
    if args.get("q"):
        q = args["q"].strip()
        stmt = stmt.where(or_(Delivery.target == q, Delivery.idempotency_key == q, Delivery.msgid == q))
    if args.get("start"):
        stmt = stmt.where(Delivery.created_at >= naive_utc(args["start"]))
    if args.get("end"):
        stmt = stmt.where(Delivery.created_at < naive_utc(args["end"]))
    return stmt


def recipients(campaign_id: int, args: dict) -> dict:
    get_campaign(campaign_id)
    stmt = _delivery_filters(select(Delivery).where(Delivery.campaign_id == campaign_id), args).order_by(Delivery.id)
    return paginate(db.session, stmt, args["page"], args["page_size"])


def failure_reasons(campaign_id: int) -> list[dict]:
    """Failures grouped by WeChat's errcode, with its meaning (for the console's failure summary)."""
    get_campaign(campaign_id)
    rows = db.session.execute(
        select(Delivery.status, Delivery.errcode, func.count(), func.max(Delivery.errmsg))
        .where(Delivery.campaign_id == campaign_id, Delivery.status.in_(("failed_final", "failed_retrying")))
        .group_by(Delivery.status, Delivery.errcode)
        .order_by(func.count().desc())
    ).all()
    return [
        {
            "status": status,
            "errcode": errcode,
            "count": count,
            "meaning": ERRCODES[errcode].meaning if errcode in ERRCODES else None,
            "example": example,
        }
        for status, errcode, count, example in rows
    ]


EXPORT_COLUMNS = (
    "id", "target", "status", "attempts", "errcode", "errmsg", "category", "msgid", "report_status",
    "fallback_channel", "fallback_target", "sent_at", "updated_at",
)  # fmt: skip


def export_csv(campaign_id: int, page: int = 2000) -> Iterator[str]:
    """Every recipient's result as CSV, streamed page by page (keyset on id)."""
    get_campaign(campaign_id)
    columns = [getattr(Delivery, name) for name in EXPORT_COLUMNS]

    def line(values) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(
            ["" if v is None else (v.isoformat() + "Z" if isinstance(v, datetime) else v) for v in values]
        )
        return buffer.getvalue()

    def generate() -> Iterator[str]:
        yield "\ufeff" + line(EXPORT_COLUMNS)  # a BOM so spreadsheet programs read UTF-8
        after = 0
        while True:
            rows = db.session.execute(
                select(*columns)
                .where(Delivery.campaign_id == campaign_id, Delivery.id > after)
                .order_by(Delivery.id)
                .limit(page)
            ).all()
            db.session.commit()
            if not rows:
                return
            yield "".join(line(r) for r in rows)
            after = rows[-1][0]

    return generate()


# ---------------------------------------------------------------- single sends


def _resolve_sender(ref: Any, channel: Channel) -> Sender:
    """A sender by id, or by app key (appid, corp_id/agent_id) or name, of the channel's kind."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return _usable_sender(int(ref), channel, "sender")
    if isinstance(ref, str) and ref:
        found = (
            db.session.execute(
                select(Sender.id)
                .where(Sender.kind == channel.sender_kind, or_(Sender.app_key == ref, Sender.name == ref))
                .order_by(Sender.id)
            )
            .scalars()
            .first()
        )
        if found:
            return _usable_sender(found, channel, "sender")
    raise ApiError(422, f"No {channel.sender_kind} sender {ref!r}.", errors={"sender": ["Unknown sender."]})


def _request_hash(channel: str, sender_id: int, target: str, message: dict) -> str:
    canonical = json.dumps([channel, sender_id, target, message], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_send(data: dict, requested_by: str | None) -> tuple[Delivery, bool]:
    """A single send: checked, stored, queued. (row, True) when new; the earlier row for a repeated key."""
    channel = get_channel(data["channel"])
    sender = _resolve_sender(data.get("sender_id", data.get("sender")), channel)
    message, template = build_message(channel, sender, data)
    if channel.target_kind is None:
        target = ROBOT_TARGET
    else:
        target = str(data.get("to") or "").strip()
        if not target:
            raise ApiError(
                422, f"A {channel.name} send needs a recipient ({channel.target_kind}).", errors={"to": ["Required."]}
            )
    key = data.get("idempotency_key")
    digest = _request_hash(channel.name, sender.id, target, message)
    if key:
        existing = db.session.execute(select(Delivery).where(Delivery.idempotency_key == key)).scalar_one_or_none()
        if existing is not None:
            return _same_request(existing, digest), False
    now = utcnow()
    row = Delivery(
        channel=channel.name,
        sender_id=sender.id,
        target=target,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        idempotency_key=key,
        request_hash=digest,
        template_id=template.id if template else None,
        requested_by=requested_by,
    )
    row.payload = message
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # the same key, committed by a concurrent request
        db.session.rollback()
        existing = db.session.execute(select(Delivery).where(Delivery.idempotency_key == key)).scalar_one()
        return _same_request(existing, digest), False
    try:
        delivery.dispatch_one(row.id)
    except Exception as exc:  # broker down: the sweeper sends rows left pending
        log.warning("send %s not queued (%s); the sweeper will", row.id, type(exc).__name__)
    return row, True


def _same_request(existing: Delivery, digest: str) -> Delivery:
    if existing.request_hash != digest:
        raise ApiError(
            409,
            "This idempotency key was already used for a different message or recipient.",
            "idempotency_key_reused",
        )
    return existing


def send_from_task(request: dict, caller: str | None) -> dict:
    """`message_center.send` for other services: the same checks; a rejected request is logged and reported."""
    try:
        row, created = create_send(request, caller or "service")
    except ApiError as exc:
        db.session.rollback()
        log.warning(
            "send request rejected: %s",
            exc.description,
            extra={"fields": {"idempotency_key": request.get("idempotency_key"), "errors": exc.errors}},
        )
        return {"status": "rejected", "code": exc.error_code, "message": exc.description}
    return {"status": row.status, "delivery_id": row.id, "created": created}


def list_sends(args: dict) -> dict:
    stmt = select(Delivery)
    kind = args.get("kind")
    if kind == "single":
        stmt = stmt.where(Delivery.campaign_id.is_(None))
    elif kind == "campaign":
        stmt = stmt.where(Delivery.campaign_id.is_not(None))
    if args.get("campaign_id"):
        stmt = stmt.where(Delivery.campaign_id == args["campaign_id"])
    stmt = _delivery_filters(stmt, args).order_by(Delivery.id.desc())
    page = paginate(db.session, stmt, args["page"], args["page_size"])
    # Each campaign row by its campaign's name (one query for the page), for people to read.
    ids = {row.campaign_id for row in page["items"] if row.campaign_id}
    names = (
        dict(db.session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids))).all()) if ids else {}
    )
    for row in page["items"]:
        row.campaign_name = names.get(row.campaign_id)  # not a column: SendLogSchema reads it
    return page


def get_send(delivery_id: int) -> Delivery:
    row = db.session.get(Delivery, delivery_id)
    if row is None:
        raise ApiError(404, f"No send {delivery_id}.")
    return row


# ---------------------------------------------------------------- events from the Official Account service


class NotYetKnown(Exception):
    """A job-finished report for a msgid not recorded yet (the report overtook our commit)."""


def job_finished(job: dict) -> str:
    """Store a TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH report once and apply it to its delivery or mass job."""
    from wedraw.message_center.models import JobEvent

    event_id = str(job.get("event_id") or "")[:128]
    if not event_id:
        return "ignored: no event_id"
    event = db.session.execute(select(JobEvent).where(JobEvent.event_id == event_id)).scalar_one_or_none()
    if event is not None and event.applied_at is not None:
        return "duplicate"
    if event is None:
        event = JobEvent(
            event_id=event_id,
            appid=str(job.get("appid") or "")[:32],
            kind="mass" if job.get("kind") == "mass" else "template",
            msg_id=str(job.get("msg_id") or "")[:64] or None,
            status=str(job.get("status") or "")[:64] or None,
        )
        event.payload = job
        db.session.add(event)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return "duplicate"
    now = utcnow()
    sender = db.session.execute(
        select(Sender).where(Sender.kind == "official_account", Sender.app_key == event.appid)
    ).scalar_one_or_none()
    if sender is None or not event.msg_id:
        event.applied_at = now
        db.session.commit()
        return "ignored: unknown account or msg_id"
    if event.kind == "template":
        applied = db.session.execute(
            update(Delivery)
            .where(
                Delivery.msgid == event.msg_id,
                or_(Delivery.sender_id == sender.id, Delivery.fallback_channel == "oa_template"),
            )
            .values(report_status=event.status, reported_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    else:
        counts = job.get("counts") or {}
        applied = db.session.execute(
            update(MassJob)
            .where(MassJob.sender_id == sender.id, MassJob.msg_id == event.msg_id)
            .values(
                report_status=event.status,
                reported_at=now,
                total_count=counts.get("TotalCount"),
                filter_count=counts.get("FilterCount"),
                sent_count=counts.get("SentCount"),
                error_count=counts.get("ErrorCount"),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    if not applied:
        db.session.commit()
        raise NotYetKnown(f"no {event.kind} send with msg_id {event.msg_id} yet")
    event.applied_at = now
    db.session.commit()
    return "applied"


# ---------------------------------------------------------------- periodic jobs


def start_due_campaigns() -> list[int]:
    """Scheduled campaigns whose time has come move to preparing and are started."""
    now = utcnow()
    due = (
        db.session.execute(
            select(Campaign.id)
            .where(Campaign.status == SCHEDULED, Campaign.scheduled_at <= now)
            .order_by(Campaign.scheduled_at)
        )
        .scalars()
        .all()
    )
    started = []
    for campaign_id in due:
        moved = db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == SCHEDULED)
            .values(status=PREPARING, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if moved:
            _queue_start(get_campaign(campaign_id))
            started.append(campaign_id)
    return started


def sweep(queue_length: int | None) -> dict:
    """Re-dispatch work whose task was lost (a killed worker, a broker restart), complete finished campaigns.

    - sending rows whose lease ran out: their worker died; they go back to pending;
    - due rows untouched for WEDRAW_MESSAGE_STUCK_SECONDS while the push queue is empty
      (with a backlog they may simply be queued behind it);
    - mass jobs likewise; campaigns left preparing; running campaigns with nothing open.
    """
    ms = message_settings(_settings())
    now = utcnow()
    stuck = now - timedelta(seconds=ms.stuck_seconds)
    expired = db.session.execute(
        update(Delivery)
        .where(Delivery.status == "sending", Delivery.lease_until < now)
        .values(status=PENDING, claim=None, lease_until=None, next_attempt_at=stuck, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        update(MassJob)
        .where(MassJob.status == "sending", MassJob.lease_until < now)
        .values(status=PENDING, claim=None, lease_until=None, next_attempt_at=stuck, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    open_states = (PENDING, "failed_retrying")
    batches: list[tuple[int, int]] = []
    singles: list[int] = []
    jobs: list[int] = []
    if queue_length in (None, 0) or expired:
        batches = db.session.execute(
            select(Delivery.campaign_id, Delivery.batch_no)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Delivery.status.in_(open_states),
                Delivery.next_attempt_at <= stuck,
                Campaign.status == RUNNING,
                Campaign.channel != "oa_mass",
            )
            .group_by(Delivery.campaign_id, Delivery.batch_no)
        ).all()
        singles = (
            db.session.execute(
                select(Delivery.id)
                .where(
                    Delivery.campaign_id.is_(None), Delivery.status.in_(open_states), Delivery.next_attempt_at <= stuck
                )
                .limit(5000)
            )
            .scalars()
            .all()
        )
        jobs = (
            db.session.execute(
                select(MassJob.id)
                .join(Campaign, Campaign.id == MassJob.campaign_id)
                .where(MassJob.status.in_(open_states), MassJob.next_attempt_at <= stuck, Campaign.status == RUNNING)
            )
            .scalars()
            .all()
        )
    # Bump them so they are not re-dispatched again before STUCK_SECONDS pass.
    if batches:
        for campaign_id, batch_no in batches:
            db.session.execute(
                update(Delivery)
                .where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.batch_no == batch_no,
                    Delivery.status.in_(open_states),
                    Delivery.next_attempt_at <= stuck,
                )
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
    if singles:
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(singles))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    if jobs:
        db.session.execute(
            update(MassJob)
            .where(MassJob.id.in_(jobs))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    # A campaign whose audience is not all stored and that has not moved for a while: its start task was lost.
    preparing = (
        db.session.execute(
            select(Campaign.id).where(
                Campaign.status.in_((PREPARING, RUNNING)),
                Campaign.materialized.is_(False),
                Campaign.updated_at <= stuck,
            )
        )
        .scalars()
        .all()
    )
    if preparing:
        db.session.execute(
            update(Campaign)
            .where(Campaign.id.in_(preparing))
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    for campaign_id, batch_no in batches:
        delivery.dispatch_batch(campaign_id, batch_no)
    for delivery_id in singles:
        delivery.dispatch_one(delivery_id)
    for job_id in jobs:
        delivery.dispatch_mass(job_id)
    for campaign_id in preparing:
        delivery.dispatch_start(campaign_id)
    running = db.session.execute(select(Campaign.id).where(Campaign.status == RUNNING)).scalars().all()
    db.session.commit()
    completed = [cid for cid in running if delivery.maybe_complete(cid)]
    return {
        "expired_leases": expired,
        "batches": len(batches),
        "singles": len(singles),
        "mass_jobs": len(jobs),
        "restarted": len(preparing),
        "completed": len(completed),
    }
