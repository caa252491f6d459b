"""Redis emptied (FLUSHALL) or crashed and restarted empty, with a live worker: no book is lost.

The reconciler in every worker compares the books waiting for a message with the messages Redis
holds, so a lost message is sent again within TALES_LOST_GRACE_S plus one sweep.
"""
from __future__ import annotations

import time

import pytest

from shared.status import BookStatus
from tests.faults.helpers import assert_settled, book_row, user, wait_status
from tests.helpers import sample_form

pytestmark = pytest.mark.e2e

LOST_MESSAGE_GOAL_S = 15


@pytest.fixture
def busy_client(fault_env, fault_db):
    from web import create_app

    return create_app({**fault_env, "TALES_MAX_ACTIVE_BOOKS": "20"}).test_client()


def _submit(client, headers, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
        assert response.status_code == 202, response.json
        ids.append(response.json["id"])
    return ids


def _all_done(fault_db, fault_env, ids: list[str], since: float) -> float:
    for book_id in ids:
        book = wait_status(fault_db, book_id, {BookStatus.DONE, BookStatus.FAILED}, timeout=60)
        assert book.status is BookStatus.DONE, book.error
        assert_settled(fault_env["DATA_DIR"], book)
    return time.monotonic() - since


def test_flushall_loses_no_book(workers, busy_client, fault_redis, fault_db, fault_env):
    headers = user(busy_client)
    workers.start(pause="caption", pause_s="1")  # each book spends a second in captioning
    ids = _submit(busy_client, headers, 5)
    workers.wait_marker("caption")
    assert fault_redis.client().llen("gpu") >= 2  # books waiting in the queue
    fault_redis.client().flushall()
    flushed = time.monotonic()
    # Five books of about a second each, run one after the other, plus the time to notice.
    assert _all_done(fault_db, fault_env, ids, flushed) < LOST_MESSAGE_GOAL_S + 5 * 1.5


def test_a_redis_crash_and_restart_loses_no_book_and_the_web_tier_says_503_meanwhile(
    workers, busy_client, fault_redis, fault_db, fault_env
):
    headers = user(busy_client)
    workers.start(pause="caption", pause_s="1")
    ids = _submit(busy_client, headers, 4)
    workers.wait_marker("caption")
    fault_redis.crash()
    try:
        refused = busy_client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
        assert refused.status_code == 503 and refused.json["error"]["code"] == "unavailable"
        assert refused.headers["Retry-After"]
        health = busy_client.get("/healthz")
        assert health.status_code == 503 and health.json["broker"].startswith("error")
    finally:
        fault_redis.start()  # the same port, empty
    restarted = time.monotonic()
    seconds = _all_done(fault_db, fault_env, ids, restarted)
    assert seconds < LOST_MESSAGE_GOAL_S + 4 * 1.5, seconds
    assert busy_client.get("/healthz").status_code == 200
    assert all(book_row(fault_db, book_id).lost_runs == 0 for book_id in ids)
