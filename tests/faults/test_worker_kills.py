"""SIGKILL a worker inside each stage: a restarted worker takes the book back in seconds, and it ends with one PDF."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.db import session_factory
from shared.models import DeadLetter, Scene
from shared.status import BookStatus
from tests.faults.helpers import assert_settled, user, wait_moving, wait_status
from tests.helpers import sample_form
from tests.web_helpers import make_book, user_id

pytestmark = pytest.mark.e2e

# Seconds from a restarted worker being ready to the book moving again (the goal: < 15).
RECOVERY_GOAL_S = 15


@pytest.mark.parametrize("stage, with_scenes, final", [
    ("caption", True, BookStatus.DONE),
    ("suggest", False, BookStatus.AWAITING_ANNOTATIONS),
    ("write", True, BookStatus.DONE),
    ("render", True, BookStatus.DONE),
])
def test_a_worker_killed_in_a_stage_is_replaced_and_the_book_finishes(stage, with_scenes, final, workers, fault_client, fault_env, fault_db):
    headers = user(fault_client)
    victim = workers.start(pause=stage)
    book_id = fault_client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                                data=sample_form(with_scenes)).json["id"]
    workers.wait_marker(stage)
    workers.kill(victim)
    held = wait_status(fault_db, book_id, {BookStatus.CAPTIONING, BookStatus.WRITING, BookStatus.RENDERING})
    assert held.worker_id  # the dead worker's name is still on the book

    replacement = workers.start(wait=False)
    ready = workers.wait_ready(replacement)
    seconds = wait_moving(fault_db, book_id, ready)
    assert seconds < RECOVERY_GOAL_S, seconds
    book = wait_status(fault_db, book_id, {final, BookStatus.FAILED})
    assert book.status is final, book.error
    assert book.lost_runs == 0  # the handoff to the next stage (or the end) starts the count again
    assert_settled(fault_env["DATA_DIR"], book)


def test_a_live_worker_takes_back_a_book_whose_worker_died_elsewhere(workers, fault_client, fault_db, fault_env):
    """No restart: a second, live worker notices the dead one within a lease and a sweep."""
    headers = user(fault_client)
    survivor = workers.start()
    victim = workers.start(pause="render")
    workers.stop(survivor)  # so the victim is sure to take the book
    book_id = fault_client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form()).json["id"]
    workers.wait_marker("render")
    workers.start()
    killed = time.monotonic()
    workers.kill(victim)
    book = wait_status(fault_db, book_id, {BookStatus.DONE, BookStatus.FAILED})
    assert book.status is BookStatus.DONE, book.error
    assert time.monotonic() - killed < RECOVERY_GOAL_S
    assert_settled(fault_env["DATA_DIR"], book)


def test_a_book_that_kills_its_worker_again_and_again_is_failed_with_a_dead_letter(workers, fault_client, fault_db, fault_env):
    headers = user(fault_client)
    owner = user_id(fault_db, "parent@example.com")
    book_id = make_book(fault_db, fault_env["DATA_DIR"], owner, title="독이 든 책")
    # A cpu worker with one child: the child dies in render, Celery gives the message to a new child.
    worker = workers.start("--queues", "cpu", "--concurrency", "1", poison="render")
    assert fault_client.patch(f"/api/v1/books/{book_id}/scenes/1", headers=headers, json={"text": "다시 그려요."}).status_code == 202
    book = wait_status(fault_db, book_id, {BookStatus.DONE, BookStatus.FAILED}, timeout=60)
    assert book.status is BookStatus.FAILED
    assert book.lost_runs == int(fault_env["TALES_MAX_LOST_RUNS"])
    assert "멈춰서" in book.error
    with session_factory(fault_db)() as session:
        [letter] = session.scalars(select(DeadLetter)).all()
    assert (letter.kind, letter.ref, letter.task) == ("book", book_id, "worker.tasks.render_pdf")
    shown = fault_client.get(f"/api/v1/books/{book_id}", headers=headers).json
    assert shown["status"] == "failed" and shown["error"] == book.error
    assert worker.poll() is None  # the worker itself lives on


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (scripts/setup.sh installs it)")
def test_a_worker_killed_while_reading_aloud_is_replaced_and_every_page_is_read_once(workers, fault_client, fault_env, fault_db):
    workers.env = {**workers.env, "TALES_NARRATOR": "espeak"}
    headers = user(fault_client)
    victim = workers.start(pause="narrate")
    book_id = fault_client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                                data=sample_form()).json["id"]
    workers.wait_marker("narrate")
    workers.kill(victim)
    replacement = workers.start(wait=False)
    ready = workers.wait_ready(replacement)
    assert wait_moving(fault_db, book_id, ready) < RECOVERY_GOAL_S
    book = wait_status(fault_db, book_id, {BookStatus.DONE, BookStatus.FAILED})
    assert book.status is BookStatus.DONE, book.error
    assert_settled(fault_env["DATA_DIR"], book)
    folder = Path(fault_env["DATA_DIR"]) / "books" / book_id
    with session_factory(fault_db)() as session:
        names = sorted(session.scalars(select(Scene.audio_name).where(Scene.book_id == book_id)))
    assert all(names) and len(names) == 4
    # One file per page, the one the rows name: the killed worker had written none, or the same names.
    assert sorted(str(path.relative_to(Path(fault_env["DATA_DIR"]))) for path in (folder / "audio").iterdir()) == names
    assert (folder / "book.epub").stat().st_size == book.epub_bytes
