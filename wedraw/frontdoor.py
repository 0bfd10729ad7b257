"""The embedded front door: one address with the same URL layout Nginx has in production.

`/api/...`, `/docs` and `/health` go to the service whose registry prefix matches (the
path is passed on unchanged, as Nginx does); everything else is the admin console's
built files with an SPA fallback to index.html.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from wedraw.core.config import PROJECT_ROOT
from wedraw.core.registry import SERVICES, WEB_SERVICES

WSGIApp = Callable

# WEDRAW_CONSOLE_DIST points at another build of the console (a test run's own, for instance).
CONSOLE_DIST = Path(os.environ.get("WEDRAW_CONSOLE_DIST") or PROJECT_ROOT / "frontend" / "admin" / "dist")
# H5 apps served under their own paths, each an SPA of its own.
H5_APPS = {
    "/h5/points/": PROJECT_ROOT / "frontend" / "points-h5" / "dist",
    "/h5/wechat/": PROJECT_ROOT / "frontend" / "wechat-h5" / "dist",
    "/h5/wecom/": PROJECT_ROOT / "frontend" / "wecom-h5" / "dist",
}

_NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>WeDraw</title>"
    "<p>控制台尚未构建。请运行 <code>make run</code>（会自动构建前端），或在 frontend/admin 中执行 "
    "<code>npm ci &amp;&amp; npm run build</code>。</p>"
)


def prefix_routes(apps: dict[str, WSGIApp]) -> list[tuple[str, WSGIApp]]:
    """(prefix, app) pairs from the registry, longest prefix first."""
    routes = [(prefix, apps[name]) for name in WEB_SERVICES if name in apps for prefix in SERVICES[name].prefixes]
    return sorted(routes, key=lambda item: len(item[0]), reverse=True)


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class StaticSPA:
    """Serve a built single-page app: real files with caching, index.html for the rest."""

    def __init__(self, root: Path, mount: str = "/"):
        self.root = root
        self.mount = mount

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        if not (self.root / "index.html").is_file():
            start_response("503 Service Unavailable", [("Content-Type", "text/html; charset=utf-8")])
            return [_NOT_BUILT.encode()]
        relative = environ.get("PATH_INFO", "/")[len(self.mount) :].lstrip("/")
        candidate = (self.root / relative).resolve()
        inside = candidate == self.root.resolve() or self.root.resolve() in candidate.parents
        if relative and inside and candidate.is_file():
            return self._file(candidate, start_response, immutable=relative.startswith("assets/"))
        if relative.startswith("assets/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        return self._file(self.root / "index.html", start_response, immutable=False)

    @staticmethod
    def _file(path: Path, start_response, immutable: bool) -> Iterable[bytes]:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        body = path.read_bytes()
        start_response(
            "200 OK", [("Content-Type", content_type), ("Cache-Control", cache), ("Content-Length", str(len(body)))]
        )
        return [body]


class FrontDoor:
    def __init__(self, apps: dict[str, WSGIApp], console_dist: Path = CONSOLE_DIST):
        self.routes = prefix_routes(apps)
        self.console = StaticSPA(console_dist)
        self.h5 = [(mount, StaticSPA(root, mount)) for mount, root in H5_APPS.items()]

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        for prefix, app in self.routes:
            if _matches(path, prefix):
                return app(environ, start_response)
        for mount, app in self.h5:
            if path.startswith(mount) or path == mount.rstrip("/"):
                return app(environ, start_response)
        if path.startswith("/api/"):
            # An /api path no service owns: answer in the API's JSON error format.
            body = b'{"code": "not_found", "message": "Not found.", "request_id": null}'
            start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.console(environ, start_response)
