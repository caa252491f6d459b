"""The whole service: web tier -> PostgreSQL -> Redis -> a real Celery worker process -> PDF."""
from __future__ import annotations

import subprocess

import pytest

from talesrunner import samples
from tests.helpers import sample_form, scene
from tests.web_helpers import wait_for

pytestmark = pytest.mark.e2e


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "book.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _words_present(paragraph: str, extracted: str) -> None:
    flat = " ".join(extracted.split())
    for word in paragraph.split():
        assert word.strip(".,") in flat, word


def test_book_with_scenes_runs_through_to_a_pdf(client, api, worker_process, tmp_path):
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    assert created.status_code == 202
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    assert book["progress"] == {"done": 4, "total": 4}
    pdf = client.get(book["pdf_url"], headers=headers)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _pdf_text(pdf.data, tmp_path)
    assert samples.TITLE in " ".join(text.split())
    for scene_ in book["scenes"]:
        _words_present(scene_["text"], text)


def test_draft_flow_annotate_then_generate(client, api, worker_process, tmp_path):
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form(with_scenes=False))
    book = wait_for(client, headers, created.json["url"], {"awaiting_annotations", "failed"})
    assert book["status"] == "awaiting_annotations", book["error"]
    assert all(s["suggestions"]["setting"] for s in book["scenes"])
    assert client.post(f"{book['url']}/generate", headers=headers).status_code == 409  # no annotations yet

    scenes = [scene(f"주인공{i}", "신나게 놀다", feeling="즐겁다") for i in range(1, 5)]
    assert client.put(f"{book['url']}/scenes", headers=headers, json={"scenes": scenes}).status_code == 200
    assert client.post(f"{book['url']}/generate", headers=headers).status_code == 202
    book = wait_for(client, headers, book["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    assert book["scenes"][0]["text"].count("주인공1") >= 1

    # Edit one page: the PDF is rebuilt with the user's words.
    edited = "첼시는 <우주> & 별을 꿈꾸었어요."
    assert client.patch(f"{book['url']}/scenes/3", headers=headers, json={"text": edited}).status_code == 202
    book = wait_for(client, headers, book["url"], {"done", "failed"})
    assert book["scenes"][2]["text"] == edited and book["scenes"][2]["text_source"] == "user"
    text = _pdf_text(client.get(book["pdf_url"], headers=headers).data, tmp_path)
    assert "<우주> & 별을" in text

    # Regenerate one scene: only that paragraph is rewritten.
    before = [s["text"] for s in book["scenes"]]
    assert client.post(f"{book['url']}/scenes/3/regenerate", headers=headers).status_code == 202
    book = wait_for(client, headers, book["url"], {"done", "failed"})
    after = [s["text"] for s in book["scenes"]]
    assert after[:2] == before[:2] and after[3] == before[3]
    assert after[2] != edited and after[2]


def test_duplicate_messages_leave_one_book(client, api, app, worker_process, data_dir):
    from shared.jobs import TaskName, send_now

    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    celery = app.extensions["talesrunner.celery"]
    for task in (TaskName.CAPTION, TaskName.CAPTION, TaskName.WRITE, TaskName.RENDER):
        send_now(celery, task, created.json["id"])  # as if redelivered or re-sent by the reconciler
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    files = sorted(p.name for p in (data_dir / "books" / book["id"]).glob("*.pdf"))
    assert files == ["book.pdf"]


def test_reconciler_recovers_a_book_whose_message_was_lost(client, api, app, worker_process, db):
    from datetime import timedelta

    from sqlalchemy import update

    from shared.db import session_factory
    from shared.jobs import TaskName, send_now
    from shared.models import Book, utcnow
    from shared.status import BookStatus

    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    # As if a worker died while writing and Redis lost the message: the row says "writing", no message exists.
    with session_factory(db).begin() as session:
        row = session.get(Book, book["id"])
        row.status, row.pdf_name = BookStatus.WRITING, None
        for scene_ in row.scenes[1:]:
            scene_.text = None
    # Backdated on its own: a scene that changes marks its book changed now (shared/models.py).
    with session_factory(db).begin() as session:
        session.execute(update(Book).where(Book.id == book["id"]).values(updated_at=utcnow() - timedelta(hours=1)))
    send_now(app.extensions["talesrunner.celery"], TaskName.RECONCILE)
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    assert all(s["text"] for s in book["scenes"])
    assert client.get(book["pdf_url"], headers=headers).status_code == 200
