"""WeChat sandbox: a local stand-in for WeChat's API hosts (being built)."""

db = None


def register(app, api) -> None:
    """Routes of the sandbox host named by app.config["WEDRAW_OPTIONS"]["host"]."""
