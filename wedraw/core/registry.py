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
    # Celery queues this service owns; each one gets a worker program. A service lists a
    # queue once it has tasks for it.
    queues: tuple[str, ...] = field(default_factory=tuple)
    # WeChat's callbacks: public (guarded by WeChat signatures) and exempt from the
    # per-IP API rate limit, here and in Nginx, since WeChat calls from few IPs at volume.
    callback_prefixes: tuple[str, ...] = field(default_factory=tuple)
    # "service" is a WeDraw service behind Nginx; "sandbox" stands in for WeChat's hosts.
    kind: str = "service"
    # Further ports the same program listens on (the sandbox's WeCom host).
    extra_ports: tuple[int, ...] = field(default_factory=tuple)


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
        ),
        ServiceSpec(
            name="wechat_official",
            package="wedraw.wechat_official",
            port=3002,
            prefixes=("/api/wechat",),
            database="official_account_db",
            title="Official Account",
            queues=("wechat_official",),
            callback_prefixes=("/api/wechat/callback/",),
        ),
        ServiceSpec(
            name="wecom",
            package="wedraw.wecom",
            port=3003,
            prefixes=("/api/wecom",),
            database="wecom_db",
            title="WeCom",
            queues=("wecom",),
            callback_prefixes=("/api/wecom/callback/",),
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
            # message_center: orchestration (campaign starts, events, sweeps); wechat_push: WeChat sends.
            queues=("message_center", "wechat_push"),
        ),
        ServiceSpec(
            name="data_analysis",
            package="wedraw.data_analysis",
            port=3007,
            prefixes=("/api/analytics",),
            database="data_analysis_db",
            title="Data analysis",
            # analytics: facts and the daily roll-up; reports: report files, which may run for minutes.
            queues=("analytics", "reports"),
        ),
        ServiceSpec(
            name="sandbox",
            package="wedraw.sandbox",
            port=3100,
            prefixes=(),
            database=None,
            title="WeChat sandbox",
            kind="sandbox",
            extra_ports=(3101,),
        ),
    )
}

# The services operators reach through Nginx (everything but the sandbox).
WEB_SERVICES: tuple[str, ...] = tuple(n for n, s in SERVICES.items() if s.kind == "service")

# Services with a database, in registry order (the gateway has none).
DATABASE_SERVICES: tuple[str, ...] = tuple(n for n, s in SERVICES.items() if s.database)


def get_service(name: str) -> ServiceSpec:
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(SERVICES)
        raise SystemExit(f"unknown service {name!r}; known services: {known}") from None


def callback_prefixes() -> tuple[str, ...]:
    return tuple(p for spec in SERVICES.values() for p in spec.callback_prefixes)


def all_queues() -> dict[str, str]:
    """Map every Celery queue to the service that owns it."""
    return {queue: spec.name for spec in SERVICES.values() for queue in spec.queues}
