"""User center: admin users, JWT sign-in, roles and permissions, audit log."""

from wedraw.user_center.api import register
from wedraw.user_center.models import db


def audit_sink(record: dict) -> None:
    """The user center owns the audit log, so it records its own writes directly."""
    from wedraw.user_center.services import record_audit

    # Whatever a failed request left in the session must not be committed with its record.
    db.session.rollback()
    record_audit(record)


def seed(app, echo) -> None:
    """Built-in roles and the `admin` user; a generated password is shown this once."""
    from wedraw.user_center.services import ensure_admin

    settings = app.config["WEDRAW_SETTINGS"]
    generated = ensure_admin(settings.admin_password)
    if generated and not settings.admin_password:
        echo(f"Created user 'admin' with password: {generated}  (shown once; keep it)")
    elif generated:
        echo("Created user 'admin' with the password from WEDRAW_ADMIN_PASSWORD")


__all__ = ["db", "register", "audit_sink", "seed"]
