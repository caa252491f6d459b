"""Seconds from a restarted worker to a killed book moving again, before (stale threshold) and after (leases),
in one run; and the peak memory of the web and worker processes for the worst legal book.

    .venv/bin/python bench/recovery.py [--stale 60] [--rounds 1]

Each round SIGKILLs a worker while it renders a book, starts a fresh worker, and times from that
worker's "ready" to the book moving again (taken back: its holder or status changes) and to done:
- before: leases off (TALES_LEASES=false), as the service ran until issue 13: the worker asks for
  one reconcile when it starts and runs the reconciler every 60 s (--beat); a book counts as lost
  once it has not moved for TALES_STALE_AFTER_S (--stale; the default setting is 900 s).
- after: the shipped defaults (3 s beat, 30 s lease, 5 s sweeps): the new worker sees at once
  that its killed predecessor's pid is gone and takes the book back.
Then the memory attack: ten PNGs at the decode budget (TALES_MAX_DECODE_MB) in one book, and
twenty parallel thumbnail requests; peak RSS is each process's VmHWM.
Everything runs against a private PostgreSQL database and a private redis-server. `ratio=` is
before/after recovery seconds and comes last.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import requests  # noqa: E402

from migrations import upgrade  # noqa: E402
from shared.decoding import BYTES_PER_PIXEL  # noqa: E402
from shared.status import BookStatus  # noqa: E402
from tests.faults.conftest import RedisServer, Workers, free_port  # noqa: E402
from tests.faults.helpers import book_row, wait_status  # noqa: E402
from tests.faults.test_memory import peak_mb, zero_png  # noqa: E402
from tests.helpers import sample_form  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


class Web:
    """The web tier in its own process (tests/faults/web_server.py), reached over HTTP."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"web-{self.port}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "tests.faults.web_server", str(self.port)],
                                            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "ready" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.05)
        account = {"email": f"bench-{uuid.uuid4().hex[:6]}@example.com", "password": "correct horse"}
        requests.post(f"{self.base}/api/v1/users", json=account, timeout=30).raise_for_status()
        token = requests.post(f"{self.base}/api/v1/tokens", json=account, timeout=30).json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _post_book(web: Web, form: dict) -> str:
    files = [("images", (name, data.getvalue(), "image/jpeg")) for data, name in form["images"]]
    response = requests.post(f"{web.base}/api/v1/books", headers=web.headers, files=files,
                             data={"book": form["book"]}, timeout=120)
    response.raise_for_status()
    return response.json()["id"]


def recovery_round(env: dict[str, str], folder: Path, db_url: str, label: str) -> tuple[float, float]:
    """Kill a worker in render; seconds from its replacement's ready to the book moving, and to done."""
    web = Web(env, folder)
    (folder / label).mkdir(exist_ok=True)
    workers = Workers(env, folder / label)
    beat = ("--queues", "gpu,cpu", "--beat", "--schedule", str(workers.directory / "beat-schedule"))
    try:
        victim = workers.start(*beat, pause="render")
        book_id = _post_book(web, sample_form())
        workers.wait_marker("render")
        workers.kill(victim)
        before = book_row(db_url, book_id)
        replacement = workers.start(*beat, wait=False)
        ready = workers.wait_ready(replacement)
        moving = None
        deadline = time.monotonic() + 1200
        while time.monotonic() < deadline:
            book = book_row(db_url, book_id)
            if moving is None and (book.status is not before.status or book.worker_id != before.worker_id
                                   or book.updated_at != before.updated_at):
                moving = time.monotonic() - ready
            if book.status is BookStatus.DONE:
                return moving if moving is not None else time.monotonic() - ready, time.monotonic() - ready
            time.sleep(0.05)
        raise RuntimeError(f"{label}: the book never finished")
    finally:
        workers.stop_all()
        web.stop()


def memory(env: dict[str, str], folder: Path, db_url: str) -> tuple[float, float, int]:
    web = Web({**env, "TALES_MAX_ACTIVE_BOOKS": "10"}, folder)
    (folder / "memory").mkdir(exist_ok=True)
    workers = Workers(env, folder / "memory")
    try:
        budget = int(env.get("TALES_MAX_DECODE_MB", "100"))
        side = int((budget * 2**20 / BYTES_PER_PIXEL) ** 0.5)
        png = zero_png(side)
        scenes = [{"name": "토끼", "i_action": "뛰다", "classification": "자연탐구"}] * 10
        response = requests.post(f"{web.base}/api/v1/books", headers=web.headers, timeout=300,
                                 files=[("images", (f"p{i}.png", png, "image/png")) for i in range(10)],
                                 data={"book": json.dumps({"scenes": scenes}, ensure_ascii=False)})
        response.raise_for_status()
        book_id = response.json()["id"]
        worker = workers.start()
        book = wait_status(db_url, book_id, {BookStatus.DONE, BookStatus.FAILED}, timeout=600)
        assert book.status is BookStatus.DONE, book.error
        urls = [f"{web.base}/books/{book_id}/scenes/{1 + i % 10}/photo-960.jpg" for i in range(20)]
        with ThreadPoolExecutor(max_workers=20) as pool:
            assert all(r.status_code == 200 for r in pool.map(lambda u: requests.get(u, headers=web.headers, timeout=300), urls))
        return peak_mb(web.process.pid), peak_mb(worker.pid), side
    finally:
        workers.stop_all()
        web.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stale", type=int, default=60, help="TALES_STALE_AFTER_S for the 'before' rounds")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="talesrunner-recovery-"))
    name = f"talesrunner_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db_url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    redis_server = RedisServer(folder)
    redis_server.start()
    try:
        upgrade(db_url)
        base = {
            "DATABASE_URL": db_url, "REDIS_URL": redis_server.url, "DATA_DIR": str(folder / "data"),
            "SECRET_KEY": secrets.token_hex(32), "TALES_CAPTIONER": "none", "TALES_WRITER": "template", "TALES_TRANSLATOR": "none",
            "TALES_RATELIMIT_ENABLED": "false",
        }
        old = {**base, "TALES_LEASES": "false", "TALES_STALE_AFTER_S": str(args.stale)}
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        print(f"# command: .venv/bin/python bench/recovery.py --stale {args.stale} --rounds {args.rounds}")
        before, after = [], []
        for round_ in range(args.rounds):
            before.append(recovery_round(old, folder, db_url, f"before-{round_}"))
            print(f"before (stale threshold {args.stale} s, reconciler every 60 s): moving {before[-1][0]:.1f} s, done {before[-1][1]:.1f} s", flush=True)
            after.append(recovery_round(base, folder, db_url, f"after-{round_}"))
            print(f"after (leases: 3 s beat, 30 s lease, sweep every 5 s): moving {after[-1][0]:.1f} s, done {after[-1][1]:.1f} s", flush=True)
        web_mb, worker_mb, side = memory(base, folder, db_url)
        print(f"peak RSS, worst legal book (10 PNGs of {side}x{side}, 20 parallel thumbnails): web {web_mb:.0f} MB, worker {worker_mb:.0f} MB")
        before_s = sum(b[0] for b in before) / len(before)
        after_s = sum(a[0] for a in after) / len(after)
        print(f"recovery_before_s={before_s:.1f} recovery_after_s={after_s:.1f}")
        print(f"ratio={before_s / after_s:.1f}")
    finally:
        redis_server.process.terminate()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
