"""JSON API, version 1 (the README's "JSON API" lists the routes)."""
from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

from web.api import books, openapi, users  # noqa: E402,F401  (routes register on import)
