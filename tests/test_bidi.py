"""Bidirectional controls never reach a title, a name, a page or a file name.

U+202E (right-to-left override) makes "나비 fdp.exe" show as "나비 exe.pdf" in a file manager or a
mail client; U+2066-2069 and the marks do the same more quietly. Nobody types them: they are dropped
from names and titles as they come in (web/schemas.py), and from every file name made from a title,
even one stored before (Book.file_stem).
"""
from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from shared.config import Settings
from shared.db import session_factory
from shared.models import Book
from shared.status import BookStatus
from shared.storage import LocalStorage
from tests.helpers import book_form, jpeg, scene
from tests.test_pipeline import Recorder
from tests.web_helpers import PASSWORD, Pages, load, make_book, user_id
from worker import pipeline

BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
RLO = "\u202e"


@pytest.fixture
def ctx(db, service_env) -> pipeline.Context:
    settings = Settings(**service_env)
    return pipeline.Context(settings=settings, sessions=session_factory(db), storage=LocalStorage(settings.DATA_DIR), enqueue=Recorder())


def _signed_in(client) -> dict[str, str]:
    """A parent signed in on the pages (session) who also holds an API token."""
    Pages(client).signup()
    token = client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def test_an_override_in_a_title_and_names_reaches_no_page_file_name_or_header(client, ctx):
    headers = _signed_in(client)
    title = f"나비{RLO}fdp.exe"
    hints = {"title": title, "dedication": "\u2067하은이\u2069에게", "book_hints": {"name": "민\u200f지"},
             "scenes": [scene(name=f"{RLO}토끼", setting="공원\u2066, 숲\u061c")]}
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()], hints))
    assert created.status_code == 202, created.json
    book = created.json
    assert (book["title"], book["dedication"], book["book_hints"]) == ("나비fdp.exe", "하은이에게", {"name": "민지"})
    pipeline.caption_stage(ctx, book["id"])
    pipeline.write_stage(ctx, book["id"])
    pipeline.render_stage(ctx, book["id"])
    done = client.get(book["url"], headers=headers).json
    assert done["status"] == "done", done["error"]
    assert not BIDI.search(str(done)), done
    page = client.get(f"/books/{book['id']}")
    assert page.status_code == 200 and "나비fdp.exe" in page.text and not BIDI.search(page.text)
    for kind in ("pdf", "epub"):
        download = client.get(f"/api/v1/books/{book['id']}/{kind}", headers=headers)
        disposition = download.headers["Content-Disposition"]
        assert download.status_code == 200 and not BIDI.search(unquote(disposition)), disposition
        assert f"나비fdp.exe.{kind}" in unquote(disposition)


def test_a_rename_drops_the_controls_too(client, db, data_dir):
    headers = _signed_in(client)
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.DONE)
    renamed = client.patch(f"/api/v1/books/{book_id}", headers=headers, json={"title": f"\u2068새{RLO} 제목\u200e"})
    assert renamed.status_code == 202 and renamed.json["title"] == "새 제목"
    assert load(db, book_id).title == "새 제목"


@pytest.mark.parametrize("stored", [f"{RLO}fdp.exe", "나비\u2066의 하루\u2069", f"\u202a{RLO}\u200f"])
def test_a_title_stored_with_controls_still_downloads_under_a_clean_name(client, db, data_dir, stored):
    headers = _signed_in(client)
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.DONE, title=stored)
    with session_factory(db)() as session:
        stem = session.get(Book, book_id).file_stem
    assert stem == (BIDI.sub("", stored) or "talesrunner")
    download = client.get(f"/api/v1/books/{book_id}/pdf", headers=headers)
    assert download.status_code == 200 and not BIDI.search(unquote(download.headers["Content-Disposition"]))
