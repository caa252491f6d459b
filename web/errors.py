"""Errors as JSON `{"error": {"code", "message", "field"?}}` under /api; never a bare 500 for bad input."""
from __future__ import annotations

from flask import Flask, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from shared.schemas import describe_error


class ApiError(Exception):
    """A request the service refuses, with a message a person can act on."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None):
    body: dict = {"code": code, "message": message}
    if field:
        body["field"] = field
    return jsonify(error=body), status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz" or not request.accept_mimetypes.accept_html


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        message, field = describe_error(exc)
        return error_response(400, "invalid", message, field)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not _wants_json():
            return exc
        messages = {
            404: "not found",
            405: "method not allowed",
            413: "the upload is too large: at most 10 photos of "
            f"{app.extensions['talesrunner.settings'].TALES_MAX_IMAGE_BYTES // 1_000_000} MB each",
            429: f"too many requests: {exc.description}",
        }
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, messages.get(exc.code or 0, exc.description or code))
