"""The Flask web tier: JSON API and pages. Never imports torch or transformers."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask

from shared.config import Settings, get_settings, refuse_weak_secret_key
from shared.decoding import return_large_blocks_to_the_os
from shared.jobs import make_celery
from shared.storage import open_storage


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment (or `test_config` overrides), extensions, blueprints."""
    overrides = dict(test_config or {})
    # Keys that name a setting change the settings; any other key is Flask config (WTF_CSRF_ENABLED…).
    flask_config = {key: overrides.pop(key) for key in list(overrides) if key not in Settings.model_fields}
    settings = get_settings()
    if overrides:
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    # Exit status 4 is gunicorn's "App failed to load": its master stops instead of booting workers forever.
    refuse_weak_secret_key(settings, "talesrunner web", exit_code=4)
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(
        SECRET_KEY=settings.SECRET_KEY,
        # Whole request: every photo at its limit plus the form fields.
        MAX_CONTENT_LENGTH=settings.TALES_MAX_IMAGES * settings.TALES_MAX_IMAGE_BYTES + 1024 * 1024,
        # Any one text field of a form (the `book` JSON, a hint, a page's text): 413 past this.
        MAX_FORM_MEMORY_SIZE=settings.TALES_MAX_JSON_BYTES,
        JSON_AS_ASCII=False,
    )
    app.config.update(flask_config)
    app.json.ensure_ascii = False
    app.extensions["talesrunner.settings"] = settings
    storage = app.extensions["talesrunner.storage"] = open_storage(settings)
    # gunicorn SIGKILLs a worker past its timeout, leaving its S3 scratch folder behind; the workers'
    # sweep may run on another host, so each web process clears this host's once, as it starts.
    storage.remove_stale_scratch()
    app.extensions["talesrunner.celery"] = make_celery(settings, "web")
    timeout = settings.TALES_BROKER_TIMEOUT_S
    app.extensions["talesrunner.redis"] = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
    from web.images import DecodeSlots

    return_large_blocks_to_the_os()  # the decode slots bound memory only if freed pixels leave the process
    app.extensions["talesrunner.decode_slots"] = DecodeSlots(settings.TALES_DECODE_SLOTS)

    from web import db, errors, metrics, request_body, security
    from web.api import api
    from web.health import bp as health
    from web.pages import accounts, books, home, passwords, shared_links

    metrics.init_app(app)  # first: the request id and the clock start before any other hook
    db.init_app(app)
    errors.init_app(app)
    request_body.init_app(app)  # a refused body is read to its end, so the answer is not a reset
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(passwords.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(books.bp)
    app.register_blueprint(shared_links.bp)
    # After the blueprints: CSRF exemptions and rate limits name their views.
    security.init_app(app, api)
    return app
