"""Gateway logic: ask every service for its health and its OpenAPI document."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from flask import current_app

from wedraw.core.errors import ApiError
from wedraw.core.registry import SERVICES, WEB_SERVICES

HEALTH_TIMEOUT = 3.0


def _backends() -> dict[str, str]:
    urls = current_app.config["WEDRAW_SETTINGS"].service_urls
    return {name: urls[name] for name in WEB_SERVICES if name != "gateway"}


def _probe(name: str, url: str) -> dict:
    try:
        response = requests.get(f"{url}/health", timeout=HEALTH_TIMEOUT)
        body = response.json()
        return {
            "status": body.get("status", "error"),
            "http_status": response.status_code,
            "database": body.get("database"),
        }
    except (requests.RequestException, ValueError) as exc:
        return {"status": "down", "error": type(exc).__name__}


def aggregate_health() -> tuple[dict, int]:
    backends = _backends()
    with ThreadPoolExecutor(max_workers=len(backends)) as pool:
        results = dict(zip(backends, pool.map(lambda item: _probe(*item), backends.items()), strict=True))
    down = sorted(name for name, result in results.items() if result["status"] != "ok")
    body = {"status": "ok" if not down else "error", "service": "gateway", "services": results}
    if down:
        body["down"] = down
    return body, 200 if not down else 503


def service_spec(name: str) -> dict:
    if name not in WEB_SERVICES or name == "gateway":
        raise ApiError(404, f"No service named {name!r}.")
    try:
        response = requests.get(f"{_backends()[name]}/openapi.json", timeout=HEALTH_TIMEOUT)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError):
        raise ApiError(503, f"The {name} service did not return its API document.", "service_unavailable") from None


def doc_services() -> list[dict]:
    return [{"name": name, "title": SERVICES[name].title} for name in _backends()]
