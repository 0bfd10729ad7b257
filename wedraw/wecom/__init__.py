"""WeCom: contacts, customer groups, app chats, group robots, app messages."""

from wedraw.wecom.api import register
from wedraw.wecom.models import db

__all__ = ["db", "register"]
