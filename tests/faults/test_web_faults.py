"""Races between web requests and workers: deletes, the quota, logout."""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from tests.faults.helpers import book_row, user
from tests.helpers import sample_form
from tests.web_helpers import Pages


@pytest.mark.e2e
def test_deleting_a_book_while_the_worker_starts_on_it_never_deadlocks_and_leaves_no_files(workers, fault_env, fault_db):
    from web import create_app

    client = create_app({**fault_env, "TALES_MAX_ACTIVE_BOOKS": "100"}).test_client()
    headers = user(client)
    workers.start()
    data_dir = Path(fault_env["DATA_DIR"]) / "books"
    answers, ids = [], []
    for _ in range(25):
        book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form()).json["id"]
        time.sleep(random.uniform(0, 0.03))
        answers.append(client.delete(f"/api/v1/books/{book_id}", headers=headers).status_code)
        ids.append(book_id)
    assert answers == [204] * len(answers)
    time.sleep(2)  # whatever the worker had in hand ends
    assert all(book_row(fault_db, book_id) is None for book_id in ids)
    assert [p.name for p in data_dir.iterdir() if p.name in ids] == []


@pytest.mark.e2e
def test_deleting_a_book_while_its_pdf_is_drawn_leaves_no_files(workers, fault_client, fault_env, fault_db):
    headers = user(fault_client)
    workers.start(pause="render", pause_s="1")
    book_id = fault_client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form()).json["id"]
    workers.wait_marker("render")
    assert fault_client.delete(f"/api/v1/books/{book_id}", headers=headers).status_code == 204
    folder = Path(fault_env["DATA_DIR"]) / "books" / book_id
    log = workers.running[0].log_path
    deadline = time.monotonic() + 20
    while log.read_text().count("render_pdf[") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # until the render task has ended ("received", then "succeeded")
    assert time.monotonic() < deadline
    assert not folder.exists()  # whatever the render wrote after the delete went with the book


def test_simultaneous_submissions_cannot_pass_the_active_book_quota(fault_app):
    headers = user(fault_app.test_client())
    results: list[int] = []
    start = threading.Barrier(8)

    def submit() -> None:
        client = fault_app.test_client()
        form = sample_form()
        start.wait()
        results.append(client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=form).status_code)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [202] * 3 + [429] * 5


def test_a_session_cookie_replayed_after_logout_is_refused(fault_client, fault_app):
    pages = Pages(fault_client)
    pages.signup("leaver@example.com")
    cookie = fault_client.get_cookie("session").value
    assert fault_client.get("/books").status_code == 200
    pages.logout()
    thief = fault_app.test_client()
    thief.set_cookie("session", cookie)
    page = thief.get("/books")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert thief.get("/api/v1/books").status_code == 401
    # Logging in again makes a new session; the old cookie stays dead.
    pages.login("leaver@example.com")
    assert fault_client.get("/books").status_code == 200
    assert thief.get("/books").status_code == 302


