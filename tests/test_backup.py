"""scripts/backup-db.sh and scripts/restore-db.sh on a real MariaDB/MySQL: dump, wipe, restore, compare."""

from __future__ import annotations

import gzip
import os
import secrets
import subprocess
import time
from pathlib import Path

import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import build_settings, require_tier
from wedraw.core.config import PROJECT_ROOT

BACKUP = PROJECT_ROOT / "scripts" / "backup-db.sh"
RESTORE = PROJECT_ROOT / "scripts" / "restore-db.sh"


@pytest.fixture
def server(tmp_path):
    url = os.environ.get("WEDRAW_TEST_MYSQL_URL")
    if not url:
        require_tier("set WEDRAW_TEST_MYSQL_URL to test backups on MariaDB/MySQL")
    server = make_url(url)
    option_file = tmp_path / "client.cnf"
    option_file.write_text(
        "[client]\n"
        f"host={server.host or '127.0.0.1'}\nport={server.port or 3306}\nuser={server.username}\n"
        + (f"password={server.password}\n" if server.password else "")
    )
    option_file.chmod(0o600)
    return server, option_file


def _root(server, database: str | None = None):
    return pymysql.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 3306,
        user=server.username,
        password=server.password or "",
        database=database,
        charset="utf8mb4",
    )


def _fill(server, database: str, tmp_path: Path) -> None:
    """The user center's real schema and rows, plus a view, a trigger and binary data."""
    from wedraw.core.factory import create_app
    from wedraw.core.migrations import upgrade
    from wedraw.user_center.services import ensure_admin

    url = server.set(database=database, query={"charset": "utf8mb4"}).render_as_string(hide_password=False)
    settings = build_settings(tmp_path / "var", WEDRAW_USER_CENTER_DATABASE_URL=url)
    upgrade("user_center", settings=settings)
    app = create_app("user_center", settings=settings)
    with app.app_context():
        ensure_admin("Backup-test-2026")
        app.extensions["wedraw.db"].engine.dispose()
    with _root(server, database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bk_blob (id INT PRIMARY KEY, name VARCHAR(40), data BLOB) CHARACTER SET utf8mb4")
        cur.execute("CREATE TABLE bk_log (id INT AUTO_INCREMENT PRIMARY KEY, blob_id INT)")
        cur.execute(
            "CREATE TRIGGER bk_after_insert AFTER INSERT ON bk_blob FOR EACH ROW "
            "INSERT INTO bk_log (blob_id) VALUES (NEW.id)"
        )
        cur.execute("CREATE VIEW bk_names AS SELECT id, name FROM bk_blob")
        cur.executemany(
            "INSERT INTO bk_blob VALUES (%s, %s, %s)",
            [(i, f'积分商城 🎁 {i} O\'Brien \\ "q"', bytes(range(256)) * (i + 1)) for i in range(20)],
        )
        conn.commit()


def _snapshot(server, database: str) -> dict:
    state = {}
    with _root(server, database) as conn, conn.cursor() as cur:
        cur.execute("SHOW FULL TABLES")
        for name, kind in sorted(cur.fetchall()):
            if kind == "VIEW":
                cur.execute(f"SELECT * FROM `{name}` ORDER BY 1")  # noqa: S608 - names from SHOW TABLES
                state[f"view:{name}"] = cur.fetchall()
                continue
            cur.execute(f"SHOW CREATE TABLE `{name}`")
            state[f"ddl:{name}"] = cur.fetchone()[1]
            cur.execute(f"SELECT * FROM `{name}` ORDER BY 1")  # noqa: S608
            state[f"rows:{name}"] = cur.fetchall()
        cur.execute(
            "SELECT trigger_name, action_statement FROM information_schema.triggers WHERE trigger_schema = %s",
            (database,),
        )
        state["triggers"] = cur.fetchall()
    return state


def _run(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, **kwargs)


def test_dump_wipe_restore_gives_back_the_same_database(server, tmp_path):
    server, option_file = server
    database = f"wedraw_bk_{secrets.token_hex(3)}"
    out = tmp_path / "backups"
    old = out / database / f"{database}-20200101T000000Z.sql.gz"
    recent = out / database / f"{database}-20200102T000000Z.sql.gz"
    old.parent.mkdir(parents=True)
    for path, age_days in ((old, 31), (recent, 29)):
        path.write_bytes(gzip.compress(b"-- old\n"))
        stamp = time.time() - age_days * 86400
        os.utime(path, (stamp, stamp))
    with _root(server) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        _fill(server, database, tmp_path)
        before = _snapshot(server, database)
        assert before["rows:admin_users"] and len(before["rows:bk_log"]) == 20

        dumped = _run(BACKUP, "-o", out, "-k", "30", "-c", option_file, database)
        assert dumped.returncode == 0, dumped.stderr
        dumps = sorted((out / database).glob(f"{database}-2*.sql.gz"))
        assert old not in dumps and recent in dumps  # 30 days kept, older removed
        dump = next(p for p in dumps if p not in (old, recent))
        assert oct(dump.stat().st_mode & 0o777) == "0o600"
        text = gzip.decompress(dump.read_bytes()).decode()
        assert "CREATE TABLE `admin_users`" in text and "bk_after_insert" in text

        with _root(server) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE `{database}`")

        restored = _run(RESTORE, "-c", option_file, dump, database)
        assert restored.returncode == 0, restored.stderr
        assert _snapshot(server, database) == before

        # A database with tables is not overwritten unless asked to be.
        refused = _run(RESTORE, "-c", option_file, dump, database)
        assert refused.returncode == 1 and "add -f" in refused.stderr
        with _root(server, database) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM bk_blob WHERE id < 5")
            conn.commit()
        forced = _run(RESTORE, "-f", "-c", option_file, dump, database)
        assert forced.returncode == 0, forced.stderr
        assert _snapshot(server, database) == before

        # A dump cut short is refused before anything is touched.
        truncated = tmp_path / "truncated.sql.gz"
        truncated.write_bytes(gzip.compress(text[: len(text) // 2].encode()))
        with _root(server) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE `{database}`")
        cut = _run(RESTORE, "-c", option_file, truncated, database)
        assert cut.returncode == 1 and "incomplete" in cut.stderr
        with _root(server) as conn, conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (database,))
            assert cur.fetchall() == ()
    finally:
        with _root(server) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")


def test_a_failed_dump_leaves_no_file_and_fails_the_run(server, tmp_path):
    server, option_file = server
    missing = f"wedraw_bk_missing_{secrets.token_hex(3)}"
    result = _run(BACKUP, "-o", tmp_path / "b", "-c", option_file, missing)
    assert result.returncode == 1 and f"FAILED to dump {missing}" in result.stderr
    assert list((tmp_path / "b" / missing).iterdir()) == []
