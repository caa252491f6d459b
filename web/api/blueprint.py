"""The API's one blueprint, apart from the route modules so that they import it without a circle."""
from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")
