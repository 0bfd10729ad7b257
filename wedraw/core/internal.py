"""Service-to-service HTTP calls with service credentials.

A service calls another service's `/internal/...` routes (declared with
`wedraw.core.auth.internal`) directly at its registry URL, never through Nginx, with a
short-lived JWT whose `kind` is "service". Admin tokens cannot open internal routes and
service tokens cannot open admin routes.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import jwt
import requests
from flask import current_app

from wedraw.core.auth import SERVICE
from wedraw.core.errors import ApiError

TOKEN_LIFETIME = timedelta(minutes=5)
DEFAULT_TIMEOUT = 10.0

_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()
_session = threading.local()


def service_token(settings, caller: str) -> str:
    """A cached token naming `caller`, signed with the platform's JWT secret."""
    key = (caller, settings.jwt_secret)
    with _lock:
        token, expires = _tokens.get(key, ("", 0.0))
        if time.time() < expires - 60:
            return token
        now = int(time.time())
        lifetime = int(TOKEN_LIFETIME.total_seconds())
        # The same claims flask-jwt-extended expects of an access token.
        claims = {
            "sub": caller,
            "kind": SERVICE,
            "type": "access",
            "fresh": False,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": f"{caller}-{now}",
        }
        token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
        _tokens[key] = (token, now + lifetime)
        return token


def _http() -> requests.Session:
    if not hasattr(_session, "value"):
        _session.value = requests.Session()
    return _session.value


def call_service(
    target: str,
    method: str,
    path: str,
    *,
    settings=None,
    caller: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> Any:
    """Call `target`'s internal route and return its JSON; a failure is a 502/503 ApiError."""
    settings = settings or current_app.config["WEDRAW_SETTINGS"]
    caller = caller or current_app.config["WEDRAW_SERVICE"]
    url = settings.service_urls[target].rstrip("/") + path
    headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {service_token(settings, caller)}"}
    try:
        response = _http().request(method, url, headers=headers, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise ApiError(503, f"The {target} service is unreachable.", "service_unavailable") from exc
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.reason)
        except ValueError:
            message = response.reason
        status = response.status_code if response.status_code in (404, 409, 422) else 502
        raise ApiError(status, f"{target}: {message}", "upstream_error" if status == 502 else None)
    return response.json() if response.content else None
