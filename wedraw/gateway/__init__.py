"""API gateway: aggregated health and API docs, and the auth check Nginx asks."""

from wedraw.gateway.api import register

db = None

__all__ = ["db", "register"]
