"""The suite's Redis database claims (tests/conftest.py): one test run's database is never another's.

Runs share the Redis server. When a claim was not exclusive, a run's spare_redis_url could land on the
database its session worker listens on, and that worker captioned the test's book with its own
settings (`none`) while the test ran the BLIP caption stage itself (tests/test_captioner.py, flaky).
These tests use a redis-server of their own, so the database numbers are theirs to predict.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests import conftest
from tests.conftest import claimed_redis_db

# The key a run claims a database with (bench/poll.py claims with it too).
REDIS_CLAIM = "talesrunner:test-run"


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory) -> Iterator[str]:
    """A private redis-server; its base URL (no database number)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/setup.sh installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path_factory.mktemp("redis"))], stdout=subprocess.DEVNULL)
    base = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(base)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    client.close()
    yield base
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def base(own_redis, monkeypatch) -> Iterator[str]:
    """Claims go to the private server, emptied before the test."""
    monkeypatch.setattr(conftest, "REDIS_BASE", own_redis)
    redis.Redis.from_url(own_redis).flushall()
    return own_redis


def claim_of(base: str, number: int) -> bytes | None:
    return redis.Redis.from_url(f"{base}/{number}").get(REDIS_CLAIM)


def test_no_moment_of_a_claim_lets_another_run_take_the_same_database(base, monkeypatch):
    """After every command the claim sends, another run tries to claim the same database: it never may."""
    claimed: set[int] = set()
    taken_by_the_other: list[tuple[int, tuple]] = []
    claiming = True
    original = redis.Redis.execute_command
    other_run = threading.local()

    def execute_command(self, *args, **options):
        result = original(self, *args, **options)
        number = self.connection_pool.connection_kwargs.get("db", 0)
        if args[0] == "SET" and REDIS_CLAIM in args and "NX" in args and result:
            claimed.add(number)
        if claiming and number in claimed and not getattr(other_run, "busy", False):
            other_run.busy = True
            try:
                if original(redis.Redis.from_url(f"{base}/{number}"), "SET", REDIS_CLAIM, "other-run", "NX", "EX", 60):
                    taken_by_the_other.append((number, args[:1]))
            finally:
                other_run.busy = False
        return result

    monkeypatch.setattr(redis.Redis, "execute_command", execute_command)
    with claimed_redis_db() as url:
        claiming = False
        number = int(url.rsplit("/", 1)[1])
        assert claim_of(base, number) not in (None, b"other-run")
    assert claimed == {number}
    assert taken_by_the_other == []


def test_a_database_a_worker_still_listens_on_is_not_claimed_again(base):
    """The session worker's database lost its claim (it lapsed, or another run emptied it): the next
    claim, a spare_redis_url, must not send its messages to that worker."""
    with claimed_redis_db() as url:
        number = int(url.rsplit("/", 1)[1])
        worker = redis.Redis.from_url(url)
        listening = threading.Thread(target=worker.brpop, args=(["gpu", "cpu"], 5), daemon=True)
        listening.start()
        owner = redis.Redis.from_url(url)
        token = owner.get(REDIS_CLAIM)
        deadline = time.monotonic() + 5
        while not any(c.get("cmd") == "brpop" for c in owner.client_list()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        owner.delete(REDIS_CLAIM)
        try:
            with claimed_redis_db() as spare:
                assert spare != url
        finally:
            owner.set(REDIS_CLAIM, token, ex=60)
            owner.lpush("cpu", "wake")  # let the listener go
            listening.join(timeout=5)
    assert claim_of(base, number) is None


def test_a_release_leaves_alone_a_database_that_another_run_has_taken(base):
    with pytest.raises(RuntimeError, match="stopped being this test run's claim"):
        with claimed_redis_db() as url:
            other = redis.Redis.from_url(url)
            # This run's claim lapsed meanwhile, and another run claimed the database and queued work.
            other.set(REDIS_CLAIM, "other-run", ex=60)
            other.lpush("gpu", "the other run's message")
    assert other.get(REDIS_CLAIM) == b"other-run" and other.llen("gpu") == 1


def test_a_claim_held_past_its_expiry_is_renewed(base, monkeypatch):
    with monkeypatch.context() as short:
        short.setattr(conftest, "CLAIM_TTL_S", 0.3)
        short.setattr(conftest, "CLAIM_RENEW_S", 0.05)
        with claimed_redis_db() as url:
            token = redis.Redis.from_url(url).get(REDIS_CLAIM)
            time.sleep(0.8)  # past the claim's expiry twice over
            assert redis.Redis.from_url(url).get(REDIS_CLAIM) == token
    conftest._renewals.wake.set()  # any other claim of this process renewed at once with the usual expiry
