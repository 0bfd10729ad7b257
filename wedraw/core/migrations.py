"""One Alembic history per service database (`migrations/<service>/`)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import revision as _revision
from flask_migrate import upgrade as _upgrade

from wedraw.core.factory import MIGRATIONS_DIR, create_app, service_db


def _directory(service: str) -> str:
    return str(MIGRATIONS_DIR / service)


def upgrade(service: str, revision: str = "head", settings=None) -> None:
    app = create_app(service, settings=settings)
    with app.app_context():
        _upgrade(directory=_directory(service), revision=revision)
        service_db(app).engine.dispose()


def revision(service: str, message: str, autogenerate: bool = True) -> None:
    app = create_app(service)
    with app.app_context():
        _revision(directory=_directory(service), message=message, autogenerate=autogenerate)


def schema_diff(service: str, settings=None) -> list:
    """What Alembic's autogenerate would still write after upgrading to head (should be [])."""
    app = create_app(service, settings=settings)
    with app.app_context():
        db = service_db(app)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    return diff
