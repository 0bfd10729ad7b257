"""Official Account: callbacks, fans, tags, menus, auto-replies, QR codes, materials."""

from wedraw.wechat_official.api import register
from wedraw.wechat_official.models import db

__all__ = ["db", "register"]
