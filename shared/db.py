"""Engine and session factory for a database URL."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **options) -> Engine:
    """An engine; SQLite gets WAL and a busy timeout so web and worker can share it.

    PostgreSQL gets a connect timeout and a statement timeout (TALES_DB_CONNECT_TIMEOUT_S,
    TALES_DB_STATEMENT_TIMEOUT_S), so a database that does not answer fails a request in
    seconds instead of hanging it.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **options)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    from shared.config import get_settings

    settings = get_settings()
    connect_args: dict = {"connect_timeout": settings.TALES_DB_CONNECT_TIMEOUT_S}
    if settings.TALES_DB_STATEMENT_TIMEOUT_S:
        connect_args["options"] = f"-c statement_timeout={int(settings.TALES_DB_STATEMENT_TIMEOUT_S * 1000)}"
    defaults = {"pool_pre_ping": True, "pool_timeout": settings.TALES_DB_CONNECT_TIMEOUT_S * 2, "connect_args": connect_args}
    return create_engine(url, **{**defaults, **options})


@lru_cache(maxsize=8)
def read_engine(url: str) -> Engine:
    """An engine for hot read-only paths (the status poll): autocommit, so no BEGIN/ROLLBACK round
    trips, and no ping per checkout (a dropped connection is retried by the caller instead)."""
    return make_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_recycle=1800)


@lru_cache(maxsize=8)
def session_factory(url: str) -> sessionmaker[Session]:
    """One sessionmaker (and engine) per URL per process."""
    return sessionmaker(make_engine(url), expire_on_commit=False)
