"""The `wedraw` command: database upgrades, seeding, config generation, the embedded runner.

Run as `python -m wedraw.cli ...` (the Makefile does) or `wedraw ...` once installed.
"""

from __future__ import annotations

import sys

import click

from wedraw.core.registry import DATABASE_SERVICES


def _services(name: str) -> tuple[str, ...]:
    if name == "all":
        return DATABASE_SERVICES
    if name not in DATABASE_SERVICES:
        raise click.BadParameter(f"must be 'all' or one of {', '.join(DATABASE_SERVICES)}", param_hint="--service")
    return (name,)


@click.group()
def cli() -> None:
    """WeDraw administration commands."""


@cli.group()
def db() -> None:
    """Service databases and their migrations."""


@db.command("upgrade")
@click.option("--service", default="all", show_default=True, help="A service name or 'all'.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(service: str, revision: str) -> None:
    """Upgrade one or all service databases to a revision."""
    from wedraw.core.migrations import upgrade

    for name in _services(service):
        upgrade(name, revision)
        click.echo(f"{name}: upgraded to {revision}")


@db.command("revision")
@click.option("--service", required=True)
@click.option("-m", "--message", required=True)
@click.option("--empty", is_flag=True, help="Write an empty revision instead of comparing models.")
def db_revision(service: str, message: str, empty: bool) -> None:
    """Write a new migration for one service (compares its models with its database)."""
    from wedraw.core.migrations import revision

    for name in _services(service):
        revision(name, message, autogenerate=not empty)


@db.command("check")
@click.option("--service", default="all", show_default=True)
def db_check(service: str) -> None:
    """Fail when a service's models and its migrated database differ."""
    from wedraw.core.migrations import schema_diff

    failed = False
    for name in _services(service):
        diff = schema_diff(name)
        if diff:
            failed = True
            click.echo(f"{name}: models and migrations differ: {diff}", err=True)
        else:
            click.echo(f"{name}: models and migrations agree")
    sys.exit(1 if failed else 0)


@cli.group()
def deploy() -> None:
    """Configuration of the bare-metal layout (Supervisor, Nginx)."""


@deploy.command("render")
@click.option("--out", type=click.Path(), default=None, help="Directory to write into (default: deploy/).")
@click.option("--app-root", default="/opt/wedraw", show_default=True)
@click.option("--user", default="wedraw", show_default=True)
@click.option("--log-dir", default="/var/log/wedraw", show_default=True)
@click.option("--env-file", default="/etc/wedraw/wedraw.env", show_default=True)
@click.option("--server-name", default="_", show_default=True)
@click.option("--listen", default="80", show_default=True)
def deploy_render(out, app_root, user, log_dir, env_file, server_name, listen) -> None:
    """Write supervisor/wedraw.conf and nginx/wedraw.conf from the service registry."""
    from pathlib import Path

    from wedraw.deploy import DEPLOY_DIR, Layout, render_all

    layout = Layout(
        app_root=app_root, user=user, log_dir=log_dir, env_file=env_file, server_name=server_name, listen=listen
    )
    for path in render_all(Path(out) if out else DEPLOY_DIR, layout):
        click.echo(f"wrote {path}")


@cli.command("seed")
def seed() -> None:
    """Create built-in roles and the admin user (idempotent); print a generated password once."""
    from wedraw.core.seed import seed_all

    seed_all(echo=click.echo)


@cli.command("admin-password")
def admin_password() -> None:
    """Give the `admin` user a new random password and print it."""
    import secrets

    from wedraw.core.factory import create_app
    from wedraw.user_center.services import admin_reset_password

    password = secrets.token_urlsafe(12) + "7a"
    app = create_app("user_center")
    with app.app_context():
        admin_reset_password(password)
    click.echo(f"New password for 'admin': {password}")


@cli.command("run")
@click.option("--port", type=int, default=None, help="Front door port (default WEDRAW_PORT or 8080).")
@click.option("--no-workers", is_flag=True, help="Do not start Celery workers and beat.")
def run(port: int | None, no_workers: bool) -> None:
    """Run the whole platform on the embedded profile behind one front door."""
    from wedraw.runner import main

    main(port=port, workers=not no_workers)


if __name__ == "__main__":
    cli()
