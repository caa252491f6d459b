"""JSON API, version 1 (docs/api.md lists the routes)."""
from __future__ import annotations

from web.api import books, links, openapi, pictures, transcriptions, users  # noqa: F401  (routes register on import)
from web.api.blueprint import api

__all__ = ["api"]
