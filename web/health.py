"""Liveness: the database and the broker answer."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from web.db import drop_session, get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether the database and Redis are reachable."""
    checks: dict[str, str] = {}
    try:
        get_session().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, don't crash: this is what health checks are for
        drop_session()
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        current_app.extensions["talesrunner.redis"].ping()
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", **checks), (200 if healthy else 503)
