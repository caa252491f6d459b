"""Fixtures: a private PostgreSQL database and Redis db per run, the app, a real Celery worker."""
from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import text

from migrations import upgrade
from shared.db import session_factory
from shared.models import Base

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("TEST_REDIS_BASE", "redis://127.0.0.1:6379")


def pytest_collection_modifyitems(config, items):
    """Run the tests that need a worker process, models or a browser last, after the fast ones."""
    slow = ("e2e", "browser", "models")
    items.sort(key=lambda item: any(item.get_closest_marker(m) for m in slow))


def _sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test run only, migrated to head, dropped at the end."""
    name = f"talesrunner_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _sqlalchemy_url(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    upgrade(url)
    yield url
    session_factory(url).kw["bind"].dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _claim_redis_db() -> tuple[str, redis.Redis]:
    """A Redis logical database no other test run is using (runs can share the server)."""
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_BASE}/{number}")
        if client.set("talesrunner:test-run", str(os.getpid()), nx=True, ex=3600):
            client.flushdb()
            client.set("talesrunner:test-run", str(os.getpid()), ex=3600)
            return f"{REDIS_BASE}/{number}", client
    raise RuntimeError("no free Redis database (1-15) for the tests")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url, client = _claim_redis_db()
    yield url
    client.flushdb()


@pytest.fixture
def spare_redis_url() -> Iterator[str]:
    """A second Redis database that no worker listens on, to look at queued messages."""
    url, client = _claim_redis_db()
    yield url
    client.flushdb()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def service_env(pg_url, redis_url, data_dir) -> dict[str, str]:
    """The environment the web tier and the worker share in the tests."""
    return {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret",
        "TALES_CAPTIONER": "none",
        "TALES_WRITER": "template",
        "TALES_TRANSLATOR": "none",
        "TALES_STALE_AFTER_S": "900",
        # Workers of different tests share this database but not a Redis database: a book whose
        # message sits in another test's Redis must not look lost (tests/faults/ use their own).
        "TALES_LOST_GRACE_S": "3600",
        # Every test signs up and logs in from 127.0.0.1 in quick succession; the tests that
        # prove the limits turn them on for their own app (tests/test_pages.py).
        "TALES_RATELIMIT_ENABLED": "false",
    }


@pytest.fixture
def db(pg_url) -> Iterator[str]:
    """An empty database for each test."""
    engine = session_factory(pg_url).kw["bind"]
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield pg_url


@pytest.fixture
def app(db, service_env):
    from web import create_app

    return create_app({key: value for key, value in service_env.items()})


@pytest.fixture
def client(app):
    return app.test_client()


class ApiActions:
    """Sign up users and act as them through the JSON API."""

    def __init__(self, client):
        self.client = client

    def user(self, email: str = "parent@example.com", password: str = "correct horse") -> dict[str, str]:
        assert self.client.post("/api/v1/users", json={"email": email, "password": password}).status_code == 201
        token = self.client.post("/api/v1/tokens", json={"email": email, "password": password}).json["token"]
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(client) -> ApiActions:
    return ApiActions(client)


@pytest.fixture(scope="session")
def worker_process(service_env) -> Iterator[subprocess.Popen]:
    """A real Celery worker process serving both queues against the test database and Redis."""
    from tests.workers import start_worker, stop_worker  # imported late: it imports this module

    process = start_worker(service_env, Path(service_env["DATA_DIR"]) / "worker.log")
    yield process
    stop_worker(process)


def wait_for(client, headers, url: str, statuses: set[str], timeout: float = 120.0) -> dict:
    """Poll a book until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        book = client.get(url, headers=headers).json
        if book["status"] in statuses:
            return book
        time.sleep(0.2)
    raise AssertionError(f"book stayed {book['status']} ({book.get('error')}) past {timeout}s")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """Small random-weight BLIP, KoT5 and translator models, written once per run through the CLI."""
    from talesrunner.cli import main

    directory = tmp_path_factory.mktemp("tiny-models")
    assert main(["make-tiny-models", str(directory)]) == 0
    return directory


@pytest.fixture
def fresh_models():
    """An empty model cache before and after the test, so load counts start at zero."""
    from worker.ml import loading

    loading.clear()
    yield loading
    loading.clear()
