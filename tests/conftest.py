"""Fixtures: a private PostgreSQL database and Redis db per run, the app, real Celery workers."""
from __future__ import annotations

import functools
import os
import secrets
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import jinja2
import jinja2.bccache
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


class _SharedTemplates(jinja2.BytecodeCache):
    """Compiled templates shared by every app the tests create.

    Flask gives each app a Jinja environment of its own, which compiles each template again on
    first use (~10 ms a page); the tests create hundreds of apps. An entry carries its template's
    source checksum, so a template edited during the run is compiled anew.
    """

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(scope="session", autouse=True)
def shared_templates() -> Iterator[None]:
    """Apps made in this process compile each template once between them; production is untouched."""
    import flask

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flask.Flask, "jinja_options", {**flask.Flask.jinja_options, "bytecode_cache": _SharedTemplates()})
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_data() -> Iterator[None]:
    """boto3 sessions made in this process share one loader of botocore's service descriptions.

    S3Storage makes a boto3 session per instance, and each reads and parses the S3 description
    again (~0.15 s); the tests make dozens. The files are botocore's own and do not change.
    """
    import botocore.loaders
    import botocore.session

    loaders: dict[str | None, botocore.loaders.Loader] = {}

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in loaders:
            loaders[search_path_string] = botocore.loaders.create_loader(search_path_string)
        return loaders[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", create_loader)
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_url_builders() -> Iterator[None]:
    """Apps made in this process share werkzeug's generated URL builders; production is untouched.

    Werkzeug writes, compiles and loads a Python function to build each route's URLs, twice a route,
    for every app: two thirds of create_app (~20 ms of ~30). The function depends only on the
    route's parts and defaults (the rule is passed to it when called), so one per distinct route serves
    every app, and each rule still binds its own.
    """
    from werkzeug.routing.rules import Rule

    original = Rule._compile_builder
    builders: dict[tuple, Callable[..., tuple[str, str]]] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        key = (tuple(self._trace), repr(sorted((self.defaults or {}).items())), append_unknown,
               tuple((name, type(converter), converter.regex) for name, converter in self._converters.items()))
        if key not in builders:
            builders[key] = original(self, append_unknown)
        return builders[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compile_builder)
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_font_subsets() -> Iterator[None]:
    """E-books built in this process with the same letters share their font subsets.

    fontTools takes ~0.2 s to cut a face to a book's letters, twice a book (regular and bold), and
    the tests build dozens of e-books from a handful of texts. Each set of letters is still cut for
    real once (the same letters give the same bytes: tests/test_epub.py), from fonts that do not
    change during a run. Production, and the workers the tests start, cut every book's fonts. (A
    test that makes the cutting fail needs letters no earlier test used, or it gets the earlier cut.)
    """
    try:
        import worker.book.epub as epub
    except ImportError:  # the tests that build e-books say why
        yield
        return
    original = getattr(epub, "_font_subsets", None)
    if original is None:  # the e-book package has changed shape: nothing to share
        yield
        return
    cut: dict[tuple, tuple[bytes, bytes]] = {}

    def font_subsets(registered, texts: list[str]) -> tuple[bytes, bytes]:
        key = (str(registered.regular_path), str(registered.bold_path), frozenset(ord(ch) for text in texts for ch in text))
        if key not in cut:
            cut[key] = original(registered, texts)
        return cut[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(epub, "_font_subsets", font_subsets)
        yield


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test run only, migrated to head, dropped at the end."""
    with private_database("talesrunner_test") as url:
        yield url


# Test runs share the Redis server (several engineers, CI) and each takes logical databases 1-15
# for itself with a claim key. A claim must be exclusive for as long as it is held: a run whose
# worker listens on a database that another run (or this run's spare_redis_url) also takes sends
# that worker the other's books, and it works on them with its own settings (a `none` caption in
# place of BLIP's, tests/test_captioner.py).
REDIS_CLAIM = "talesrunner:test-run"
# A claim lapses unless renewed: a run that was killed frees its databases within two minutes. A
# thread renews the claims this process holds, so a run may hold one for as long as it needs.
CLAIM_TTL_S = 120
CLAIM_RENEW_S = 15
# What a Celery worker blocks in while it waits for a message (kombu's Redis transport: BRPOP): a
# database with such a connection is in use, whatever its claim says (a run killed before it could
# stop its workers; a claim that lapsed).
WAITING_COMMANDS = {"brpop", "blpop", "brpoplpush", "blmove", "blmpop"}
# Each runs in Redis as one step: no other run sees the database between its parts.
_EMPTY_AND_KEEP = ("if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
                   "redis.call('FLUSHDB') redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1")
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_EMPTY_AND_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('FLUSHDB') return 1 end return 0"


class _Renewals:
    """The claims this process holds, renewed every CLAIM_RENEW_S by one daemon thread."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[redis.Redis, str]] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, url: str, client: redis.Redis, token: str) -> None:
        with self.lock:
            self.held[url] = (client, token)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="redis-claims", daemon=True)
                self.thread.start()
        self.wake.set()  # renew now, and from now on at the current CLAIM_RENEW_S

    def remove(self, url: str) -> None:
        with self.lock:
            self.held.pop(url, None)

    def _run(self) -> None:
        while True:
            self.wake.wait(CLAIM_RENEW_S)
            self.wake.clear()
            with self.lock:
                held = list(self.held.values())
            for client, token in held:
                try:
                    client.eval(_RENEW, 1, REDIS_CLAIM, token, _ttl_ms())
                except Exception:  # noqa: BLE001 - a renewal missed is retried; the release says so if the claim is lost
                    pass


_renewals = _Renewals()


def _ttl_ms() -> int:
    return max(1, round(CLAIM_TTL_S * 1000))


def _waited_on(client: redis.Redis) -> set[int]:
    """The databases some connection is blocked waiting for a message on (a worker listening)."""
    try:
        connections = client.client_list()
    except redis.ResponseError:  # CLIENT renamed or refused on this server: the claims alone decide
        return set()
    return {int(c["db"]) for c in connections if c.get("cmd") in WAITING_COMMANDS and c.get("db", "").isdigit()}


@contextmanager
def claimed_redis_db() -> Iterator[str]:
    """A Redis logical database no other test run (and no worker) is using, emptied before and after.

    The claim is taken with SET NX; emptying the database keeps it (one step, not a FLUSHDB then a
    SET that another run could come between); it is renewed while held; and the release empties
    only a database still claimed by this holder, so it can never empty another run's.
    """
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    probe = redis.Redis.from_url(REDIS_BASE)
    try:
        busy = _waited_on(probe)
    finally:
        probe.close()
    for number in range(15, 0, -1):
        if number in busy:
            continue
        client = redis.Redis.from_url(f"{REDIS_BASE}/{number}")
        if client.set(REDIS_CLAIM, token, nx=True, px=_ttl_ms()) and client.eval(
                _EMPTY_AND_KEEP, 1, REDIS_CLAIM, token, _ttl_ms()):
            break
        client.close()
    else:
        raise RuntimeError(f"no free Redis database (1-15) for the tests; workers still listen on {sorted(busy)}")
    url = f"{REDIS_BASE}/{number}"
    _renewals.add(url, client, token)
    try:
        yield url
    finally:
        _renewals.remove(url)
        try:
            released = client.eval(_EMPTY_AND_RELEASE, 1, REDIS_CLAIM, token)
        finally:
            client.close()
        if not released:
            raise RuntimeError(f"Redis database {number} stopped being this test run's claim while it was in use "
                               "(it lapsed, or another run took it); left as it is")


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
        "SECRET_KEY": secrets.token_hex(32),  # every server refuses a key under 32 characters
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
def stub():
    """A local OpenAI-compatible server (tests/openai_stub.py): chat, speech, transcriptions, image edits."""
    from tests.openai_stub import ChatStub

    server = ChatStub().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(db, mail_env):
    """The web app with the module's `mail_env`: it mails through the same server as the worker."""
    from web import create_app

    return create_app(mail_env)


@pytest.fixture
def mail(mailbox, mail_env, db):
    """The mailbox, emptied; after the test, wait until the worker has nothing left in hand."""
    from tests.mailbox import drain

    mailbox.reset()
    yield mailbox
    drain(mail_env)
    mailbox.reset()
