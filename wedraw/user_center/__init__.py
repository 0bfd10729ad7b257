"""User center: admin users, JWT sign-in, roles and permissions, audit log."""

from wedraw.user_center.api import register
from wedraw.user_center.models import db


def audit_sink(record: dict) -> None:
    """The user center owns the audit log, so it records its own writes directly."""
    from wedraw.user_center.services import record_audit

    # Whatever a failed request left in the session must not be committed with its record.
    db.session.rollback()
    record_audit(record)


__all__ = ["db", "register", "audit_sink"]
