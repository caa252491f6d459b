"""Storage: the local directory and S3 (a real moto server over HTTP) keep the same promises."""
from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from shared.config import Settings
from shared.db import session_factory
from shared.models import Book, utcnow
from shared.status import BookStatus
from shared.storage import LocalStorage, open_storage
from shared.storage.s3 import S3Storage
from tests.conftest import REPO
from tests.helpers import book_form, jpeg
from tests.s3_server import CREDENTIALS, moto_server, s3_env

BOOK = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        for key, value in CREDENTIALS.items():
            patch.setenv(key, value)
        with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
            yield endpoint


@pytest.fixture
def s3(s3_endpoint) -> S3Storage:
    storage = S3Storage(f"books-{secrets.token_hex(4)}", prefix="tenant-a", endpoint_url=s3_endpoint)
    storage.ensure_bucket()
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    return LocalStorage(tmp_path / "data") if request.param == "local" else request.getfixturevalue("s3")


def test_a_saved_photo_reads_back_under_a_generated_name(storage):
    name = storage.save_photo(BOOK, b"photo bytes", "jpg")
    assert name.startswith(f"books/{BOOK}/photos/") and name.endswith(".jpg")
    assert storage.save_photo(BOOK, b"other", "jpg") != name
    assert storage.read_bytes(name) == b"photo bytes"
    assert storage.exists(name) and storage.size(name) == len(b"photo bytes")
    with storage.open(name) as stream:
        assert stream.read() == b"photo bytes"
    with storage.local_copy(name) as path:
        assert path.read_bytes() == b"photo bytes"


def test_missing_files_say_so(storage):
    name = storage.pdf_name(BOOK)
    assert not storage.exists(name) and storage.size(name) is None
    with pytest.raises(FileNotFoundError), storage.local_copy(name):
        pass
    with pytest.raises(FileNotFoundError):
        storage.open_with_size(name)


def test_a_file_opened_with_its_size_is_that_size_even_when_replaced_while_open(storage):
    name = storage.pdf_name(BOOK)
    storage.write_bytes(name, b"%PDF old")
    stream, size = storage.open_with_size(name)
    storage.write_bytes(name, b"%PDF rebuilt, longer")
    with stream:
        assert size == len(b"%PDF old") and stream.read() == b"%PDF old"


@pytest.mark.parametrize("name", ["../secret", "/etc/passwd", "books/../../x", "books//x", "books\\x", ""])
def test_names_that_escape_the_storage_are_refused(storage, name):
    with pytest.raises(ValueError):
        storage.exists(name)
    with pytest.raises(ValueError):
        storage.book_prefix("../x")


def test_a_published_file_replaces_the_old_one_whole(storage):
    name = storage.pdf_name(BOOK)
    for content in (b"%PDF first", b"%PDF second, longer"):
        tmp = storage.temp_path_for(name)
        tmp.write_bytes(content)
        storage.publish(tmp, name)
        assert not tmp.exists()
        assert storage.read_bytes(name) == content


def test_a_local_copy_keeps_its_time_so_print_caches_stay_valid(storage):
    name = storage.save_photo(BOOK, jpeg(), "jpg")
    with storage.local_copy(name) as first:
        stamp = first.stat().st_mtime_ns
    time.sleep(0.02)
    with storage.local_copy(name) as second:
        assert second.stat().st_mtime_ns == stamp


def test_files_added_in_a_local_folder_are_stored_and_found_next_time(storage):
    prefix = storage.print_prefix(BOOK)
    with storage.local_folder(prefix) as folder:
        assert list(folder.iterdir()) == []
        (folder / "page-1.jpg").write_bytes(b"copy one")
    with storage.local_folder(prefix) as folder:
        assert (folder / "page-1.jpg").read_bytes() == b"copy one"
        (folder / "page-2.jpg").write_bytes(b"copy two")
    assert storage.read_bytes(f"{prefix}/page-2.jpg") == b"copy two"


def test_deleting_a_book_removes_all_its_files_and_no_other(storage):
    other = "fedcba9876543210fedcba9876543210"
    mine = [storage.save_photo(BOOK, b"x", "jpg") for _ in range(3)]
    storage.write_bytes(storage.pdf_name(BOOK), b"%PDF")
    kept = storage.save_photo(other, b"y", "png")
    storage.delete_book(BOOK)
    assert not any(storage.exists(name) for name in [*mine, storage.pdf_name(BOOK)])
    assert storage.exists(kept)


def test_the_files_under_a_folder_are_its_own_only_with_their_times(storage):
    audio = [storage.audio_name(BOOK, index, "토끼가 뛰어요.", bytes([index])) for index in (2, 1)]
    for name in audio:
        storage.write_bytes(name, b"ID3")
    storage.write_bytes(storage.pdf_name(BOOK), b"%PDF")
    storage.write_bytes(storage.audio_name("fedcba9876543210fedcba9876543210", 1, "다른 책", b"x"), b"ID3")
    listed = storage.files_under(storage.audio_prefix(BOOK))
    assert [name for name, _ in listed] == sorted(audio)
    assert all(utcnow() - timedelta(minutes=1) < written < utcnow() + timedelta(minutes=1) for _, written in listed)
    assert storage.files_under(storage.audio_prefix("0123456789abcdef0123456789abcdee")) == []


def test_every_stored_book_is_listed_with_the_time_of_its_newest_file(storage):
    other = "fedcba9876543210fedcba9876543210"
    before = utcnow() - timedelta(seconds=5)
    storage.save_photo(BOOK, b"x", "jpg")
    storage.write_bytes(storage.pdf_name(BOOK), b"%PDF")
    storage.save_photo(other, b"y", "png")
    listed = dict(storage.stored_books())
    assert set(listed) == {BOOK, other}
    assert all(before <= stamp <= utcnow() + timedelta(seconds=5) for stamp in listed.values())
    storage.delete_book(other)
    assert set(dict(storage.stored_books())) == {BOOK}


def test_a_render_removes_only_temporary_files_old_enough_to_be_left_by_a_killed_process(tmp_path):
    local = open_storage(Settings(DATA_DIR=tmp_path))
    folder = local.book_dir(BOOK)
    (folder / "thumbs").mkdir(parents=True)
    left, writing, done = folder / ".tmp-left-book.pdf", folder / "thumbs" / ".tmp-1a2b-1.jpg", folder / "thumbs" / "1.jpg"
    for path in (left, writing, done):
        path.write_bytes(b"x")
    old = time.time() - Settings().TALES_TEMP_FILE_GRACE_S - 60
    os.utime(left, (old, old))
    # A thumbnail the web tier is writing this moment stays, or its rename would find nothing (a 500).
    assert local.remove_temp_files(BOOK) == 1
    assert not left.exists() and writing.exists() and done.exists()


def _killed_with_scratch() -> Path:
    """A scratch file of a process killed after making it (as gunicorn kills a worker past its timeout)."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from shared.storage.s3 import S3Storage; "
         "print(S3Storage('b').temp_path_for('books/x/book.pdf'), flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    left = Path(child.stdout.readline().strip())
    assert left.is_file() and left.parent.name == str(child.pid)
    child.kill()
    child.wait()
    return left


def test_scratch_space_of_a_killed_process_is_removed_and_a_live_ones_kept(s3):
    left = _killed_with_scratch()
    mine = s3.temp_path_for("books/y/book.pdf")
    assert s3.remove_stale_scratch() >= 1
    assert not left.exists() and mine.is_file()
    mine.unlink()


def test_a_web_process_sweeps_the_scratch_space_of_killed_processes_as_it_starts(s3_app, s3):
    left = _killed_with_scratch()
    mine = s3.temp_path_for("books/y/book.pdf")
    s3_app()
    assert not left.parent.exists() and mine.is_file()
    mine.unlink()


def test_s3_keys_live_under_the_prefix_in_the_bucket(s3):
    name = s3.save_photo(BOOK, b"x", "jpg")
    keys = [item["Key"] for item in s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert keys == [f"tenant-a/{name}"]


def test_a_presigned_link_downloads_the_file_and_is_short_lived(s3, s3_endpoint):
    name = s3.pdf_name(BOOK)
    s3.write_bytes(name, b"%PDF-1.4 the book")
    url = s3.presigned_url(name, "book.pdf", "application/pdf")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"%PDF-1.4 the book"
    assert "attachment" in response.headers["Content-Disposition"]
    # Signed (SigV4) for five minutes; moto serves without checking signatures, MinIO and AWS check them.
    assert "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url

    # Browsers may reach the store at another address than the servers do (compose: minio:9000 inside).
    public = S3Storage(s3.bucket, "tenant-a", s3_endpoint, public_endpoint_url="http://localhost:9000")
    assert public.presigned_url(name, "book.pdf", "application/pdf").startswith(f"http://localhost:9000/{s3.bucket}/tenant-a/")


def test_settings_choose_the_backend(s3_endpoint, tmp_path):
    assert isinstance(open_storage(Settings(DATA_DIR=tmp_path)), LocalStorage)
    storage = open_storage(Settings(**s3_env(s3_endpoint, "chosen"), DATA_DIR=tmp_path))
    assert isinstance(storage, S3Storage) and storage.bucket == "chosen"
    with pytest.raises(ValueError, match="TALES_S3_BUCKET"):
        open_storage(Settings(TALES_STORAGE="s3"))


# The web tier on S3: uploads land in the bucket, photos stream, PDFs redirect to a presigned link.

@pytest.fixture
def s3_app(db, service_env, spare_redis_url, s3):
    """A web app on the bucket, sending to a Redis database no worker reads."""
    from web import create_app

    def make(**settings):
        config = {**service_env, **s3_env(s3.client.meta.endpoint_url, s3.bucket, "tenant-a"),
                  "REDIS_URL": spare_redis_url, **settings}
        return create_app({key: value for key, value in config.items() if key not in CREDENTIALS}).test_client()

    return make


def _finish(db_url: str, book_id: str, storage: S3Storage, pdf: bytes) -> None:
    with session_factory(db_url).begin() as session:
        book = session.get(Book, book_id)
        book.status, book.pdf_name, book.pdf_bytes = BookStatus.DONE, storage.pdf_name(book_id), len(pdf)
    storage.write_bytes(storage.pdf_name(book_id), pdf)


@pytest.mark.parametrize("downloads", ["redirect", "stream"])
def test_the_web_tier_keeps_books_in_the_bucket(s3_app, api_for, s3, db, downloads):
    client = s3_app(TALES_S3_DOWNLOADS=downloads)
    headers = api_for(client)
    photo = jpeg(320, 240, (10, 200, 30))
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([photo]))
    assert created.status_code == 202, created.text
    book_id = created.json["id"]
    with session_factory(db)() as session:
        image_name = session.scalar(select(Book).where(Book.id == book_id)).scenes[0].image_name
    assert s3.read_bytes(image_name) == photo
    assert not os.path.exists(client.application.extensions["talesrunner.settings"].DATA_DIR / "books" / book_id)

    image = client.get(f"/api/v1/books/{book_id}/scenes/1/image", headers=headers)
    assert image.status_code == 200 and image.data == photo and image.mimetype == "image/jpeg"

    _finish(db, book_id, s3, b"%PDF-1.4 made on another host")
    pdf = client.get(f"/api/v1/books/{book_id}/pdf", headers=headers)
    if downloads == "redirect":
        assert pdf.status_code == 302 and pdf.headers["Cache-Control"] == "private, no-store"
        fetched = requests.get(pdf.headers["Location"], timeout=10)
        assert fetched.status_code == 200 and fetched.content == b"%PDF-1.4 made on another host"
    else:
        assert pdf.status_code == 200 and pdf.data == b"%PDF-1.4 made on another host"

    assert client.delete(f"/api/v1/books/{book_id}", headers=headers).status_code == 204
    assert not s3.exists(image_name) and not s3.exists(s3.pdf_name(book_id))


def test_a_streamed_pdf_rebuilt_while_it_is_asked_for_is_sent_with_its_own_length(s3_app, api_for, s3, db):
    """The length and the body come from one GET: a new PDF published after a HEAD must not go out under the old length."""
    client = s3_app(TALES_S3_DOWNLOADS="stream")
    headers = api_for(client)
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([jpeg(320, 240)])).json["id"]
    _finish(db, book_id, s3, b"%PDF-1.4 first")
    rebuilt = b"%PDF-1.4 rebuilt with more pages"

    def publish_a_rebuild(**_kwargs):
        s3.write_bytes(s3.pdf_name(book_id), rebuilt)  # another client: this handler is not called again

    events = client.application.extensions["talesrunner.storage"].client.meta.events
    events.register("after-call.s3.HeadObject", publish_a_rebuild)
    events.register("before-call.s3.GetObject", publish_a_rebuild)
    pdf = client.get(f"/api/v1/books/{book_id}/pdf", headers=headers)
    assert pdf.status_code == 200
    assert int(pdf.headers["Content-Length"]) == len(pdf.data)
    assert pdf.data == rebuilt


def test_page_audio_from_the_bucket_answers_byte_ranges(s3_app, api_for, s3, db, monkeypatch):
    """iOS Safari plays audio only from a server that answers ranges, and seeking needs them too."""
    from shared.models import Scene
    from web import downloads

    client = s3_app()
    headers = api_for(client)
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([jpeg(320, 240)])).json["id"]
    text, data = "토끼가 달렸어요.", b"ID3" + bytes(range(256)) * 40
    name = s3.audio_name(book_id, 1, text, data)
    s3.write_bytes(name, data)
    _finish(db, book_id, s3, b"%PDF-1.4")
    with session_factory(db).begin() as session:
        scene = session.scalars(select(Scene).where(Scene.book_id == book_id)).one()
        scene.text, scene.audio_name, scene.audio_text, scene.audio_duration = text, name, text, 1.0
        scene.audio_sentences = [[text, 0.0, 1.0]]
    url = client.get(f"/api/v1/books/{book_id}", headers=headers).json["scenes"][0]["audio_url"]

    whole = client.get(url, headers=headers)
    assert whole.status_code == 200 and whole.data == data and whole.headers["Accept-Ranges"] == "bytes"
    first = client.get(url, headers={**headers, "Range": "bytes=0-1"})
    assert first.status_code == 206 and first.data == b"ID" and first.headers["Content-Range"] == f"bytes 0-1/{len(data)}"
    tail = client.get(url, headers={**headers, "Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.data == data[-100:]
    assert "private" in first.headers["Cache-Control"] and "public" not in first.headers["Cache-Control"]

    # A file too big to hold in memory streams whole, as before.
    monkeypatch.setattr(downloads, "RANGED_IN_MEMORY_MAX", len(data) - 1)
    streamed = client.get(url, headers={**headers, "Range": "bytes=0-1"})
    assert streamed.status_code == 200 and streamed.data == data


def test_thumbnails_are_made_from_the_bucket_and_kept_there(s3_app, s3, db):
    from tests.web_helpers import PASSWORD, Pages

    client = s3_app()
    Pages(client).signup()
    token = client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD}).json["token"]
    created = client.post("/api/v1/books", content_type="multipart/form-data", headers={"Authorization": f"Bearer {token}"},
                          data=book_form([jpeg(1200, 900)]))
    assert created.status_code == 202, created.text
    book_id = created.json["id"]
    thumb = client.get(f"/books/{book_id}/scenes/1/photo-320.jpg")
    assert thumb.status_code == 200
    assert max(Image.open(io.BytesIO(thumb.data)).size) == 320
    with session_factory(db)() as session:
        image_name = session.get(Book, book_id).scenes[0].image_name
    assert s3.exists(s3.thumb_name(book_id, image_name, 320))


@pytest.fixture
def api_for():
    def sign_up(client) -> dict[str, str]:
        email, password = f"p{secrets.token_hex(3)}@example.com", "correct horse"
        assert client.post("/api/v1/users", json={"email": email, "password": password}).status_code == 201
        token = client.post("/api/v1/tokens", json={"email": email, "password": password}).json["token"]
        return {"Authorization": f"Bearer {token}"}

    return sign_up
