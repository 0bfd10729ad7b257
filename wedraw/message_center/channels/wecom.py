"""WeCom channels: app messages to members (up to 1,000 a call) and group-robot webhooks."""

from __future__ import annotations

import base64
import binascii
import hashlib

from wedraw.message_center.channels.base import (
    CHANNELS,
    FINAL,
    SENT,
    Channel,
    ContentError,
    Outcome,
    outcome_of,
    per_second,
    register,
    text_message,
)
from wedraw.message_center.channels.official import _articles
from wedraw.message_center.config import MessageSettings
from wedraw.message_center.limits import Limit
from wedraw.message_center.templating import render_text
from wedraw.wechat import Ok, invalid_recipients

APP_TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
ROBOT_TEXT_MAX_BYTES = 2048
ROBOT_IMAGE_MAX_BYTES = 2 * 1024 * 1024
NO_USERS = "-"  # an app message to departments or tags only
INVALID_LABELS = {"users": "invaliduser", "parties": "invalidparty", "tags": "invalidtag"}


def _template_message(template, values, text_max: int) -> dict:
    msgtype = template.msgtype if template.msgtype in ("text", "markdown") else "text"
    return text_message(
        msgtype, render_text(template.content, values), text_max if msgtype == "text" else MARKDOWN_MAX_BYTES
    )


@register
class AppMessage(Channel):
    """WeCom answers errcode 0 even when some recipients are invalid: they are listed, and each is final."""

    name = "wecom_app"
    title = "WeCom app message"
    sender_kind = "wecom_app"
    target_kind = "userid"
    per_call = 1000
    msgtypes = ("text", "markdown", "textcard", "news")

    def default_limit(self, ms: MessageSettings) -> Limit:
        return per_second(ms.wecom_per_second)

    def message_from_template(self, template, values, options) -> dict:
        return _template_message(template, values, APP_TEXT_MAX_BYTES)

    def check_message(self, message: dict) -> dict:
        msgtype = message.get("msgtype")
        body = message.get(msgtype) if isinstance(message.get(msgtype), dict) else {}
        if msgtype == "text":
            checked = text_message("text", body.get("content"), APP_TEXT_MAX_BYTES)
        elif msgtype == "markdown":
            checked = text_message("markdown", body.get("content"), MARKDOWN_MAX_BYTES)
        elif msgtype == "textcard":
            if not body.get("title") or not body.get("description") or not body.get("url"):
                raise ContentError("A textcard needs a title, a description and a url.")
            checked = {
                "msgtype": "textcard",
                "textcard": {
                    k: str(body.get(k) or "") for k in ("title", "description", "url", "btntxt") if body.get(k)
                },
            }
        elif msgtype == "news":
            checked = {"msgtype": "news", "news": {"articles": _articles(body.get("articles"), 8)}}
        else:
            raise ContentError(f"msgtype must be one of {', '.join(self.msgtypes)}.")
        for key in ("toparty", "totag"):
            if message.get(key):
                checked[key] = "|".join(str(p) for p in str(message[key]).split("|") if p)
        return checked

    def send(self, app, message, targets):
        users = [u for t in targets if t != NO_USERS for u in t.split("|") if u]
        body = {"touser": "|".join(users), "agentid": app.config.agent_id, **message}
        result = app.call(app.api.post, "message/send", data=body)
        if not isinstance(result, Ok):
            outcome = outcome_of(result)
            return dict.fromkeys(targets, outcome)
        invalid = invalid_recipients(result.data or {})
        msgid = str((result.data or {}).get("msgid") or "") or None
        bad_users = set(invalid["invaliduser"]) | set(invalid["unlicenseduser"])
        groups = bool(message.get("toparty") or message.get("totag"))
        outcomes = {}
        for target in targets:
            # A single send may address several users (and departments) at once: sent if anyone got it.
            mine = [u for u in target.split("|") if u and target != NO_USERS]
            bad = [u for u in mine if u in bad_users]
            if mine and len(bad) == len(mine) and not groups:
                outcomes[target] = Outcome(
                    FINAL, None, "invalid user: not a member of the corp, or not active", "recipient", msgid
                )
                continue
            detail = {
                "users": bad,
                "parties": invalid["invalidparty"] if groups else [],
                "tags": invalid["invalidtag"] if groups else [],
            }
            note = "; ".join(f"{INVALID_LABELS[k]}: {'|'.join(v)}" for k, v in detail.items() if v)
            outcomes[target] = Outcome(
                SENT, None, note[:255] or None, None, msgid, detail={"invalid": detail} if note else None
            )
        return outcomes


@register
class AppChatMessage(Channel):
    """A message to a WeCom app chat (a group the app created), by chatid."""

    name = "wecom_appchat"
    title = "WeCom app chat message"
    sender_kind = "wecom_app"
    target_kind = "chatid"
    campaigns = False
    msgtypes = ("text", "markdown", "textcard", "news")

    def default_limit(self, ms: MessageSettings) -> Limit:
        return per_second(ms.wecom_per_second)

    def message_from_template(self, template, values, options) -> dict:
        return _template_message(template, values, APP_TEXT_MAX_BYTES)

    def check_message(self, message: dict) -> dict:
        checked = CHANNELS["wecom_app"].check_message(
            {k: v for k, v in message.items() if k not in ("toparty", "totag")}
        )
        return checked

    def send(self, app, message, targets):
        chatid = targets[0]
        return {chatid: outcome_of(app.call(app.api.post, "appchat/send", data={"chatid": chatid, **message}))}


@register
class GroupRobotMessage(Channel):
    """A robot posts to its group chat: 20 messages a minute; 93000 means the key is dead (robot broken)."""

    name = "group_robot"
    title = "WeCom group robot"
    sender_kind = "group_robot"
    target_kind = None
    campaigns = False
    msgtypes = ("text", "markdown", "image", "news")

    def default_limit(self, ms: MessageSettings) -> Limit:
        return Limit(ms.robot_per_minute, ms.robot_window_seconds, "window")

    def message_from_template(self, template, values, options) -> dict:
        return _template_message(template, values, ROBOT_TEXT_MAX_BYTES)

    def check_message(self, message: dict) -> dict:
        msgtype = message.get("msgtype")
        body = message.get(msgtype) if isinstance(message.get(msgtype), dict) else {}
        if msgtype == "text":
            checked = text_message("text", body.get("content"), ROBOT_TEXT_MAX_BYTES)
            for key in ("mentioned_list", "mentioned_mobile_list"):
                if body.get(key):
                    if not isinstance(body[key], list) or len(body[key]) > 100:
                        raise ContentError(f"{key} must be a list of at most 100 entries.")
                    checked["text"][key] = [str(v)[:64] for v in body[key]]
            return checked
        if msgtype == "markdown":
            return text_message("markdown", body.get("content"), MARKDOWN_MAX_BYTES)
        if msgtype == "image":
            try:
                raw = base64.b64decode(str(body.get("base64") or ""), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if not raw:
                raise ContentError("An image message needs the image as base64.")
            if len(raw) > ROBOT_IMAGE_MAX_BYTES:
                raise ContentError(f"A robot image may be at most 2 MB; this one has {len(raw) // 1024} KB.")
            md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
            if body.get("md5") and str(body["md5"]).lower() != md5:
                raise ContentError("The image's md5 does not match its content.")
            return {"msgtype": "image", "image": {"base64": base64.b64encode(raw).decode(), "md5": md5}}
        if msgtype == "news":
            return {"msgtype": "news", "news": {"articles": _articles(body.get("articles"), 8)}}
        raise ContentError(f"msgtype must be one of {', '.join(self.msgtypes)}.")

    def send(self, app, message, targets):
        return {targets[0]: outcome_of(app.send(message))}
