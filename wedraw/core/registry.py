"""The one registry of WeDraw services.

Nginx locations, Supervisor programs, the embedded runner, the gateway's health and
docs aggregation and the Celery worker programs are all derived from this table (or
checked against it by a test), so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str
    port: int
    prefixes: tuple[str, ...]
    database: str | None
    title: str
    # Celery queues this service owns; each one gets a worker program.
    queues: tuple[str, ...] = field(default_factory=tuple)
    # Paths that are reached without a token (besides /health and the docs).
    public_paths: tuple[str, ...] = field(default_factory=tuple)


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            name="gateway",
            package="wedraw.gateway",
            port=3000,
            prefixes=("/docs", "/health", "/auth/check"),
            database=None,
            title="API gateway",
        ),
        ServiceSpec(
            name="user_center",
            package="wedraw.user_center",
            port=3001,
            prefixes=("/api/auth", "/api/users", "/api/roles", "/api/audit"),
            database="user_center_db",
            title="User center",
            queues=("user_center",),
            public_paths=("/api/auth/login", "/api/auth/refresh"),
        ),
        ServiceSpec(
            name="wechat_official",
            package="wedraw.wechat_official",
            port=3002,
            prefixes=("/api/wechat",),
            database="official_account_db",
            title="Official Account",
            queues=("wechat_official",),
            public_paths=("/api/wechat/callback",),
        ),
        ServiceSpec(
            name="wecom",
            package="wedraw.wecom",
            port=3003,
            prefixes=("/api/wecom",),
            database="wecom_db",
            title="WeCom",
            queues=("wecom",),
            public_paths=("/api/wecom/callback",),
        ),
        ServiceSpec(
            name="miniprogram",
            package="wedraw.miniprogram",
            port=3004,
            prefixes=("/api/miniprogram",),
            database="miniprogram_db",
            title="Mini Program",
            queues=("miniprogram",),
        ),
        ServiceSpec(
            name="points_mall",
            package="wedraw.points_mall",
            port=3005,
            prefixes=("/api/points",),
            database="points_mall_db",
            title="Points mall",
            queues=("points",),
        ),
        ServiceSpec(
            name="message_center",
            package="wedraw.message_center",
            port=3006,
            prefixes=("/api/message",),
            database="message_center_db",
            title="Message center",
            queues=("message_center", "wechat_push"),
        ),
        ServiceSpec(
            name="data_analysis",
            package="wedraw.data_analysis",
            port=3007,
            prefixes=("/api/analytics",),
            database="data_analysis_db",
            title="Data analysis",
            queues=("analytics", "reports"),
        ),
    )
}

# Services with a database, in registry order (the gateway has none).
DATABASE_SERVICES: tuple[str, ...] = tuple(n for n, s in SERVICES.items() if s.database)


def get_service(name: str) -> ServiceSpec:
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(SERVICES)
        raise SystemExit(f"unknown service {name!r}; known services: {known}") from None


def all_queues() -> dict[str, str]:
    """Map every Celery queue to the service that owns it."""
    return {queue: spec.name for spec in SERVICES.values() for queue in spec.queues}
