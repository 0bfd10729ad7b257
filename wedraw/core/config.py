"""Configuration from the environment (and an optional `.env`), one class per profile.

Every value is read and validated once at start. A missing or malformed variable stops
the process with a single line naming it (`ConfigError`), never a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

from wedraw.core.registry import DATABASE_SERVICES, SERVICES, ServiceSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("embedded", "production", "test")
DEV_JWT_SECRET = "wedraw-embedded-development-secret-change-me"  # noqa: S105 - refused in production
MIN_PRODUCTION_SECRET = 32


class ConfigError(SystemExit):
    """Raised for a bad setting; its message names the variable."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"configuration error: {variable} {problem}")
        self.variable = variable


def load_dotenv_file(path: Path | None = None) -> None:
    """Load `.env` from the project root without overriding real environment variables."""
    env_path = path or Path(os.environ.get("WEDRAW_ENV_FILE", PROJECT_ROOT / ".env"))
    if env_path.is_file():
        from dotenv import load_dotenv

        load_dotenv(env_path, override=False)


class _Env:
    def __init__(self, environ: dict[str, str]):
        self.environ = environ

    def str(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.environ.get(name)
        if value is None or value == "":
            if required:
                raise ConfigError(name, "is required but not set")
            return default
        return value

    def int(self, name: str, default: int, minimum: int | None = None) -> int:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, got {value}")
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default)
        if value not in choices:
            raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
        value = self.str(name, default)
        if value is not None and value.split("://", 1)[0] not in schemes:
            raise ConfigError(name, f"must be a URL starting with one of {', '.join(schemes)}")
        return value


_RATE = re.compile(r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$")


@dataclass
class Settings:
    """The validated settings of one process. Services read these, never os.environ."""

    profile: str
    var_dir: Path
    log_dir: Path
    log_level: str
    jwt_secret: str
    jwt_access_minutes: int
    jwt_refresh_days: int
    data_key: str
    redis_url: str | None
    database_urls: dict[str, str]
    celery_broker_url: str
    rate_limit: str
    login_failure_limit: str
    rate_limit_storage_url: str
    proxy_count: int
    admin_password: str | None
    service_urls: dict[str, str]
    # Base URLs that replace WeChat's API hosts (the sandbox); None means the real hosts.
    wechat_api_base: str | None = None
    wecom_api_base: str | None = None
    # Optional read replica of data_analysis_db: dashboard and report queries read there.
    analytics_replica_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    log_file: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.profile == "production"

    def database_url(self, service: str) -> str:
        return self.database_urls[service]


def _mysql_url(env: _Env, spec: ServiceSpec) -> str:
    key = spec.name.upper()
    explicit = env.str(f"WEDRAW_{key}_DATABASE_URL")
    if explicit:
        return explicit
    host = env.str("WEDRAW_DB_HOST", "127.0.0.1")
    port = env.int("WEDRAW_DB_PORT", 3306, minimum=1)
    user = env.str(f"WEDRAW_{key}_DB_USER") or env.str("WEDRAW_DB_USER", required=True)
    password = env.str(f"WEDRAW_{key}_DB_PASSWORD") or env.str("WEDRAW_DB_PASSWORD", "")
    name = env.str(f"WEDRAW_{key}_DB_NAME", spec.database)
    auth = quote_plus(user) + (":" + quote_plus(password) if password else "")
    return f"mysql+pymysql://{auth}@{host}:{port}/{name}?charset=utf8mb4"


def load_settings(environ: dict[str, str] | None = None, profile: str | None = None) -> Settings:
    """Read and validate every setting. Raises ConfigError naming the first bad variable."""
    if environ is None:
        load_dotenv_file()
        environ = dict(os.environ)
    env = _Env(environ)
    profile = profile or env.choice("WEDRAW_PROFILE", "embedded", PROFILES)
    if profile not in PROFILES:
        raise ConfigError("WEDRAW_PROFILE", f"must be one of {', '.join(PROFILES)}")
    production = profile == "production"

    var_dir = Path(env.str("WEDRAW_VAR_DIR", str(PROJECT_ROOT / "var"))).resolve()
    log_dir = Path(env.str("WEDRAW_LOG_DIR", str(var_dir / "log"))).resolve()
    log_level = env.choice("WEDRAW_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))

    jwt_secret = env.str("WEDRAW_JWT_SECRET", None if production else DEV_JWT_SECRET, required=production)
    if production and (jwt_secret == DEV_JWT_SECRET or len(jwt_secret) < MIN_PRODUCTION_SECRET):
        raise ConfigError(
            "WEDRAW_JWT_SECRET",
            f"must be a random secret of at least {MIN_PRODUCTION_SECRET} characters in production",
        )
    data_key = env.str("WEDRAW_DATA_KEY", None if production else "wedraw-embedded-data-key", required=production)
    if production and len(data_key) < MIN_PRODUCTION_SECRET:
        raise ConfigError("WEDRAW_DATA_KEY", f"must be at least {MIN_PRODUCTION_SECRET} characters in production")

    redis_url = env.url("WEDRAW_REDIS_URL", None, ("redis", "rediss", "unix"))
    if production and not redis_url:
        raise ConfigError("WEDRAW_REDIS_URL", "is required in production")

    database_urls: dict[str, str] = {}
    for name in DATABASE_SERVICES:
        spec = SERVICES[name]
        if production:
            database_urls[name] = _mysql_url(env, spec)
        else:
            explicit = env.str(f"WEDRAW_{name.upper()}_DATABASE_URL")
            database_urls[name] = explicit or f"sqlite:///{var_dir / 'db' / (spec.database + '.sqlite')}"

    default_broker = redis_url if production else f"sqla+sqlite:///{var_dir / 'celery-broker.sqlite'}"
    celery_broker_url = env.str("WEDRAW_CELERY_BROKER_URL", default_broker)

    rate_limit = env.str("WEDRAW_RATE_LIMIT", "60/minute")
    login_failure_limit = env.str("WEDRAW_LOGIN_FAILURE_LIMIT", "5/minute")
    for var, value in (("WEDRAW_RATE_LIMIT", rate_limit), ("WEDRAW_LOGIN_FAILURE_LIMIT", login_failure_limit)):
        if not _RATE.match(value.strip()):
            raise ConfigError(var, f"must look like '60/minute', got {value!r}")
    limiter_default = redis_url if (production and redis_url) else "memory://"
    rate_limit_storage_url = env.str("WEDRAW_RATE_LIMIT_STORAGE_URL", limiter_default)

    host = env.str("WEDRAW_SERVICE_HOST", "127.0.0.1")
    service_urls = {
        name: env.str(f"WEDRAW_{name.upper()}_URL", f"http://{host}:{spec.port}") for name, spec in SERVICES.items()
    }

    sandbox_default = not production
    wechat_api_base = env.url(
        "WEDRAW_WECHAT_API_BASE", "http://127.0.0.1:3100" if sandbox_default else None, ("http", "https")
    )
    wecom_api_base = env.url(
        "WEDRAW_WECOM_API_BASE", "http://127.0.0.1:3101" if sandbox_default else None, ("http", "https")
    )

    return Settings(
        profile=profile,
        wechat_api_base=wechat_api_base,
        wecom_api_base=wecom_api_base,
        analytics_replica_url=env.url(
            "WEDRAW_ANALYTICS_REPLICA_URL", None, ("sqlite", "mysql", "mysql+pymysql", "mariadb+pymysql")
        ),
        var_dir=var_dir,
        log_dir=log_dir,
        log_level=log_level,
        jwt_secret=jwt_secret,
        jwt_access_minutes=env.int("WEDRAW_JWT_ACCESS_MINUTES", 15, minimum=1),
        jwt_refresh_days=env.int("WEDRAW_JWT_REFRESH_DAYS", 7, minimum=1),
        data_key=data_key,
        redis_url=redis_url,
        database_urls=database_urls,
        celery_broker_url=celery_broker_url,
        rate_limit=rate_limit,
        login_failure_limit=login_failure_limit,
        rate_limit_storage_url=rate_limit_storage_url,
        proxy_count=env.int("WEDRAW_PROXY_COUNT", 0, minimum=0),
        admin_password=env.str("WEDRAW_ADMIN_PASSWORD"),
        service_urls=service_urls,
        log_file=env.str("WEDRAW_LOG_FILE"),
        max_body_bytes=env.int("WEDRAW_MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
        extra={k: v for k, v in environ.items() if k.startswith("WEDRAW_")},
    )
