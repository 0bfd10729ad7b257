"""Migrations are the only way a schema is made: they agree with the models, one head each."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.conftest import BACKEND, build_settings
from wedraw.core.factory import MIGRATIONS_DIR
from wedraw.core.migrations import schema_diff, upgrade
from wedraw.core.registry import DATABASE_SERVICES


@pytest.mark.parametrize("service", DATABASE_SERVICES)
def test_each_history_has_a_single_head(service):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR / service))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"{service} has heads {heads}"


@pytest.mark.parametrize("service", DATABASE_SERVICES)
def test_models_and_migrations_agree(service, settings, tmp_path):
    """`settings` already upgraded every database (SQLite or MariaDB); nothing is left to write."""
    assert schema_diff(service, settings=settings) == []


@pytest.mark.skipif(BACKEND != "embedded", reason="fresh SQLite files; the MariaDB tier is checked above")
def test_a_fresh_database_upgrades_twice_without_change(tmp_path):
    settings = build_settings(tmp_path)
    for service in DATABASE_SERVICES:
        upgrade(service, settings=settings)
        upgrade(service, settings=settings)
        assert schema_diff(service, settings=settings) == []
