"""One database session per request."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db import session_factory


def current_settings() -> Settings:
    """The app's settings (read once when the app was built)."""
    return current_app.extensions["talesrunner.settings"]


def get_session() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = session_factory(current_settings().DATABASE_URL)()
    return g.db_session


def drop_session() -> None:
    """Throw the request's session away (after a lost connection); the next use opens a fresh one."""
    session = g.pop("db_session", None)
    if session is not None:
        try:
            session.rollback()
            session.close()
        except Exception:  # the connection is gone already; the pool replaces it
            session.invalidate()


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        try:
            session.rollback()  # nothing uncommitted survives a request
            session.close()
        except Exception:  # the database went away mid-request; the answer was already given
            session.invalidate()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_session)
