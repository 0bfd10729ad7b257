"""Points mall: the ledger, earning rules, sign-in, expiry, reconciliation, products, exchange orders."""

from wedraw.points_mall.api import register
from wedraw.points_mall.models import db


def seed(app, echo) -> None:
    """Demo categories, products and rules; with the sandbox, points for the demo member (idempotent)."""
    from wedraw.points_mall.demo import seed_demo

    message = seed_demo(app.config["WEDRAW_SETTINGS"])
    if message:
        echo(message)


__all__ = ["db", "register", "seed"]
