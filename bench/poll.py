"""Status polls against the web tier as deployed (gunicorn), beside a hello-world app on the same server settings.

    .venv/bin/python bench/poll.py                 # 10 s per load level; --duration S, --connections 8,32

Starts, on a private PostgreSQL database and Redis database: one worker (template writer,
no captioner) and `talesrunner web` (gunicorn with its defaults), plus a hello-world Flask app
served by the same gunicorn configuration (web.server.gunicorn_config). It makes a 10-scene
book and waits until it is done, then measures with wrk (Debian's `wrk`): the hello endpoint
and the real status poll (`GET /api/v1/books/<id>` with a bearer token), at each connection
count; then the same poll revalidated with If-None-Match (304). It also times the warm
submit->done of a 4-scene book (p50 of --books runs). Prints req/s and p99 per line, the load
average at the start, and `ratio=` (poll req/s / hello req/s at the highest connection count) last.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg
import redis
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from talesrunner import samples  # noqa: E402


def hello_app():
    """The hello world every Flask tutorial starts with: no database, no auth, no hooks."""
    from flask import Flask

    app = Flask("hello")

    @app.get("/hello")
    def hello():
        """Hello, World!"""
        return "Hello, World!"

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _claim_redis(base: str) -> tuple[str, redis.Redis]:
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{number}")
        if client.set("talesrunner:test-run", f"bench-{os.getpid()}", nx=True, ex=3600):
            client.flushdb()
            client.set("talesrunner:test-run", f"bench-{os.getpid()}", ex=3600)
            return f"{base}/{number}", client
    raise RuntimeError("no free Redis database (1-15)")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:  # not listening yet, or too busy to answer in time
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


def _wait_worker(log: Path, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None or "ready." in log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    if process.poll() is not None or "ready." not in log.read_text(errors="replace"):
        raise RuntimeError(f"the worker did not start\n{log.read_text(errors='replace')[-3000:]}")


def _wait_done(api: requests.Session, url: str, timeout: float = 120, every: float = 0.01) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        book = api.get(url, timeout=10).json()
        if book["status"] in ("done", "failed"):
            if book["status"] != "done":
                raise RuntimeError(f"book failed: {book['error']}")
            return book
        time.sleep(every)
    raise RuntimeError("book did not finish")


def _submit(api: requests.Session, base: str, scenes: int) -> dict:
    photos = (samples.sample_photos() * 3)[:scenes]
    hints = (samples.SCENES * 3)[:scenes]
    response = api.post(f"{base}/api/v1/books", timeout=60,
                        files=[("images", (name, data, "image/jpeg")) for name, data in photos],
                        data={"book": json.dumps({"title": samples.TITLE, "scenes": hints}, ensure_ascii=False)})
    response.raise_for_status()
    return response.json()


def _wrk(url: str, connections: int, duration: float, headers: list[str]) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) from one wrk run."""
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration:g}s", "--latency", "--timeout", "5s"]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return rate, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--books", type=int, default=7, help="4-scene books timed submit->done")
    parser.add_argument("--pg-admin", default=os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-base", default=os.environ.get("TEST_REDIS_BASE", "redis://127.0.0.1:6379"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/poll.py needs wrk (apt-get install wrk; scripts/setup.sh installs it)", file=sys.stderr)
        return 2
    levels = [int(c) for c in args.connections.split(",")]
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")

    from migrations import upgrade
    from shared.config import Settings, database_url
    from web.server import ServerOptions, gunicorn_config

    name = f"talesrunner_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.pg_admin, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    work = Path(tempfile.mkdtemp(prefix="talesrunner-bench-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        stack.callback(_drop_database, args.pg_admin, name)
        redis_url, client = _claim_redis(args.redis_base)
        stack.callback(client.flushdb)
        db_url = database_url(args.pg_admin.rsplit("/", 1)[0] + f"/{name}")
        upgrade(db_url)
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "DATA_DIR": str(work / "data"),
               "SECRET_KEY": secrets.token_hex(16), "TALES_CAPTIONER": "none", "TALES_WRITER": "template",
               "TALES_TRANSLATOR": "none", "TALES_RATELIMIT_ENABLED": "false",
               "TALES_MAX_ACTIVE_BOOKS": "100"}
        settings = Settings(**{k: v for k, v in env.items() if k in Settings.model_fields})
        web_port, hello_port = _free_port(), _free_port()
        config = gunicorn_config(settings, ServerOptions(port=web_port))
        print(f"server: gunicorn {config['worker_class']}, {config['workers']} workers x {config['threads']} threads "
              f"(the defaults of `talesrunner web` here); wrk -t2 on the same machine")

        worker = _start(["-m", "talesrunner.cli", "worker", "--queues", "gpu,cpu"], env, work / "worker.log")
        stack.callback(_stop, worker)
        web = _start(["-m", "talesrunner.cli", "web", "--port", str(web_port)], env, work / "web.log")
        stack.callback(_stop, web)
        hello_code = ("import sys; from bench.poll import hello_app; from shared.config import Settings; "
                      "from web.server import ServerOptions, serve; "
                      f"serve(Settings(), ServerOptions(port={hello_port}), app_factory=hello_app)")
        hello = _start(["-c", hello_code], env, work / "hello.log")
        stack.callback(_stop, hello)
        base = f"http://127.0.0.1:{web_port}"
        _wait_http(f"{base}/healthz", web, work / "web.log")
        _wait_http(f"http://127.0.0.1:{hello_port}/hello", hello, work / "hello.log")
        _wait_worker(work / "worker.log", worker)

        api = requests.Session()
        email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
        api.post(f"{base}/api/v1/users", json={"email": email, "password": password}, timeout=10).raise_for_status()
        token = api.post(f"{base}/api/v1/tokens", json={"email": email, "password": password}, timeout=10).json()["token"]
        api.headers["Authorization"] = f"Bearer {token}"

        # Warm submit -> done: the first book warms the worker (fonts, imports), the rest are timed.
        times = []
        for run in range(args.books + 1):
            started = time.perf_counter()
            book = _submit(api, base, 4)
            _wait_done(api, f"{base}{book['url']}")
            if run:
                times.append(time.perf_counter() - started)
        print(f"submit->done, 4-scene book, template writer: p50 {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} warm runs)")

        book = _submit(api, base, 10)
        book = _wait_done(api, f"{base}{book['url']}")
        poll_url = f"{base}{book['url']}"
        etag = api.get(poll_url, timeout=10).headers["ETag"]
        auth = f"Authorization: Bearer {token}"
        print(f"warm book: {len(book['scenes'])} scenes, {len(api.get(poll_url).content)} bytes of JSON")

        results: dict[tuple[str, int], tuple[float, float]] = {}
        for connections in levels:
            for label, url, headers in (
                ("hello", f"http://127.0.0.1:{hello_port}/hello", []),
                ("poll", poll_url, [auth]),
                ("poll 304", poll_url, [auth, f"If-None-Match: {etag}"]),
            ):
                rate, p99 = _wrk(url, connections, args.duration, headers)
                results[(label, connections)] = (rate, p99)
                print(f"{label:<9} {connections:>3} connections: {rate:8.0f} req/s  p99 {p99:6.1f} ms")
        top = max(levels)
        ratio = results[("poll", top)][0] / results[("hello", top)][0]
        print(f"goal at {top} connections: poll >= 1000 req/s, p99 < 50 ms, ratio >= 0.3")
        print(f"ratio={ratio:.2f}")
    return 0


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
