"""Fixtures: a private PostgreSQL database and Redis db per run, the app, real Celery workers."""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from shared.db import session_factory
from shared.models import Base
from talesrunner.processes import WORKER_READY, Child
from tests.databases import private_database
from tests.helpers import REPO
from tests.web_helpers import ApiActions

REDIS_BASE = os.environ.get("TEST_REDIS_BASE", "redis://127.0.0.1:6379")
# Werkzeug's default scrypt (n=2**15) takes ~0.2 s of CPU a hash and the tests sign up and log in
# about 170 times: a third of the fast lane. The same scrypt at n=2**10 runs the same code.
TEST_PASSWORD_HASH = "scrypt:1024:8:1"


def pytest_collection_modifyitems(config, items):
    """Run the tests that need a worker process, models or a browser last, after the fast ones."""
    slow = ("e2e", "browser", "models")
    items.sort(key=lambda item: any(item.get_closest_marker(m) for m in slow))


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Passwords hashed in this process use scrypt at TEST_PASSWORD_HASH's cost; production keeps the default."""
    from werkzeug.security import generate_password_hash

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("web.auth.generate_password_hash", functools.partial(generate_password_hash, method=TEST_PASSWORD_HASH))
        yield


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test run only, migrated to head, dropped at the end."""
    with private_database("talesrunner_test") as url:
        yield url


@contextmanager
def claimed_redis_db() -> Iterator[str]:
    """A Redis logical database no other test run is using (runs can share the server), emptied after."""
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_BASE}/{number}")
        if client.set("talesrunner:test-run", str(os.getpid()), nx=True, ex=3600):
            break
        client.close()
    else:
        raise RuntimeError("no free Redis database (1-15) for the tests")
    client.flushdb()
    # The flush took the claim with it; put it back for as long as the database is in use.
    client.set("talesrunner:test-run", str(os.getpid()), ex=3600)
    try:
        yield f"{REDIS_BASE}/{number}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with claimed_redis_db() as url:
        yield url


@pytest.fixture
def spare_redis_url() -> Iterator[str]:
    """A second Redis database that no worker listens on, to look at queued messages."""
    with claimed_redis_db() as url:
        yield url


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
        # DELETE rather than TRUNCATE: on tables this small TRUNCATE costs 50-200 ms a test (it
        # replaces every table's files), DELETE a few ms. Children go first for the foreign keys,
        # and the id sequences restart as TRUNCATE ... RESTART IDENTITY made them.
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(text("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) "
                                "FROM pg_sequences WHERE schemaname = current_schema()"))
    yield pg_url


@pytest.fixture
def app(db, service_env):
    from web import create_app

    return create_app({key: value for key, value in service_env.items()})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client) -> ApiActions:
    return ApiActions(client)


@contextmanager
def running_worker(env: dict[str, str], log_path: Path) -> Iterator[Child]:
    """A real `talesrunner worker --queues gpu,cpu` process with `env`, once it says it is ready; stopped after."""
    with Child(["worker", "--queues", "gpu,cpu"], log_path, env, cwd=REPO) as worker:
        worker.wait_for_line(WORKER_READY, timeout=90)
        yield worker


@pytest.fixture(scope="session")
def worker_process(service_env) -> Iterator[Child]:
    """A real Celery worker process serving both queues against the test database and Redis."""
    with running_worker(service_env, Path(service_env["DATA_DIR"]) / "worker.log") as worker:
        yield worker


@pytest.fixture(scope="module")
def worker_with(service_env, tmp_path_factory) -> Iterator[Callable[..., Child]]:
    """`worker_with(**env)`: a real worker with `env` over the session's settings, on a Redis database of its own.

    The worker's `.env` is what an app that talks to it needs. Workers stop, and their Redis
    databases are emptied, when the module is done.
    """
    with ExitStack() as started:
        def start(**env: str) -> Child:
            # Its own Redis database: the session's worker must not take this worker's books.
            redis_url = started.enter_context(claimed_redis_db())
            log_path = tmp_path_factory.mktemp("worker") / "worker.log"
            return started.enter_context(running_worker({**service_env, "REDIS_URL": redis_url, **env}, log_path))

        yield start


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


# Mail through a real SMTP server (aiosmtpd on loopback). A module that uses `mail` gives the
# `mail_env` its worker and web app share.
@pytest.fixture(scope="module")
def mailbox():
    """A test SMTP server of the module's own."""
    from tests.mailbox import smtp_server

    with smtp_server() as handler:
        yield handler


@pytest.fixture
def mail(mailbox, mail_env, db):
    """The mailbox, emptied; after the test, wait until the worker has nothing left in hand."""
    from tests.mailbox import drain

    mailbox.reset()
    yield mailbox
    drain(mail_env)
    mailbox.reset()
