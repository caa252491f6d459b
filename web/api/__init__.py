"""JSON API, version 1 (SPEC §3)."""
from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

from web.api import accounts, books, openapi  # noqa: E402,F401  (routes register on import)
