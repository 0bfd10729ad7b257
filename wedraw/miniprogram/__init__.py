"""Mini Program: member login, members, subscribe messages."""

from wedraw.miniprogram.api import register
from wedraw.miniprogram.models import db

__all__ = ["db", "register"]
