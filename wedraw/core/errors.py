"""One JSON error format for every error status of every service.

`{"code": "...", "message": "...", "request_id": "..."}` plus `errors` (field -> messages)
for validation problems. Never an HTML page, never a stack trace.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("wedraw.errors")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
}

MESSAGES = {
    400: "The request could not be understood.",
    401: "Authentication is required.",
    403: "You do not have permission to do this.",
    404: "Not found.",
    405: "This method is not allowed here.",
    409: "The request conflicts with the current state.",
    413: "The request body is too large.",
    422: "The request has invalid fields.",
    429: "Too many requests; slow down.",
    500: "Internal server error.",
    503: "Service unavailable.",
}


class ApiError(HTTPException):
    """A business error raised by services: status, stable code and a clear message."""

    def __init__(self, status: int, message: str, code: str | None = None, errors: dict | None = None):
        super().__init__(description=message)
        self.code = status
        self.error_code = code or CODES.get(status, "error")
        self.errors = errors


class ErrorSchema(Schema):
    """The error body every WeDraw endpoint returns (documented in every OpenAPI file)."""

    code = fields.String(required=True, metadata={"description": "Stable machine-readable code"})
    message = fields.String(required=True)
    request_id = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), metadata={"description": "Field -> messages (validation)"})


class WeDrawApi(Api):
    ERROR_SCHEMA = ErrorSchema


def error_response(status: int, code: str, message: str, errors: dict | None = None, headers=None):
    body = {"code": code, "message": message, "request_id": getattr(g, "request_id", None)}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    if headers:
        for key, value in headers:
            if key.lower() not in ("content-type", "content-length"):
                response.headers[key] = value
    return response


def _flatten_validation(messages) -> dict | None:
    """webargs nests messages by location ({"json": {"field": [...]}}); flatten to fields."""
    if not isinstance(messages, dict):
        return None
    flat: dict = {}
    for location, problems in messages.items():
        if isinstance(problems, dict):
            flat.update(problems)
        else:
            flat[location] = problems
    return flat


def handle_http_exception(exc: HTTPException):
    status = exc.code or 500
    if isinstance(exc, ApiError):
        return error_response(status, exc.error_code, exc.description, exc.errors)
    data = getattr(exc, "data", None) or {}
    errors = _flatten_validation(data.get("messages"))
    message = data.get("message") or (exc.description if status not in (404, 405, 500) else None)
    if status == 422 and errors:
        fields = ", ".join(sorted(str(k) for k in errors))
        message = f"Invalid or unknown fields: {fields}"
    elif status == 400 and errors:
        message = "; ".join(str(m) for v in errors.values() for m in (v if isinstance(v, list) else [v]))
    if status == 429:
        message = MESSAGES[429] + (f" Limit: {exc.description}." if exc.description else "")
    headers = exc.get_response().headers if status in (405, 429) else None
    return error_response(
        status, CODES.get(status, "error"), message or MESSAGES.get(status, exc.name), errors, headers
    )


def handle_unexpected(exc: Exception):
    log.exception("unhandled error")
    return handle_http_exception(InternalServerError())


def init_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
