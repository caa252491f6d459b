"""The worst legal uploads keep the web and worker processes' memory bounded.

The attack from the issue: PNGs that are tiny on disk and huge once decoded (a 7740x7740 all-zero
PNG is 175 KB and 240 MB decoded). The largest one now accepted decodes to just under the
TALES_MAX_DECODE_MB budget; ten of them in a book, then twenty parallel thumbnail requests.
Peak memory is read from the kernel's high-water mark (VmHWM) of each process.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

from shared.decoding import BYTES_PER_PIXEL
from shared.status import BookStatus
from tests.conftest import REPO
from tests.faults.conftest import free_port
from tests.faults.helpers import assert_settled, wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

BUDGET_MB = 100  # TALES_MAX_DECODE_MB's default
# Before: the worker peaked at 2.85 GB and the web process at 6.16 GB on this attack.
# The web bound: ~90 MB idle + TALES_DECODE_SLOTS (2) x the budget + room for the requests. Without
# shared.decoding.return_large_blocks_to_the_os the threads' heaps kept freed photos: 502-711 MB.
WEB_PEAK_MB = 500
WORKER_PEAK_MB = 500


def zero_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def web(fault_env, fault_db, tmp_path):
    port = free_port()
    log = open(tmp_path / "web.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "tests.faults.web_server", str(port)], cwd=REPO,
                               env={**os.environ, **fault_env, "TALES_MAX_ACTIVE_BOOKS": "10"}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "ready" not in (tmp_path / "web.log").read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()
        time.sleep(0.05)
    process.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield process
    process.terminate()
    process.wait(timeout=10)
    log.close()


def test_the_worst_legal_book_and_parallel_thumbnails_keep_memory_bounded(web, workers, fault_db, fault_env):
    base = web.base
    account = {"email": "big@example.com", "password": "correct horse"}
    assert requests.post(f"{base}/api/v1/users", json=account, timeout=30).status_code == 201
    token = requests.post(f"{base}/api/v1/tokens", json=account, timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    # The photo: refused from its header, before a pixel is decoded.
    bomb = zero_png(7740)
    refused = requests.post(f"{base}/api/v1/books", headers=headers, files=[("images", ("bomb.png", bomb, "image/png"))], timeout=60)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_image"
    assert "열기에 너무 커요" in refused.json()["error"]["message"]

    side = int((BUDGET_MB * 2**20 / BYTES_PER_PIXEL) ** 0.5)  # the largest square PNG still accepted
    largest = zero_png(side)
    files = [("images", (f"p{i}.png", largest, "image/png")) for i in range(10)]
    scenes = [{"name": "토끼", "i_action": "뛰다", "classification": "자연탐구"}] * 10
    created = requests.post(f"{base}/api/v1/books", headers=headers, files=files,
                            data={"book": json.dumps({"scenes": scenes}, ensure_ascii=False)}, timeout=120)
    assert created.status_code == 202, created.text
    book_id = created.json()["id"]
    worker = workers.start()
    book = wait_status(fault_db, book_id, {BookStatus.DONE, BookStatus.FAILED}, timeout=180)
    assert book.status is BookStatus.DONE, book.error
    assert_settled(fault_env["DATA_DIR"], book)

    same = [f"{base}/books/{book_id}/scenes/1/photo-960.jpg"] * 10
    every = [f"{base}/books/{book_id}/scenes/{i}/photo-960.jpg" for i in range(2, 11)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda url: requests.get(url, headers=headers, timeout=120), same + every))
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert len({a.content for a in answers[:10]}) == 1
    thumbs = Path(fault_env["DATA_DIR"]) / "books" / book_id / "thumbs"
    assert len(list(thumbs.glob("*-960.jpg"))) == 10 and not list(thumbs.glob(".tmp-*"))

    web_mb, worker_mb = peak_mb(web.pid), peak_mb(worker.pid)
    print(f"\npeak RSS: web {web_mb:.0f} MB, worker {worker_mb:.0f} MB (10 photos of {side}x{side} PNG)")
    assert web_mb < WEB_PEAK_MB, web_mb
    assert worker_mb < WORKER_PEAK_MB, worker_mb
