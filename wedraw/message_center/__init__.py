"""Message center: channels, templates, single sends and campaigns."""

from wedraw.message_center.api import register
from wedraw.message_center.models import db

__all__ = ["db", "register"]
