"""The body of every service's `migrations/<service>/env.py` (Alembic runs that file)."""

from __future__ import annotations

from alembic import context
from flask import current_app


def run() -> None:
    db = current_app.extensions["migrate"].db
    engine = db.engine
    is_sqlite = engine.dialect.name == "sqlite"
    options = {
        "target_metadata": db.metadata,
        "compare_type": True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        "render_as_batch": is_sqlite,
    }
    if context.is_offline_mode():
        context.configure(url=engine.url.render_as_string(hide_password=False), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def skip_empty(ctx, revision, directives):
        # `db revision` with nothing to change writes nothing.
        if getattr(ctx.config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []

    with engine.connect() as connection:
        context.configure(connection=connection, process_revision_directives=skip_empty, **options)
        with context.begin_transaction():
            context.run_migrations()
