"""The message center's own settings, read from `Settings.extra` (WEDRAW_MESSAGE_*) and validated once.

    WEDRAW_MESSAGE_TEMPLATE_PER_SECOND   Official Account template sends per second per account   (1000)
    WEDRAW_MESSAGE_CUSTOM_PER_SECOND     customer-service messages per second per account          (400)
    WEDRAW_MESSAGE_SUBSCRIBE_PER_SECOND  Mini Program subscribe messages per second per app        (500)
    WEDRAW_MESSAGE_WECOM_PER_SECOND      WeCom app message calls per second per agent              (30)
    WEDRAW_MESSAGE_MASS_PER_MINUTE       mass-send calls per minute per account                    (60)
    WEDRAW_MESSAGE_ROBOT_PER_MINUTE      group-robot messages per window per robot key             (20)
    WEDRAW_MESSAGE_ROBOT_WINDOW_SECONDS  the robot's window; WeChat's is one minute                (60)
    WEDRAW_MESSAGE_QUOTA_PAUSE_SECONDS   how long a sender's channel waits after WeChat's 45009    (60)
    WEDRAW_MESSAGE_MAX_ATTEMPTS          WeChat calls per recipient before a retryable error is final (5)
    WEDRAW_MESSAGE_BACKOFF_SECONDS       first retry delay; doubles per attempt, with jitter       (10)
    WEDRAW_MESSAGE_BACKOFF_CAP_SECONDS   the longest retry delay                                   (600)
    WEDRAW_MESSAGE_BATCH_SIZE            recipients per push task                                  (200)
    WEDRAW_MESSAGE_MASS_BATCH_SIZE       openids per mass-send call (WeChat allows 2 to 10,000)     (10000)
    WEDRAW_MESSAGE_LEASE_SECONDS         how long a push task owns the recipients it claimed       (120)
    WEDRAW_MESSAGE_STUCK_SECONDS         a due recipient untouched this long is re-dispatched      (300)

Every countdown the service gives a task (retry back-off, rate-limit waits) stays far below
the broker's visibility timeout (wedraw.core.celery_app.VISIBILITY_TIMEOUT).
"""

from __future__ import annotations

from dataclasses import dataclass

from wedraw.core.config import ConfigError

_DEFAULTS: dict[str, tuple[float, float, float]] = {
    # variable suffix: (default, minimum, maximum)
    "TEMPLATE_PER_SECOND": (1000, 0.01, 100_000),
    "CUSTOM_PER_SECOND": (400, 0.01, 100_000),
    "SUBSCRIBE_PER_SECOND": (500, 0.01, 100_000),
    "WECOM_PER_SECOND": (30, 0.01, 10_000),
    "MASS_PER_MINUTE": (60, 1, 10_000),
    "ROBOT_PER_MINUTE": (20, 1, 1000),
    "ROBOT_WINDOW_SECONDS": (60, 0.1, 3600),
    "QUOTA_PAUSE_SECONDS": (60, 0.1, 3600),
    "MAX_ATTEMPTS": (5, 1, 50),
    "BACKOFF_SECONDS": (10, 0.05, 3600),
    "BACKOFF_CAP_SECONDS": (600, 0.1, 3600),
    "BATCH_SIZE": (200, 1, 5000),
    "MASS_BATCH_SIZE": (10_000, 2, 10_000),
    "LEASE_SECONDS": (120, 1, 3600),
    "STUCK_SECONDS": (300, 1, 86_400),
}
_INTEGERS = {"MAX_ATTEMPTS", "BATCH_SIZE", "MASS_BATCH_SIZE", "ROBOT_PER_MINUTE", "MASS_PER_MINUTE"}


@dataclass(frozen=True)
class MessageSettings:
    template_per_second: float
    custom_per_second: float
    subscribe_per_second: float
    wecom_per_second: float
    mass_per_minute: int
    robot_per_minute: int
    robot_window_seconds: float
    quota_pause_seconds: float
    max_attempts: int
    backoff_seconds: float
    backoff_cap_seconds: float
    batch_size: int
    mass_batch_size: int
    lease_seconds: float
    stuck_seconds: float


_cache: dict[tuple, MessageSettings] = {}


def message_settings(settings) -> MessageSettings:
    """The validated WEDRAW_MESSAGE_* values of these settings (ConfigError names a bad one)."""
    key = tuple(sorted((k, v) for k, v in settings.extra.items() if k.startswith("WEDRAW_MESSAGE_")))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    values = {}
    for suffix, (default, low, high) in _DEFAULTS.items():
        name = f"WEDRAW_MESSAGE_{suffix}"
        raw = settings.extra.get(name)
        if raw in (None, ""):
            value = default
        else:
            try:
                value = int(raw) if suffix in _INTEGERS else float(raw)
            except ValueError:
                kind = "an integer" if suffix in _INTEGERS else "a number"
                raise ConfigError(name, f"must be {kind}, got {raw!r}") from None
            if not low <= value <= high:
                raise ConfigError(name, f"must be between {low:g} and {high:g}, got {raw}")
        values[suffix.lower()] = int(value) if suffix in _INTEGERS else float(value)
    result = MessageSettings(**values)
    _cache[key] = result
    return result
