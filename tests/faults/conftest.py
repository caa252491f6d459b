"""The fault suite's own deployment: a private PostgreSQL database, a private redis-server it may
flush and restart, its own DATA_DIR, short lease and reconcile timings, and workers it may SIGKILL.

Nothing here touches the shared PostgreSQL or Redis servers beyond creating and dropping the
private database; the session worker of the other tests never sees these books.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from shared.db import session_factory
from shared.models import Base
from tests.conftest import REPO
from tests.databases import private_database

# Short timings so every fault resolves in seconds (production defaults: 3 s beat, 12 s lease).
TIMINGS = {
    "TALES_HEARTBEAT_S": "0.3",
    "TALES_LEASE_S": "2",
    "TALES_SWEEP_EVERY_S": "0.5",
    "TALES_LOST_GRACE_S": "1",
    "TALES_STALE_AFTER_S": "900",
    "TALES_TASK_RETRY_BASE_S": "0.2",
    "TALES_EMAIL_RETRY_BASE_S": "0.2",
    "TALES_MAX_LOST_RUNS": "2",
    # A replacement renders seconds after the kill: the killed render's temporary files are older.
    "TALES_TEMP_FILE_GRACE_S": "1",
    "TALES_DB_CONNECT_TIMEOUT_S": "2",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of this suite only, on a free port, without persistence: FLUSHALL and restarts are ours."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def crash(self) -> None:
        """SIGKILL the server: every queued message is gone (no persistence)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture(scope="session")
def fault_redis(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("fault-redis"))
    server.start()
    yield server
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def fault_pg_url() -> Iterator[str]:
    with private_database("talesrunner_faults") as url:
        yield url


@pytest.fixture(scope="session")
def fault_env(fault_pg_url, fault_redis, tmp_path_factory) -> dict[str, str]:
    return {
        "DATABASE_URL": fault_pg_url,
        "REDIS_URL": fault_redis.url,
        "DATA_DIR": str(tmp_path_factory.mktemp("fault-data")),
        "SECRET_KEY": secrets.token_hex(32),
        "TALES_CAPTIONER": "none",
        "TALES_WRITER": "template",
        "TALES_TRANSLATOR": "none",
        "TALES_RATELIMIT_ENABLED": "false",
        **TIMINGS,
    }


@pytest.fixture
def fault_db(fault_pg_url, fault_redis) -> str:
    """Empty tables and an empty Redis for each test."""
    engine = session_factory(fault_pg_url).kw["bind"]
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    fault_redis.client().flushall()
    return fault_pg_url


class Workers:
    """Start, kill and stop worker processes (with fault hooks) against the fault deployment."""

    def __init__(self, env: dict[str, str], directory: Path):
        self.env = env
        self.directory = directory
        self.markers = directory / "markers"
        self.markers.mkdir(exist_ok=True)
        self.running: list[subprocess.Popen] = []
        self.count = 0

    def start(self, *args: str, wait: bool = True, **faults: str) -> subprocess.Popen:
        """A worker (`--queues gpu,cpu` unless args say otherwise) with FAULT_* settings; once it is ready."""
        self.count += 1
        log_path = self.directory / f"worker-{self.count}.log"
        faults.setdefault("text", "plain")
        env = {**os.environ, **self.env, "FAULT_DIR": str(self.markers), **{f"FAULT_{k.upper()}": v for k, v in faults.items()}}
        log = open(log_path, "wb")
        process = subprocess.Popen([sys.executable, "-m", "tests.faults.fault_worker", *(args or ("--queues", "gpu,cpu"))],
                                   cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        process.log_path, process.log_file = log_path, log  # type: ignore[attr-defined]
        self.running.append(process)
        if wait:
            self.wait_ready(process)
        return process

    def wait_ready(self, process: subprocess.Popen, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in process.log_path.read_text(errors="replace"):
                return time.monotonic()
            if process.poll() is not None:
                raise RuntimeError("worker exited:\n" + process.log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.05)
        raise RuntimeError("worker did not start:\n" + process.log_path.read_text(errors="replace")[-3000:])

    def wait_marker(self, stage: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not list(self.markers.glob(f"{stage}.*")):
            assert time.monotonic() < deadline, f"no worker entered {stage}"
            time.sleep(0.02)

    def clear_markers(self) -> None:
        for marker in self.markers.iterdir():
            marker.unlink()

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and every process it started (prefork children too)."""
        try:
            children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        except FileNotFoundError:
            children = []
        process.send_signal(signal.SIGKILL)
        for child in children:
            try:
                os.kill(int(child), signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()
        self._close(process)

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(process)
                return
        self._close(process)

    def _close(self, process: subprocess.Popen) -> None:
        process.log_file.close()  # type: ignore[attr-defined]
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process)


@pytest.fixture
def workers(fault_env, fault_db, tmp_path) -> Iterator[Workers]:
    pool = Workers(fault_env, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def fault_app(fault_env, fault_db):
    from web import create_app

    return create_app(dict(fault_env))


@pytest.fixture
def fault_client(fault_app):
    return fault_app.test_client()
