"""The channel interface: what every way of sending a message implements.

A channel knows which kind of sender it needs, what its messages look like (from a
template or given whole), how to check one before anything is queued (422), how many
recipients one WeChat call takes, its default rate limit, and how to send and read
WeChat's answer into one `Outcome` per recipient. The delivery engine does the rest
(claiming, rate limits, retries, recording), the same for every channel.

A new channel (SMS, e-mail) is one module that subclasses `Channel` and calls `register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from wedraw.core.errors import ApiError
from wedraw.message_center.config import MessageSettings
from wedraw.message_center.limits import Limit
from wedraw.wechat import Final, Ok, Retryable

SENT, RETRY, QUOTA, FINAL = "sent", "retry", "quota", "final"


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient in one attempt."""

    status: str  # sent | retry | quota | final
    errcode: int | None = None
    errmsg: str | None = None
    category: str | None = None
    msgid: str | None = None
    retry_after: float | None = None
    detail: dict | None = None  # e.g. WeCom's invalid recipients of a sent message

    @property
    def sent(self) -> bool:
        return self.status == SENT


class ContentError(ApiError):
    """A message that WeChat would refuse (or that breaks a channel's rule): rejected with 422."""

    def __init__(self, message: str, field: str = "message"):
        super().__init__(422, message, "invalid_message", errors={field: [message]})


def outcome_of(result, msgid_keys: tuple[str, ...] = ("msgid", "msg_id")) -> Outcome:
    """One call-policy result as an Outcome (quota errors wait; other retryables back off)."""
    if isinstance(result, Ok):
        data = result.data if isinstance(result.data, dict) else {}
        msgid = next((str(data[k]) for k in msgid_keys if data.get(k) not in (None, "")), None)
        return Outcome(SENT, errcode=result.errcode or None, msgid=msgid)
    if isinstance(result, Final):
        errmsg = result.meaning + (f" ({result.errmsg})" if result.errmsg else "")
        return Outcome(FINAL, result.errcode, errmsg[:255], result.category)
    assert isinstance(result, Retryable)
    errmsg = (result.meaning + (f" ({result.errmsg})" if result.errmsg else ""))[:255]
    status = QUOTA if result.errcode in (45009, 45011) else RETRY
    return Outcome(
        status, result.errcode, errmsg, "quota" if status == QUOTA else "transient", None, result.retry_after
    )


class Channel:
    name: ClassVar[str]
    title: ClassVar[str]
    sender_kind: ClassVar[str]
    # What a recipient is: "openid" (of the sender's app), "userid" (WeCom) or None (a robot's group).
    target_kind: ClassVar[str | None] = "openid"
    campaigns: ClassVar[bool] = True
    # Recipients one WeChat call takes (the engine splits claimed recipients into calls).
    per_call: ClassVar[int] = 1
    # "wechat": WeChat-side templates ({{name.DATA}}); "text": our text templates ({{name}}).
    template_format: ClassVar[str] = "text"
    # Raw message types accepted without a template (checked by check_message).
    msgtypes: ClassVar[tuple[str, ...]] = ()
    # WeChat errcodes after which a campaign's fallback channel is tried for the recipient.
    fallback_on: ClassVar[tuple[int, ...]] = ()

    def default_limit(self, ms: MessageSettings) -> Limit:
        raise NotImplementedError

    def limit(self, ms: MessageSettings, overrides: dict | None) -> Limit:
        custom = (overrides or {}).get(self.name)
        default = self.default_limit(ms)
        if custom:
            return Limit(int(custom["limit"]), float(custom["window"]), default.strategy)
        return default

    def message_from_template(self, template, values: dict[str, str], options: dict | None) -> dict:
        """The message (without recipient) for a template and checked values."""
        raise NotImplementedError

    def check_message(self, message: dict) -> dict:
        """A message given whole: checked and normalised, or ContentError."""
        raise ContentError(f"The {self.name} channel needs a template.")

    def preview(self, message: dict) -> str:
        """The text a recipient reads (for previews and the send log)."""
        for msgtype in ("text", "markdown"):
            if isinstance(message.get(msgtype), dict):
                return str(message[msgtype].get("content", ""))
        return f"[{message.get('msgtype', 'message')}]"

    def send(self, app: Any, message: dict, targets: list[str]) -> dict[str, Outcome]:
        """Send `message` to `targets` (at most per_call of them): an Outcome for each."""
        raise NotImplementedError


CHANNELS: dict[str, Channel] = {}


def register(channel_class: type[Channel]) -> type[Channel]:
    CHANNELS[channel_class.name] = channel_class()
    return channel_class


def get_channel(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError:
        raise ApiError(
            422, f"Unknown channel {name!r}.", errors={"channel": [f"Must be one of {', '.join(CHANNELS)}."]}
        ) from None


def text_message(msgtype: str, content: str, max_bytes: int | None, field: str = "message") -> dict:
    if not isinstance(content, str) or not content.strip():
        raise ContentError(f"A {msgtype} message needs content.", field)
    size = len(content.encode("utf-8"))
    if max_bytes is not None and size > max_bytes:
        raise ContentError(
            f"A {msgtype} message may have at most {max_bytes} bytes of content; this has {size}.", field
        )
    return {"msgtype": msgtype, msgtype: {"content": content}}


def per_second(rate: float) -> Limit:
    """A rate in messages per second as a bucket limit (fractional rates become longer windows)."""
    if rate >= 1:
        return Limit(int(round(rate)), 1.0)
    return Limit(1, 1.0 / rate)
