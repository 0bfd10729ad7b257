"""HTTP API of the message_center service."""

from flask_smorest import Api


def register(app, api: Api) -> None:
    """Blueprints are registered here as the service's features land."""
