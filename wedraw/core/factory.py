"""The one application factory: `create_app(service)` builds any WeDraw service.

Web processes (gunicorn via wsgi.py), Celery workers, beat and the embedded runner all
build their apps here. Nothing queries a database while the app is being built.
"""

from __future__ import annotations

import importlib
import time

from flask import Flask, current_app, jsonify, send_from_directory
from flask_limiter import Limiter
from flask_migrate import Migrate
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

import wedraw
from wedraw.core.audit import init_audit
from wedraw.core.auth import assert_routes_declared, init_auth, public
from wedraw.core.config import PROJECT_ROOT, Settings, load_settings
from wedraw.core.db import engine_options
from wedraw.core.errors import WeDrawApi, init_error_handlers
from wedraw.core.logs import configure_logging, init_request_logging
from wedraw.core.registry import callback_prefixes, get_service

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def service_db(app: Flask | None = None):
    """The SQLAlchemy extension of the service that `app` (or the current app) is."""
    return (app or current_app).extensions["wedraw.db"]


def _client_ip() -> str:
    from flask import request

    return request.remote_addr or "unknown"


def _rate_exempt() -> bool:
    """Health probes and WeChat callbacks (guarded by signatures) skip the per-IP limit."""
    from flask import request

    return request.path == "/health" or request.path.startswith(callback_prefixes())


class IdConverter(IntegerConverter):
    """`<id:name>`: a database id, 1 to 2**63-1; anything else is a 404, never a DB error."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**63 - 1)


def _id_param_schema(_converter) -> dict:
    return {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}


def _openapi_config(spec) -> dict:
    return {
        "API_TITLE": f"WeDraw {spec.title}",
        "API_VERSION": wedraw.__version__,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "swagger-ui",
        # Assets are served locally by the gateway under /docs/assets (no CDN).
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
            "security": [{"bearerAuth": []}],
        },
    }


def create_app(
    service: str, settings: Settings | None = None, celery=None, audit_sink=None, options: dict | None = None
) -> Flask:
    """Build the Flask app of one registry service.

    `options` are service-specific build options (the sandbox's host and world size).
    """
    spec = get_service(service)
    settings = settings or load_settings()
    module = importlib.import_module(spec.package)

    configure_logging(service, settings.log_level, settings.log_file)
    app = Flask(spec.package, static_folder=None)
    app.config.update(
        WEDRAW_SETTINGS=settings,
        WEDRAW_SERVICE=service,
        WEDRAW_OPTIONS=options or {},
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        PROPAGATE_EXCEPTIONS=False,
        TESTING=settings.profile == "test",
        **_openapi_config(spec),
    )
    app.json.ensure_ascii = False
    app.url_map.converters["id"] = IdConverter
    if settings.proxy_count:
        # Trust X-Forwarded-* only as many hops deep as there are proxies we run.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count, x_host=settings.proxy_count
        )

    init_request_logging(app, service)

    if spec.database:
        url = settings.database_url(service)
        if url.startswith("sqlite:///"):
            (settings.var_dir / "db").mkdir(parents=True, exist_ok=True)
        db = module.db
        app.config["SQLALCHEMY_DATABASE_URI"] = url
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(url)
        db.init_app(app)
        Migrate(app, db, directory=str(MIGRATIONS_DIR / service), render_as_batch=url.startswith("sqlite"))
        app.extensions["wedraw.db"] = db

    if spec.kind == "sandbox":
        # WeChat's side of the wire: it authenticates by WeChat's own rules (access_token),
        # not by admin JWTs, and must not rate-limit by our policy.
        api = WeDrawApi(app)
        init_error_handlers(app)
        module.register(app, api)
        return app

    limiter = Limiter(
        key_func=_client_ip,
        app=app,
        application_limits=[settings.rate_limit],
        storage_uri=settings.rate_limit_storage_url,
        headers_enabled=True,
        strategy="moving-window",
    )
    # A request filter, not `application_limits_exempt_when`: the limiter stops at it, before resolving
    # any limit, which keeps that work off every WeChat callback.
    limiter.request_filter(_rate_exempt)
    app.extensions["wedraw.limiter"] = limiter

    init_auth(app)

    if celery is None:
        from wedraw.core.celery_app import make_celery

        celery = make_celery(service, settings, flask_app_factory=lambda: app) if spec.queues else None
    if celery is None:
        from celery import Celery

        from wedraw.core.celery_app import celery_config

        celery = Celery(f"wedraw.{service}.sender", set_as_current=False)
        celery.conf.update(celery_config(settings))
    app.extensions["celery"] = celery

    api = WeDrawApi(app)
    api.register_converter(IdConverter, _id_param_schema)
    init_error_handlers(app)
    _add_health(app, spec)
    swagger_assets_route(app)
    module.register(app, api)
    init_audit(app, service, audit_sink or getattr(module, "audit_sink", None))
    from wedraw.core.metrics import init_metrics

    init_metrics(app, service)
    assert_routes_declared(app)
    return app


def _add_health(app: Flask, spec) -> None:
    if spec.name == "gateway":
        return  # the gateway's /health aggregates every service

    @public
    def health():
        body = {"status": "ok", "service": spec.name, "version": wedraw.__version__}
        status = 200
        if spec.database:
            started = time.perf_counter()
            try:
                with service_db().engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                body["database"] = "ok"
                body["database_ms"] = round((time.perf_counter() - started) * 1000, 2)
            except Exception as exc:  # report, never raise: this is what monitors read
                body.update(status="error", database="error", error=type(exc).__name__)
                status = 503
        return jsonify(body), status

    app.add_url_rule("/health", "health", health, methods=["GET"])


def swagger_assets_route(app: Flask) -> None:
    """Serve Swagger UI's files locally (the machine may have no internet)."""
    from swagger_ui_bundle import swagger_ui_path

    @public
    def swagger_assets(filename):
        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    app.add_url_rule("/docs/assets/<path:filename>", "swagger_assets", swagger_assets, methods=["GET"])
