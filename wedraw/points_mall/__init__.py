"""Points mall: ledger, earning rules, sign-in, products, exchange orders."""

from wedraw.points_mall.api import register
from wedraw.points_mall.models import db

__all__ = ["db", "register"]
