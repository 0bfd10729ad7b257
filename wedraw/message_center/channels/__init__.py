"""The channel registry: importing this package registers every channel module.

Adding a channel (SMS, e-mail...) is one module here that subclasses `Channel`, decorated
with `@register`, and one import line below.
"""

from wedraw.message_center.channels import miniprogram, official, wecom  # noqa: F401 - registers the channels
from wedraw.message_center.channels.base import (
    CHANNELS,
    FINAL,
    QUOTA,
    RETRY,
    SENT,
    Channel,
    ContentError,
    Outcome,
    get_channel,
)

__all__ = ["CHANNELS", "FINAL", "QUOTA", "RETRY", "SENT", "Channel", "ContentError", "Outcome", "get_channel"]
