"""The Flask web tier: JSON API and pages. Never imports torch or transformers."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from shared.config import Settings, get_settings
from shared.jobs import make_celery
from shared.storage import Storage


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment (or `test_config` overrides), extensions, blueprints."""
    settings = get_settings()
    if test_config:
        settings = settings.model_copy(update=dict(test_config))
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(
        SECRET_KEY=settings.SECRET_KEY,
        # Whole request: every photo at its limit plus the form fields.
        MAX_CONTENT_LENGTH=settings.TALES_MAX_IMAGES * settings.TALES_MAX_IMAGE_BYTES + 1024 * 1024,
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.ensure_ascii = False
    app.extensions["talesrunner.settings"] = settings
    app.extensions["talesrunner.storage"] = Storage(settings.DATA_DIR)
    app.extensions["talesrunner.celery"] = make_celery(settings, "web")

    from web import db, errors
    from web.api import api
    from web.health import bp as health

    db.init_app(app)
    errors.init_app(app)
    app.register_blueprint(api)
    app.register_blueprint(health)
    return app
