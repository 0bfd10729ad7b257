"""Gateway routes: /health, /docs, /docs/specs/<service>.json and /auth/check."""

from __future__ import annotations

import json

from flask import jsonify
from flask_smorest import Api

from wedraw.core.auth import authenticated, public
from wedraw.gateway import services

DOCS_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>WeDraw API 文档</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({
  urls: %(urls)s,
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  persistAuthorization: true
});
</script></body></html>"""


@public
def health():
    body, status = services.aggregate_health()
    return jsonify(body), status


@public
def docs():
    urls = [
        {"url": f"/docs/specs/{item['name']}.json", "name": f"{item['title']} ({item['name']})"}
        for item in services.doc_services()
    ]
    # Names and titles come from the service registry, never from the request.
    page = DOCS_PAGE % {"urls": json.dumps(urls)}
    return page, 200, {"Content-Type": "text/html; charset=utf-8"}


@public
def spec(name):
    return jsonify(services.service_spec(name))


@authenticated
def auth_check():
    """For Nginx `auth_request`: 204 with a valid admin token, 401/403 otherwise."""
    return "", 204


def register(app, api: Api) -> None:
    app.add_url_rule("/health", "health", health, methods=["GET"])
    app.add_url_rule("/docs", "docs", docs, methods=["GET"])
    app.add_url_rule("/docs/", "docs_slash", docs, methods=["GET"])
    app.add_url_rule("/docs/specs/<string:name>.json", "spec", spec, methods=["GET"])
    app.add_url_rule("/auth/check", "auth_check", auth_check, methods=["GET"])
