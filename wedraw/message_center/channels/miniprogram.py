"""Mini Program subscribe messages: one send per grant the user gave (43101 without one)."""

from __future__ import annotations

from wedraw.message_center.channels.base import Channel, ContentError, outcome_of, per_second, register
from wedraw.message_center.config import MessageSettings
from wedraw.message_center.limits import Limit
from wedraw.message_center.templating import render_wechat

STATES = ("developer", "trial", "formal")


@register
class SubscribeMessage(Channel):
    name = "mp_subscribe"
    title = "Mini Program subscribe message"
    sender_kind = "mini_program"
    template_format = "wechat"
    fallback_on = (43101,)

    def default_limit(self, ms: MessageSettings) -> Limit:
        return per_second(ms.subscribe_per_second)

    def message_from_template(self, template, values, options) -> dict:
        options = {**(template.options or {}), **(options or {})}
        state = options.get("miniprogram_state", "formal")
        if state not in STATES:
            raise ContentError(f"miniprogram_state must be one of {', '.join(STATES)}.", "options.miniprogram_state")
        message = {
            "template_id": template.wechat_template_id,
            "data": {name: {"value": value} for name, value in values.items()},
            "miniprogram_state": state,
            "preview": render_wechat(template.content, values),
        }
        if options.get("page"):
            message["page"] = str(options["page"])
        return message

    def preview(self, message: dict) -> str:
        return message.get("preview") or ""

    def send(self, app, message, targets):
        openid = targets[0]
        result = app.call(
            app.api.send_subscribe_message,
            openid,
            message["template_id"],
            message["data"],
            page=message.get("page"),
            miniprogram_state=message.get("miniprogram_state", "formal"),
        )
        return {openid: outcome_of(result)}
