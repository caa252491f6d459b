"""A render killed mid-write leaves `.tmp-*.pdf` and `.tmp-*.epub`: the recovery removes them, not a later render.

Against the real database, stages called directly (no worker process): the kill is a book held by a
worker that is gone (tests/test_recovery.py's GONE) with the half-written files it left.
"""
from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest

from shared.config import Settings
from shared.db import session_factory
from shared.jobs import TaskName
from shared.models import Book
from shared.status import BookStatus
from shared.storage import LocalStorage
from tests.helpers import sample_form
from tests.test_pipeline import Recorder
from worker import pipeline

GONE = "elsewhere:4242:0123abcd"  # a process on another host nobody has heard from (shared/leases.is_gone)


@pytest.fixture
def client(db, service_env, spare_redis_url):
    """An app whose messages go to a Redis database no worker reads, so only the test runs stages."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client()


@pytest.fixture
def ctx(db, service_env) -> pipeline.Context:
    settings = Settings(**service_env)  # TALES_TEMP_FILE_GRACE_S at its default, 300 s
    return pipeline.Context(settings=settings, sessions=session_factory(db),
                            storage=LocalStorage(settings.DATA_DIR, temp_grace_s=settings.TALES_TEMP_FILE_GRACE_S), enqueue=Recorder())


def _written_book(client, api, ctx) -> str:
    book_id = client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data", data=sample_form()).json["id"]
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    return book_id


def test_the_reconciler_removes_the_files_of_a_killed_render_at_once_and_nothing_else(client, api, ctx):
    book_id = _written_book(client, api, ctx)
    folder = ctx.storage.book_dir(book_id)
    with ctx.sessions.begin() as session:
        book = session.get(Book, book_id)
        assert book.status is BookStatus.RENDERING
        book.worker_id = GONE  # the render's worker, killed while it wrote
    half_pdf, half_epub = folder / ".tmp-k1ll3d.pdf", folder / ".tmp-k1ll3d.epub"
    half_pdf.write_bytes(b"%PDF-1.4 half")
    half_epub.write_bytes(b"PK half")
    (folder / "thumbs").mkdir(exist_ok=True)
    thumb_being_written = folder / "thumbs" / ".tmp-abc-photo-480.jpg"  # the web tier's, right now
    thumb_being_written.write_bytes(b"\xff\xd8")

    assert pipeline.reconcile(ctx, timedelta(minutes=15)) == [book_id]
    assert not half_pdf.exists() and not half_epub.exists()
    assert thumb_being_written.exists()
    assert ctx.enqueue.sent[-1] == (TaskName.RENDER.value, book_id)
    pipeline.render_stage(ctx, book_id)
    with ctx.sessions() as session:
        assert session.get(Book, book_id).status is BookStatus.DONE
    assert sorted(p.name for p in folder.glob(".tmp-*")) == []


def test_the_periodic_sweep_removes_old_temp_files_of_any_book_and_keeps_fresh_ones(client, api, ctx):
    book_id = _written_book(client, api, ctx)
    pipeline.render_stage(ctx, book_id)
    folder = ctx.storage.book_dir(book_id)
    old, fresh = folder / ".tmp-0ld.pdf", folder / "print" / ".tmp-fr3sh.jpg"
    old.write_bytes(b"%PDF")
    fresh.parent.mkdir(exist_ok=True)
    fresh.write_bytes(b"\xff\xd8")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    # The book has its row, so its files stay (other tests' row-less folders in this storage may go).
    assert book_id not in pipeline.remove_orphans(ctx, timedelta(hours=1))
    assert not old.exists() and fresh.exists()
    assert (folder / "book.pdf").is_file()
