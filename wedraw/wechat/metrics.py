"""In-process counters for WeChat traffic: token fetches per app, API calls per endpoint and errcode.

A small registry with `snapshot()`; exporting to Prometheus later reads the same counters.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict


class WeChatMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token_fetches: Counter[tuple[str, str]] = Counter()
        self._api_calls: Counter[tuple[str, str]] = Counter()
        self._api_ms: defaultdict[str, float] = defaultdict(float)

    def token_fetched(self, app: str, outcome: int | str = "ok") -> None:
        """One request to WeChat's token endpoint for `app` (outcome: "ok" or the errcode)."""
        with self._lock:
            self._token_fetches[(app, str(outcome))] += 1

    def api_called(self, endpoint: str, errcode: int | str, elapsed_ms: float) -> None:
        """One HTTP request to WeChat (errcode 0 for success, or e.g. "timeout", "http_502")."""
        with self._lock:
            self._api_calls[(endpoint, str(errcode))] += 1
            self._api_ms[endpoint] += elapsed_ms

    def token_fetch_count(self, app: str) -> int:
        with self._lock:
            return sum(n for (a, _), n in self._token_fetches.items() if a == app)

    def snapshot(self) -> dict:
        """{"token_fetches": {app: {outcome: n}}, "api_calls": {endpoint: {errcode: n}}, "api_ms": {endpoint: ms}}"""
        with self._lock:
            fetches: dict[str, dict[str, int]] = defaultdict(dict)
            for (app, outcome), n in self._token_fetches.items():
                fetches[app][outcome] = n
            calls: dict[str, dict[str, int]] = defaultdict(dict)
            for (endpoint, errcode), n in self._api_calls.items():
                calls[endpoint][errcode] = n
            return {
                "token_fetches": dict(fetches),
                "api_calls": dict(calls),
                "api_ms": {k: round(v, 1) for k, v in self._api_ms.items()},
            }

    def reset(self) -> None:
        with self._lock:
            self._token_fetches.clear()
            self._api_calls.clear()
            self._api_ms.clear()


metrics = WeChatMetrics()
