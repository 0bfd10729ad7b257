"""Official Account channels: template messages, customer-service messages and mass sends."""

from __future__ import annotations

from typing import Any

from wedraw.message_center.channels.base import (
    FINAL,
    Channel,
    ContentError,
    Outcome,
    outcome_of,
    per_second,
    register,
    text_message,
)
from wedraw.message_center.config import MessageSettings
from wedraw.message_center.limits import Limit
from wedraw.message_center.templating import render_text, render_wechat

TEXT_MAX_BYTES = 2048


def _articles(raw: Any, limit: int, field: str = "message.news.articles") -> list[dict]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= limit:
        raise ContentError(f"A news message needs 1 to {limit} articles.", field)
    articles = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("title") or not item.get("url"):
            raise ContentError(f"Article {index + 1} needs a title and a url.", field)
        articles.append({k: str(item.get(k) or "") for k in ("title", "description", "url", "picurl")})
    return articles


@register
class TemplateMessage(Channel):
    name = "oa_template"
    title = "Official Account template message"
    sender_kind = "official_account"
    template_format = "wechat"

    def default_limit(self, ms: MessageSettings) -> Limit:
        return per_second(ms.template_per_second)

    def message_from_template(self, template, values, options) -> dict:
        options = {**(template.options or {}), **(options or {})}
        message: dict[str, Any] = {
            "template_id": template.wechat_template_id,
            "data": {name: {"value": value} for name, value in values.items()},
        }
        if options.get("url"):
            message["url"] = options["url"]
        if options.get("miniprogram"):
            message["miniprogram"] = options["miniprogram"]
        message["preview"] = render_wechat(template.content, values)
        return message

    def preview(self, message: dict) -> str:
        return message.get("preview") or ""

    def send(self, app, message, targets):
        openid = targets[0]
        result = app.call(
            app.api.message.send_template,
            openid,
            message["template_id"],
            message["data"],
            url=message.get("url"),
            mini_program=message.get("miniprogram"),
        )
        return {openid: outcome_of(result)}


@register
class CustomerServiceMessage(Channel):
    """WeChat accepts these within 48 hours of the fan's last interaction (45015 after)."""

    name = "oa_custom"
    title = "Official Account customer-service message"
    sender_kind = "official_account"
    msgtypes = ("text", "image", "news", "mpnewsarticle")
    fallback_on = (45015, 45047)

    def default_limit(self, ms: MessageSettings) -> Limit:
        return per_second(ms.custom_per_second)

    def message_from_template(self, template, values, options) -> dict:
        return text_message("text", render_text(template.content, values), TEXT_MAX_BYTES)

    def check_message(self, message: dict) -> dict:
        msgtype = message.get("msgtype")
        body = message.get(msgtype) if isinstance(message.get(msgtype), dict) else {}
        if msgtype == "text":
            return text_message("text", body.get("content"), TEXT_MAX_BYTES)
        if msgtype == "image":
            if not body.get("media_id"):
                raise ContentError("An image message needs a media_id.")
            return {"msgtype": "image", "image": {"media_id": str(body["media_id"])}}
        if msgtype == "news":
            return {"msgtype": "news", "news": {"articles": _articles(body.get("articles"), 1)}}
        if msgtype == "mpnewsarticle":
            if not body.get("article_id"):
                raise ContentError("An mpnewsarticle message needs an article_id.")
            return {"msgtype": "mpnewsarticle", "mpnewsarticle": {"article_id": str(body["article_id"])}}
        raise ContentError(f"msgtype must be one of {', '.join(self.msgtypes)}.")

    def send(self, app, message, targets):
        openid = targets[0]
        result = app.call(app.api.post, "message/custom/send", data={"touser": openid, **message})
        return {openid: outcome_of(result)}


@register
class MassMessage(Channel):
    """Mass sends: by tag or to everyone (one call), or to an openid list in WeChat's batches of 2 to 10,000.

    Every call carries a clientmsgid, so a repeated call (a retry, a redelivered task) answers
    45065 and sends nothing twice. The delivery engine runs these through mass jobs.
    """

    name = "oa_mass"
    title = "Official Account mass send"
    sender_kind = "official_account"
    per_call = 10_000
    msgtypes = ("text", "mpnews", "image", "voice", "mpvideo", "wxcard")

    def default_limit(self, ms: MessageSettings) -> Limit:
        return Limit(ms.mass_per_minute, 60.0)

    def message_from_template(self, template, values, options) -> dict:
        return text_message("text", render_text(template.content, values), TEXT_MAX_BYTES)

    def check_message(self, message: dict) -> dict:
        msgtype = message.get("msgtype")
        body = message.get(msgtype) if isinstance(message.get(msgtype), dict) else None
        if msgtype not in self.msgtypes or body is None:
            raise ContentError(f"msgtype must be one of {', '.join(self.msgtypes)}, with its body.")
        if msgtype == "text":
            return text_message("text", body.get("content"), TEXT_MAX_BYTES)
        key = "card_id" if msgtype == "wxcard" else "media_id"
        if not body.get(key):
            raise ContentError(f"A {msgtype} mass message needs a {key}.")
        normalised = {"msgtype": msgtype, msgtype: {key: str(body[key])}}
        if msgtype == "mpnews":
            normalised["send_ignore_reprint"] = 1 if message.get("send_ignore_reprint") else 0
        return normalised

    def send_job(self, app, message: dict, *, openids: list[str] | None, tag_id: int | None, clientmsgid: str):
        """One mass-send call: to `openids`, else to `tag_id`, else to everyone."""
        body = {k: v for k, v in message.items() if k != "send_ignore_reprint"}
        ignore = int(message.get("send_ignore_reprint") or 0)
        if openids is not None:
            data = {"touser": openids, **body, "clientmsgid": clientmsgid, "send_ignore_reprint": ignore}
            result = app.call(app.api.post, "message/mass/send", data=data)
        else:
            result = app.call(
                app.api.send_mass,
                body,
                tag_id=tag_id,
                is_to_all=tag_id is None,
                client_msg_id=clientmsgid,
                send_ignore_reprint=ignore,
            )
        return outcome_of(result, ("msg_id", "msgid"))

    def send(self, app, message, targets):
        return {t: Outcome(FINAL, None, "mass sends go through mass jobs", "bug") for t in targets}
