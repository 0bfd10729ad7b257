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


def _provision_options(fn):
    options = [
        click.option("--service", default="all", show_default=True, help="A service name or 'all'."),
        click.option("--database-prefix", default="", help="Prepended to the registry's database names."),
        click.option("--account-prefix", default="wedraw_", show_default=True, help="Account: <prefix><service>."),
        click.option(
            "--account-host", default="127.0.0.1", show_default=True, help="Where the apps connect from ('%' = any)."
        ),
        click.option(
            "--backup-account", default=None, help="Also a read-only account for mysqldump, e.g. wedraw_backup."
        ),
        click.option(
            "--admin-url",
            envvar="WEDRAW_DB_ADMIN_URL",
            default="mysql+pymysql://root@127.0.0.1:3306/",
            show_default=True,
            help="Administrator connection for --apply (or WEDRAW_DB_ADMIN_URL).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _plan(service, database_prefix, account_prefix, account_host, backup_account):
    from wedraw.deploy import ProvisionPlan

    try:
        return ProvisionPlan(
            database_prefix=database_prefix,
            account_prefix=account_prefix,
            account_host=account_host,
            backup_account=backup_account,
            services=_services(service),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@db.command("provision")
@click.option("--print", "mode", flag_value="print", help="Print the SQL (pipe it into `mysql` as an administrator).")
@click.option("--apply", "mode", flag_value="apply", help="Run it now through --admin-url.")
@_provision_options
@click.option("--db-host", default="127.0.0.1", show_default=True, help="Host in the database URLs the apps use.")
@click.option("--db-port", type=int, default=3306, show_default=True)
@click.option(
    "--env-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Env file to set WEDRAW_<SERVICE>_DATABASE_URL in (mode 600); its passwords are reused.",
)
def db_provision(
    mode, service, database_prefix, account_prefix, account_host, backup_account, admin_url, db_host, db_port, env_out
) -> None:
    """Create each service's database and its own account, with rights on that database only."""
    from pathlib import Path

    from wedraw.deploy import BACKUP_KEY, read_env_file, run_sql, write_env_file

    if mode is None:
        raise click.UsageError("say --print or --apply")
    plan = _plan(service, database_prefix, account_prefix, account_host, backup_account)
    env_path = Path(env_out) if env_out else None
    passwords = plan.new_passwords(plan.known_passwords(read_env_file(env_path) if env_path else {}))
    statements = plan.statements(passwords)
    values = plan.env(passwords, db_host, db_port)
    if backup_account:
        values.update(WEDRAW_BACKUP_DB_USER=backup_account, WEDRAW_BACKUP_DB_PASSWORD=passwords[BACKUP_KEY])
    if mode == "print":
        click.echo("\n".join(f"{statement};" for statement in statements))
    else:
        run_sql(admin_url, statements)
        for name in plan.services:
            click.echo(f"{name}: database {plan.database(name)}, account {plan.account(name)}@{plan.account_host}")
    if env_path:
        write_env_file(env_path, values, header="WeDraw production settings. Secrets: keep private.")
        click.echo(f"{'-- ' if mode == 'print' else ''}wrote {env_path}", err=mode == "print")
    else:
        prefix = "-- " if mode == "print" else ""
        click.echo(f"{prefix}Add to the env file (/etc/wedraw/wedraw.env):")
        for key, value in values.items():
            click.echo(f"{prefix}{key}={value}")


@db.command("deprovision")
@click.option("--print", "mode", flag_value="print", help="Print the SQL.")
@click.option("--apply", "mode", flag_value="apply", help="Run it now through --admin-url.")
@_provision_options
@click.option("--yes", is_flag=True, help="Confirm that the databases and their data are to be dropped.")
def db_deprovision(mode, service, database_prefix, account_prefix, account_host, backup_account, admin_url, yes):
    """Drop what `db provision` made with the same options: the databases (and data) and accounts."""
    from wedraw.deploy import run_sql

    if mode is None:
        raise click.UsageError("say --print or --apply")
    plan = _plan(service, database_prefix, account_prefix, account_host, backup_account)
    statements = plan.drop_statements()
    if mode == "print":
        click.echo("\n".join(f"{statement};" for statement in statements))
        return
    if not yes:
        raise click.UsageError("this drops databases and every row in them: add --yes")
    run_sql(admin_url, statements)
    for name in plan.services:
        click.echo(f"{name}: dropped {plan.database(name)} and {plan.account(name)}@{plan.account_host}")


@db.command("names")
def db_names() -> None:
    """Print the MariaDB/MySQL database name of every service, one a line (for scripts/backup-db.sh)."""
    from sqlalchemy.engine import make_url

    from wedraw.core.config import load_settings

    settings = load_settings()
    for name in DATABASE_SERVICES:
        url = make_url(settings.database_url(name))
        if not url.drivername.startswith(("mysql", "mariadb")):
            raise click.ClickException(f"{name} uses {url.drivername}, not MariaDB/MySQL (set WEDRAW_PROFILE)")
        click.echo(url.database)


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
@click.option("--upstream-host", default="127.0.0.1", show_default=True, help="Address gunicorn binds to.")
@click.option("--more-upstream-host", multiple=True, help="Another application host for every upstream (repeat).")
@click.option("--metrics-dir", default="/var/lib/wedraw/metrics", show_default=True)
@click.option(
    "--metrics-allow",
    multiple=True,
    help="Address or CIDR allowed to read /metrics/<service> (repeat; default 127.0.0.1).",
)
@click.option("--tls-certificate", default="/etc/ssl/wedraw/fullchain.pem", show_default=True)
@click.option("--tls-certificate-key", default="/etc/ssl/wedraw/privkey.pem", show_default=True)
@click.option("--backup-dir", default="/var/backups/wedraw", show_default=True)
def deploy_render(
    out,
    app_root,
    user,
    log_dir,
    env_file,
    server_name,
    listen,
    upstream_host,
    more_upstream_host,
    metrics_dir,
    metrics_allow,
    tls_certificate,
    tls_certificate_key,
    backup_dir,
) -> None:
    """Write Supervisor, Nginx (HTTP and HTTPS), logrotate, Prometheus and cron files from the registry."""
    from pathlib import Path

    from wedraw.deploy import DEPLOY_DIR, Layout, render_all

    layout = Layout(
        app_root=app_root,
        user=user,
        log_dir=log_dir,
        env_file=env_file,
        server_name=server_name,
        listen=listen,
        upstream_host=upstream_host,
        more_upstream_hosts=tuple(more_upstream_host),
        metrics_dir=metrics_dir,
        metrics_allow=tuple(metrics_allow) or ("127.0.0.1",),
        tls_certificate=tls_certificate,
        tls_certificate_key=tls_certificate_key,
        backup_dir=backup_dir,
    )
    for path in render_all(Path(out) if out else DEPLOY_DIR, layout):
        click.echo(f"wrote {path}")


@deploy.command("up")
@click.option("--root", type=click.Path(), default=None, help="Where configs, logs and state go (default var/prod).")
@click.option("--nginx-port", type=int, default=None, help="Default: WEDRAW_NGINX_PORT or 8000.")
@click.option("--free-ports", is_flag=True, help="Pick free ports for Nginx and every service.")
@click.option(
    "--admin-url", default=None, help="MariaDB administrator URL (default WEDRAW_PROD_MYSQL_URL or root@127.0.0.1)."
)
@click.option("--redis-url", default=None, help="Default: WEDRAW_PROD_REDIS_URL or redis://127.0.0.1:6379/2.")
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn workers per service.")
def deploy_up(root, nginx_port, free_ports, admin_url, redis_url, workers) -> None:
    """Run the production layout on this machine: Nginx, Supervisor, gunicorn, Celery, MariaDB, Redis."""
    import os
    from pathlib import Path

    from wedraw.deploy import DEFAULT_ADMIN_URL, DEFAULT_REDIS_URL, LOCAL_ROOT, banner, local_up

    stack = local_up(
        root=Path(root) if root else LOCAL_ROOT,
        nginx_port=nginx_port,
        free_ports=free_ports,
        admin_url=admin_url or os.environ.get("WEDRAW_PROD_MYSQL_URL") or DEFAULT_ADMIN_URL,
        redis_url=redis_url or os.environ.get("WEDRAW_PROD_REDIS_URL") or DEFAULT_REDIS_URL,
        gunicorn_workers=workers,
        echo=click.echo,
    )
    click.echo(banner(stack))


@deploy.command("down")
@click.option("--root", type=click.Path(), default=None, help="The layout's root (default var/prod).")
@click.option("--purge", is_flag=True, help="Also drop its databases and accounts and delete its files.")
def deploy_down(root, purge) -> None:
    """Stop the production layout on this machine, leaving nothing running."""
    from pathlib import Path

    from wedraw.deploy import LOCAL_ROOT, local_down

    local_down(Path(root) if root else LOCAL_ROOT, purge=purge, echo=click.echo)


@cli.group()
def points() -> None:
    """Points mall: reconciliation and expiry settlement."""


def _points_app():
    from wedraw.core.factory import create_app

    return create_app("points_mall")


@points.command("reconcile")
@click.option("--batch", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="Accounts per query.")
def points_reconcile(batch: int) -> None:
    """Check every balance against the sum of its ledger entries (and open lots); exit 1 on any mismatch."""
    from wedraw.points_mall.settlement import reconcile

    with _points_app().app_context():
        run = reconcile("cli", batch=batch)
        click.echo(
            f"reconciliation {run.id}: {run.accounts_checked} accounts, {run.entries_checked} entries, "
            f"{run.mismatch_count} mismatch(es)"
        )
        for item in run.mismatches:
            click.echo(
                f"  account {item['account_id']} ({item['member_key']}): balance {item['balance']}, "
                f"ledger {item['ledger_sum']}, lots {item['lots_sum']}",
                err=True,
            )
        sys.exit(1 if run.mismatch_count else 0)


@points.command("expire")
@click.option("--day", default=None, help="The members' day to settle, YYYY-MM-DD (default: today).")
def points_expire(day: str | None) -> None:
    """Settle points expiry for one day (idempotent: a settled day is not settled again)."""
    from datetime import date

    from wedraw.points_mall.settlement import run_expiry

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        raise click.BadParameter("must be YYYY-MM-DD", param_hint="--day") from None
    with _points_app().app_context():
        result = run_expiry(when)
    click.echo(", ".join(f"{k}: {v}" for k, v in result.items()))


@cli.group()
def audit() -> None:
    """Audit records kept on this host while the broker was unavailable."""


@audit.command("replay")
def audit_replay() -> None:
    """Hand every spooled audit record on to the user center; exit 1 if some still wait."""
    from wedraw.core import audit as core_audit
    from wedraw.core.factory import create_app
    from wedraw.core.registry import WEB_SERVICES

    waiting = 0
    for service in WEB_SERVICES:
        if service == "user_center":
            continue  # it records its own writes directly
        app = create_app(service)
        with app.app_context():
            spool = core_audit.spool_for(app)
            sent = 0
            while spool.pending():
                went = core_audit.replay()
                sent += went
                if not went:
                    break
            left = spool.pending()
        waiting += left
        if sent or left:
            click.echo(f"{service}: {sent} handed on, {left} waiting")
    click.echo("audit spool empty" if not waiting else f"{waiting} audit record(s) still wait: is the broker up?")
    sys.exit(1 if waiting else 0)


@cli.group()
def analytics() -> None:
    """Data analysis: the daily statistics."""


@analytics.command("backfill")
@click.option("--from", "first", required=True, help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last local day, YYYY-MM-DD (inclusive).")
def analytics_backfill(first: str, last: str) -> None:
    """Rebuild the daily statistics of a date range from the facts (re-running a day gives the same numbers)."""
    from datetime import date

    from wedraw.core.factory import create_app
    from wedraw.data_analysis.rollup import MAX_BACKFILL_DAYS, days, rollup_day

    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise click.BadParameter("dates are YYYY-MM-DD", param_hint="--from/--to") from None
    if end < start:
        raise click.BadParameter("the range ends before it starts", param_hint="--to")
    if (end - start).days >= MAX_BACKFILL_DAYS:
        raise click.BadParameter(f"at most {MAX_BACKFILL_DAYS} days at once", param_hint="--to")
    rows = 0
    with create_app("data_analysis").app_context():
        span = days(start, end)
        with click.progressbar(span, label="rolling up", item_show_func=lambda d: d and d.isoformat()) as bar:
            for day in bar:
                rows += rollup_day(day)
    click.echo(f"rolled up {len(span)} day(s) from {start} to {end}: {rows} daily row(s)")


@cli.command("seed")
def seed() -> None:
    """Create built-in roles and the admin user (idempotent); print a generated password once."""
    from wedraw.seed import seed_all

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
