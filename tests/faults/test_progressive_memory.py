"""Progressive JPEGs are counted by what they cost to decode, so parallel uploads of them keep gunicorn's workers small.

The issue's photo: a legal 7700x7700 progressive JPEG (about 18 MB) was estimated from its reduced
size (56.5 MB) but libjpeg holds every DCT coefficient of a multi-scan JPEG at full size whatever
the draft scale: 396 MB at 4:4:4, measured 399 MB here (415-440 MB in the issue). Four parallel
uploads of three took two web processes from 190 MB to 950 and 999 MB. Now the cost read from the
frame header is over TALES_MAX_DECODE_MB, and the photo is refused before a pixel is decoded.

Growth is each gunicorn worker's kernel high-water mark (VmHWM) after the uploads minus its
resident size (VmRSS) before them.
"""
from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from shared.decoding import decode_bytes
from tests.servers import WebProcess

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SIDE = 7700
GROWTH_LIMIT_MB = 300


def progressive_jpeg(side: int = SIDE) -> bytes:
    """A photo-like progressive JPEG at 4:4:4 (gradients and grain: about 18 MB), made in a few seconds."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    tile = rng.integers(-24, 24, size=(700, 700, 1), dtype=np.int16)
    grain = np.tile(tile, (side // 700 + 1, side // 700 + 1, 3))[:side, :side]
    pixels = np.empty((side, side, 3), dtype=np.int16)
    pixels[..., 0] = ramp[None, :]
    pixels[..., 1] = ramp[:, None]
    pixels[..., 2] = 128
    pixels += grain
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=80, progressive=True, subsampling=0)
    return buffer.getvalue()


def memory(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


@pytest.fixture
def web(fault_env, fault_db, tmp_path):
    server = WebProcess({**fault_env, "TALES_MAX_ACTIVE_BOOKS": "10"}, tmp_path / "web.log", "--workers", "2", "--threads", "4")
    yield server
    server.stop()


def test_four_parallel_uploads_of_two_huge_progressive_jpegs_grow_no_web_process_past_300_mb(web):
    photo = progressive_jpeg()
    assert 10 * 2**20 < len(photo) < 25 * 2**20  # under the upload limit: only its decoding cost can refuse it
    assert decode_bytes("JPEG", (SIDE, SIDE), head=photo) > 350 * 2**20  # the cost as libjpeg pays it
    account = {"email": "big@example.com", "password": "correct horse"}
    assert requests.post(f"{web.url}/api/v1/users", json=account, timeout=30).status_code == 201
    token = requests.post(f"{web.url}/api/v1/tokens", json=account, timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(8):  # every worker has served requests and loaded what a request loads
        requests.get(f"{web.url}/api/v1/books", headers=headers, timeout=30)
    workers = [child.pid for child in psutil.Process(web.process.pid).children()]
    assert len(workers) == 2, workers
    before = {pid: memory(pid, "VmRSS") for pid in workers}

    scenes = json.dumps({"scenes": [{"name": "토끼", "i_action": "뛰다", "classification": "자연탐구"}] * 2}, ensure_ascii=False)

    def upload(n: int) -> requests.Response:
        files = [("images", (f"p{n}-{i}.jpg", photo, "image/jpeg")) for i in range(2)]
        return requests.post(f"{web.url}/api/v1/books", headers=headers, files=files, data={"book": scenes}, timeout=300)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(upload, range(4)))
    growth = {pid: memory(pid, "VmHWM") - before[pid] for pid in workers}
    print(f"\nweb workers: RSS before {', '.join(f'{before[p]:.0f}' for p in workers)} MB; "
          f"peak growth {', '.join(f'{growth[p]:.0f}' for p in workers)} MB ({len(photo) / 2**20:.1f} MB photo)")
    for answer in answers:
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "bad_image" and "점진적(progressive) JPEG" in error["message"], error
    assert max(growth.values()) < GROWTH_LIMIT_MB, growth
