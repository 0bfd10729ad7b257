"""Configuration is validated at start and a bad variable is named in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wedraw.core.config import DEV_JWT_SECRET, ConfigError, load_settings
from wedraw.core.registry import DATABASE_SERVICES

PRODUCTION = {
    "WEDRAW_PROFILE": "production",
    "WEDRAW_JWT_SECRET": "s" * 48,
    "WEDRAW_DATA_KEY": "k" * 48,
    "WEDRAW_REDIS_URL": "redis://127.0.0.1:6379/0",
    "WEDRAW_DB_USER": "wedraw",
    "WEDRAW_DB_PASSWORD": "p@ss:word",
}


def test_embedded_defaults_need_nothing(tmp_path):
    settings = load_settings(environ={"WEDRAW_VAR_DIR": str(tmp_path)})
    assert settings.profile == "embedded"
    assert settings.database_url("user_center") == f"sqlite:///{tmp_path}/db/user_center_db.sqlite"
    assert settings.celery_broker_url.startswith("sqla+sqlite:///")
    assert settings.rate_limit_storage_url == "memory://"
    assert settings.wechat_api_base == "http://127.0.0.1:3100"


def test_production_builds_one_mysql_url_per_service_with_its_own_account():
    settings = load_settings(
        environ={**PRODUCTION, "WEDRAW_POINTS_MALL_DB_USER": "points", "WEDRAW_POINTS_MALL_DB_PASSWORD": "pp"}
    )
    assert settings.database_url("user_center") == (
        "mysql+pymysql://wedraw:p%40ss%3Aword@127.0.0.1:3306/user_center_db?charset=utf8mb4"
    )
    assert settings.database_url("points_mall").startswith("mysql+pymysql://points:pp@")
    assert set(settings.database_urls) == set(DATABASE_SERVICES)
    assert settings.rate_limit_storage_url == PRODUCTION["WEDRAW_REDIS_URL"]
    assert settings.wechat_api_base is None  # the real WeChat hosts


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"WEDRAW_JWT_SECRET": DEV_JWT_SECRET}, "WEDRAW_JWT_SECRET"),
        ({"WEDRAW_JWT_SECRET": "short"}, "WEDRAW_JWT_SECRET"),
        ({"WEDRAW_JWT_SECRET": ""}, "WEDRAW_JWT_SECRET"),
        ({"WEDRAW_REDIS_URL": ""}, "WEDRAW_REDIS_URL"),
        ({"WEDRAW_REDIS_URL": "http://nope"}, "WEDRAW_REDIS_URL"),
        ({"WEDRAW_DB_USER": ""}, "WEDRAW_DB_USER"),
        ({"WEDRAW_DB_PORT": "three"}, "WEDRAW_DB_PORT"),
        ({"WEDRAW_JWT_ACCESS_MINUTES": "0"}, "WEDRAW_JWT_ACCESS_MINUTES"),
        ({"WEDRAW_RATE_LIMIT": "lots"}, "WEDRAW_RATE_LIMIT"),
        ({"WEDRAW_LOG_LEVEL": "LOUD"}, "WEDRAW_LOG_LEVEL"),
        ({"WEDRAW_PROFILE": "staging"}, "WEDRAW_PROFILE"),
    ],
)
def test_a_bad_variable_is_named(change, variable):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={**PRODUCTION, **change})
    assert caught.value.variable == variable
    assert variable in str(caught.value)


def test_a_bad_variable_stops_the_process_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from wedraw.core.factory import create_app; create_app('user_center')"],
        env={"PATH": "/usr/bin:/bin", "WEDRAW_PROFILE": "production", "WEDRAW_ENV_FILE": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert lines == ["configuration error: WEDRAW_JWT_SECRET is required but not set"]


def test_dotenv_file_is_read_but_never_overrides_the_environment(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("WEDRAW_RATE_LIMIT=7/minute\nWEDRAW_LOG_LEVEL=DEBUG\n")
    monkeypatch.setenv("WEDRAW_ENV_FILE", str(env_file))
    monkeypatch.setenv("WEDRAW_LOG_LEVEL", "ERROR")
    monkeypatch.delenv("WEDRAW_RATE_LIMIT", raising=False)
    monkeypatch.setenv("WEDRAW_VAR_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.rate_limit == "7/minute"
    assert settings.log_level == "ERROR"
