"""`wedraw db provision`: a database and an account per service, rights on that database only."""

from __future__ import annotations

import os
import secrets

import pymysql
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from tests.conftest import require_tier
from wedraw.cli import cli
from wedraw.core.registry import DATABASE_SERVICES, SERVICES
from wedraw.deploy import ProvisionPlan, read_env_file, run_sql


def test_plan_names_and_statements():
    plan = ProvisionPlan(database_prefix="acme_", account_prefix="wd_", backup_account="wd_backup")
    passwords = plan.new_passwords()
    sql = "\n".join(plan.statements(passwords))
    for service in DATABASE_SERVICES:
        assert plan.database(service).startswith("acme_") and plan.account(service) == f"wd_{service}"
        assert f"CREATE DATABASE IF NOT EXISTS `{plan.database(service)}`" in sql
    # Underscores in GRANT are wildcards; they are escaped so a grant names one database.
    assert "ON `acme\\_user\\_center\\_db`.* TO 'wd_user_center'@'127.0.0.1'" in sql
    assert "GRANT OPTION" not in sql and "ALL PRIVILEGES" not in sql and "*.*" not in sql
    assert plan.new_passwords({"user_center": "kept"})["user_center"] == "kept"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"database_prefix": "x`; DROP DATABASE y; --"},
        {"account_prefix": "a'b"},
        {"account_host": "127.0.0.1' OR '1"},
        {"backup_account": "bad name"},
        {"services": ("gateway",)},
    ],
)
def test_unsafe_names_are_refused(kwargs):
    with pytest.raises(ValueError):
        ProvisionPlan(**kwargs)


@pytest.fixture
def server():
    url = os.environ.get("WEDRAW_TEST_MYSQL_URL")
    if not url:
        require_tier("set WEDRAW_TEST_MYSQL_URL to test provisioning on MariaDB/MySQL")
    return make_url(url)


def _connect(server, user: str, password: str, database: str | None = None):
    return pymysql.connect(
        host=server.host or "127.0.0.1", port=server.port or 3306, user=user, password=password, database=database
    )


def test_provision_apply_gives_each_service_its_own_database_only(server, tmp_path):
    tag = secrets.token_hex(3)
    options = ["--database-prefix", f"wdt{tag}_", "--account-prefix", f"wdt{tag}_", "--admin-url", str(server)]
    env_file = tmp_path / "wedraw.env"
    runner = CliRunner()
    plan = ProvisionPlan(database_prefix=f"wdt{tag}_", account_prefix=f"wdt{tag}_")
    try:
        result = runner.invoke(cli, ["db", "provision", "--apply", *options, "--env-out", str(env_file)])
        assert result.exit_code == 0, result.output
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        env = read_env_file(env_file)
        urls = {s: make_url(env[f"WEDRAW_{s.upper()}_DATABASE_URL"]) for s in DATABASE_SERVICES}

        own, other = urls["user_center"], urls["points_mall"]
        with _connect(server, own.username, own.password, own.database) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20)) CHARACTER SET utf8mb4")
            cur.execute("INSERT INTO t VALUES (1, '积分')")
            cur.execute("SELECT name FROM t")
            assert cur.fetchone() == ("积分",)
            cur.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in cur.fetchall())
            assert f"`wdt{tag}\\_user\\_center\\_db`.*" in grants and "ON *.*" in grants  # USAGE only globally
            assert "GRANT OPTION" not in grants
            for forbidden in (f"SELECT 1 FROM `{other.database}`.x", f"CREATE DATABASE `wdt{tag}_intruder`"):  # noqa: S608
                with pytest.raises(pymysql.err.OperationalError) as denied:
                    cur.execute(forbidden)
                assert denied.value.args[0] in (1044, 1142, 1045), denied.value
        with pytest.raises(pymysql.err.OperationalError) as denied:
            _connect(server, own.username, own.password, other.database)
        assert denied.value.args[0] == 1044  # access denied to another service's database

        # Running it again keeps the passwords the env file holds (the apps keep working).
        again = runner.invoke(cli, ["db", "provision", "--apply", *options, "--env-out", str(env_file)])
        assert again.exit_code == 0, again.output
        assert read_env_file(env_file) == env
        with _connect(server, own.username, own.password, own.database) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM t")
            assert cur.fetchone() == (1,)
    finally:
        dropped = runner.invoke(cli, ["db", "deprovision", "--apply", "--yes", *options])
        assert dropped.exit_code == 0, dropped.output
    with _connect(server, server.username, server.password or "") as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE %s", (f"wdt{tag}\\_%",))
        assert cur.fetchall() == ()
        cur.execute("SELECT user FROM mysql.user WHERE user LIKE %s", (f"wdt{tag}\\_%",))
        assert cur.fetchall() == ()
    assert plan.database("user_center") == f"wdt{tag}_user_center_db"


def test_printed_sql_runs_as_is_and_deprovision_refuses_without_yes(server):
    tag = secrets.token_hex(3)
    options = ["--service", "points_mall", "--database-prefix", f"wdp{tag}_", "--account-prefix", f"wdp{tag}_"]
    runner = CliRunner()
    printed = runner.invoke(cli, ["db", "provision", "--print", *options, "--backup-account", f"wdp{tag}_bk"])
    assert printed.exit_code == 0, printed.output
    statements = [line for line in printed.output.splitlines() if line and not line.startswith("--")]
    url_line = next(line for line in printed.output.splitlines() if "WEDRAW_POINTS_MALL_DATABASE_URL=" in line)
    url = make_url(url_line.split("=", 1)[1])
    try:
        run_sql(str(server), [s.rstrip(";") for s in statements])
        with _connect(server, url.username, url.password, url.database) as conn, conn.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone() == (f"wdp{tag}_points_mall_db",)
        refused = runner.invoke(cli, ["db", "deprovision", "--apply", *options, "--admin-url", str(server)])
        assert refused.exit_code != 0 and "--yes" in refused.output
    finally:
        plan = ProvisionPlan(
            database_prefix=f"wdp{tag}_", account_prefix=f"wdp{tag}_", backup_account=f"wdp{tag}_bk",
            services=("points_mall",),
        )  # fmt: skip
        run_sql(str(server), plan.drop_statements())


def test_db_names_lists_the_configured_databases_for_the_backup_script(monkeypatch, tmp_path):
    monkeypatch.setenv("WEDRAW_ENV_FILE", str(tmp_path / "none.env"))
    for key in [k for k in os.environ if k.startswith("WEDRAW_") and k != "WEDRAW_ENV_FILE"]:
        monkeypatch.delenv(key)
    runner = CliRunner()
    embedded = runner.invoke(cli, ["db", "names"])
    assert embedded.exit_code != 0 and "not MariaDB/MySQL" in embedded.output

    monkeypatch.setenv("WEDRAW_PROFILE", "production")
    monkeypatch.setenv("WEDRAW_JWT_SECRET", "j" * 40)
    monkeypatch.setenv("WEDRAW_DATA_KEY", "d" * 40)
    monkeypatch.setenv("WEDRAW_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("WEDRAW_DB_USER", "wedraw")
    monkeypatch.setenv("WEDRAW_POINTS_MALL_DB_NAME", "shop_points")
    result = runner.invoke(cli, ["db", "names"])
    assert result.exit_code == 0, result.output
    expected = ["shop_points" if s == "points_mall" else SERVICES[s].database for s in DATABASE_SERVICES]
    assert result.output.split() == expected
