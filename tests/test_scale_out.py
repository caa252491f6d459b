"""Scale-out rehearsal on one machine: two web processes, three workers (gpu, gpu, cpu), S3 storage.

The books' files live only in the bucket (a moto server over HTTP), so every process could be
on a host of its own. One web process and one GPU worker are killed (SIGKILL) mid-run; every
accepted book must still finish with exactly one PDF.
"""
from __future__ import annotations

import io
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import redis
import requests

from tests.databases import private_database
from tests.helpers import jpeg, scene
from tests.s3_server import CREDENTIALS, moto_server, s3_env
from tests.servers import WebProcess, WorkerProcess

pytestmark = pytest.mark.e2e

USERS, BOOKS_PER_USER = 10, 3


@pytest.fixture
def private_db():
    """A database of this test alone: no other worker of the test run may reconcile its books."""
    with private_database("talesrunner_scale") as url:
        yield url


def _sign_up(base: str, number: int) -> dict[str, str]:
    credentials = {"email": f"family{number}@example.com", "password": "correct horse"}
    requests.post(f"{base}/api/v1/users", json=credentials, timeout=30).raise_for_status()
    token = requests.post(f"{base}/api/v1/tokens", json=credentials, timeout=30).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _submit(base: str, headers: dict[str, str], number: int) -> str:
    photos = [jpeg(480, 360, (20 * number % 255, 90, 160)), jpeg(360, 480, (200, 20 * number % 255, 60))]
    book = {"title": f"책 {number}", "scenes": [scene(f"아이{number}", "공원에서 놀다"), scene(f"아이{number}", "집에 가다")]}
    response = requests.post(f"{base}/api/v1/books", headers=headers, timeout=30,
                             files=[("images", (f"{i}.jpg", io.BytesIO(p), "image/jpeg")) for i, p in enumerate(photos)],
                             data={"book": json.dumps(book, ensure_ascii=False)})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_two_web_processes_and_three_workers_on_s3_lose_nothing_when_one_of_each_dies(
        private_db, spare_redis_url, service_env, tmp_path):
    started = time.monotonic()
    with moto_server(tmp_path / "moto.log") as endpoint:
        bucket = f"books-{secrets.token_hex(4)}"
        s3 = boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
                          region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        env = {**service_env, **s3_env(endpoint, bucket), "DATABASE_URL": private_db, "REDIS_URL": spare_redis_url,
               "DATA_DIR": str(tmp_path / "no-local-files"),
               # Lost work is found fast: the reconciler sweeps every 2 s for books untouched for 8 s
               # (books merely waiting in a queue that long are sent twice, which must do no harm either).
               "TALES_STALE_AFTER_S": "8", "TALES_RECONCILE_EVERY_S": "2", "TALES_ACCESS_LOG": "false"}
        workers = [
            WorkerProcess(env, tmp_path / "gpu-1.log", "--queues", "gpu"),
            WorkerProcess(env, tmp_path / "gpu-2.log", "--queues", "gpu"),
            WorkerProcess(env, tmp_path / "cpu.log", "--queues", "cpu", "--concurrency", "2", "--beat",
                          "--schedule", str(tmp_path / "beat-schedule")),
        ]
        webs = []
        try:
            with ThreadPoolExecutor(2) as pool:  # both web servers boot while the workers do
                webs = list(pool.map(lambda n: WebProcess(env, tmp_path / f"web-{n}.log", "--workers", "1"), (1, 2)))
            for worker in workers:
                worker.wait_ready()
            a, b = (web.url for web in webs)
            booted = time.monotonic()
            with ThreadPoolExecutor(4) as clients:  # families arrive at once, half on each web process
                families = list(clients.map(lambda n: _sign_up(a if n % 2 else b, n), range(USERS)))
                order = [family for _ in range(BOOKS_PER_USER) for family in families]
                first = list(clients.map(lambda n: _submit(a if n % 2 else b, order[n], n), range(20)))
            books: dict[str, dict[str, str]] = dict(zip(first, order[:20], strict=True))
            # Mid-run: one web process and one GPU worker die without a chance to clean up.
            depth = redis.Redis.from_url(spare_redis_url).llen("gpu")
            webs[0].kill()
            workers[0].kill()
            unacked = redis.Redis.from_url(spare_redis_url).hlen("unacked")
            for number in range(20, len(order)):
                books[_submit(b, order[number], number)] = order[number]

            submitted = time.monotonic()
            deadline = time.monotonic() + 70
            pending = set(books)
            statuses: dict[str, dict] = {}
            while pending and time.monotonic() < deadline:
                for book_id in list(pending):
                    statuses[book_id] = requests.get(f"{b}/api/v1/books/{book_id}", headers=books[book_id], timeout=30).json()
                    if statuses[book_id]["status"] in ("done", "failed"):
                        pending.discard(book_id)
                time.sleep(0.5)
            assert not pending, {book_id: statuses[book_id]["status"] for book_id in pending}
            assert all(statuses[book_id]["status"] == "done" for book_id in books), [
                (book_id, statuses[book_id]["error"]) for book_id in books if statuses[book_id]["status"] != "done"]

            keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                    for item in page.get("Contents", [])]
            pdfs = sorted(key for key in keys if key.endswith(".pdf"))
            assert pdfs == sorted(f"books/{book_id}/book.pdf" for book_id in books)  # each book's PDF, once
            assert not [key for key in keys if "/.tmp-" in key or "tmp" in key.rsplit("/", 1)[-1]]
            assert len([key for key in keys if "/photos/" in key]) == 2 * len(books)
            for book_id in list(books)[:3] + list(books)[-3:]:
                link = requests.get(f"{b}/api/v1/books/{book_id}/pdf", headers=books[book_id], allow_redirects=False, timeout=30)
                assert link.status_code == 302
                pdf = requests.get(link.headers["Location"], timeout=30)
                assert pdf.content.startswith(b"%PDF")
                size = s3.head_object(Bucket=bucket, Key=f"books/{book_id}/book.pdf")["ContentLength"]
                assert len(pdf.content) == size
            print(f"scale-out: started in {booted - started:.1f}s, submitted in {submitted - booted:.1f}s, "
                  f"{len(books)} books done {time.monotonic() - submitted:.1f}s later "
                  f"(gpu queue {depth} deep at the kill, {unacked} unacked message(s) lost with the worker)")
        finally:
            for web in webs:
                web.kill()
            for worker in workers:
                worker.stop()
