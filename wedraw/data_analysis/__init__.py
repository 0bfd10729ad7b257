"""Data analysis: facts, daily statistics, dashboard and reports."""

from wedraw.data_analysis.api import register
from wedraw.data_analysis.models import db


def seed(app, echo) -> None:
    """Demo facts and their daily statistics (embedded profile; idempotent)."""
    from wedraw.data_analysis.demo import seed_demo

    message = seed_demo(app.config["WEDRAW_SETTINGS"])
    if message:
        echo(message)


__all__ = ["db", "register", "seed"]
