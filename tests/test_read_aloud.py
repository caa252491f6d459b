"""Narrated books through a real worker: audio per page, sentence timings, the e-book, re-narration of one page.

espeak-ng (Debian) is the narrator here: real audio, made offline in well under a second a page.
"""
from __future__ import annotations

import io
import shutil
import zipfile

import pytest
from PIL import Image

from shared.db import session_factory
from shared.models import Scene
from tests.helpers import book_form, sample_form, scene
from tests.test_epub import epubcheck, problems
from tests.test_browser import SHOTS, Visit, browser, serving, sign_up, still_server  # noqa: F401 (fixtures)
from tests.web_helpers import PASSWORD, ApiActions, make_book, user_id, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (scripts/setup.sh installs it)"),
]


@pytest.fixture(scope="module")
def narrating_worker(worker_with, tmp_path_factory):
    return worker_with(DATA_DIR=str(tmp_path_factory.mktemp("narrated")), TALES_NARRATOR="espeak")


@pytest.fixture
def narrating_client(db, narrating_worker):
    from web import create_app

    return create_app(dict(narrating_worker.env)).test_client()


def _audio_names(db_url: str, book_id: str) -> dict[int, str | None]:
    with session_factory(db_url)() as session:
        return {s.index: s.audio_name for s in session.query(Scene).filter_by(book_id=book_id)}


def _epubcheck(data: bytes, tmp_path) -> None:
    path = tmp_path / "book.epub"
    path.write_bytes(data)
    assert problems(epubcheck(path)) == []


def test_a_narrated_book_reads_every_page_and_a_re_edit_reads_only_that_page(narrating_client, db, tmp_path):
    client, headers = narrating_client, ApiActions(narrating_client).user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    assert book["narrator"] and "espeak" in book["narrator"]
    for page in book["scenes"]:
        assert page["audio_url"], page
        sentences = page["sentences"]
        assert sentences and sentences[0]["start"] == 0
        assert all(a["end"] <= b["start"] for a, b in zip(sentences, sentences[1:], strict=False))  # in order, no overlap
        assert abs(sentences[-1]["end"] - page["audio_duration"]) < 0.1  # the timings cover the audio
        assert "".join(s["text"] for s in sentences).replace(" ", "") == page["text"].replace(" ", "")
        audio = client.get(page["audio_url"], headers=headers)
        assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
        assert audio.data[:3] == b"ID3" or audio.data[0] == 0xFF  # an MP3 stream

    epub = client.get(book["epub_url"], headers=headers)
    assert epub.status_code == 200 and epub.mimetype == "application/epub+zip"
    with zipfile.ZipFile(io.BytesIO(epub.data)) as archive:
        names = archive.namelist()
    assert names[0] == "mimetype"
    assert sum(name.endswith(".smil") for name in names) == len(book["scenes"])  # one overlay per narrated page
    assert sum(name.endswith(".mp3") for name in names) == len(book["scenes"])
    _epubcheck(epub.data, tmp_path)

    before = _audio_names(db, book["id"])
    edited = "토끼가 달을 보았어요. 달이 웃었어요!"
    assert client.patch(f"{book['url']}/scenes/2", headers=headers, json={"text": edited}).status_code == 202
    book = wait_for(client, headers, book["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    after = _audio_names(db, book["id"])
    assert after[2] != before[2]  # the edited page is read again...
    assert {i: n for i, n in after.items() if i != 2} == {i: n for i, n in before.items() if i != 2}  # ...and only it
    assert [s["text"] for s in book["scenes"][1]["sentences"]] == ["토끼가 달을 보았어요.", "달이 웃었어요!"]


def test_a_failed_narration_leaves_the_book_done_and_says_why(worker_with, tmp_path_factory, db, tmp_path):
    # An OpenAI-compatible server that is not there: every speech request fails at once.
    worker = worker_with(DATA_DIR=str(tmp_path_factory.mktemp("unnarrated")), TALES_NARRATOR="openai",
                         OPENAI_API_KEY="test", OPENAI_BASE_URL="http://127.0.0.1:9/v1", TALES_OPENAI_MAX_RETRIES="0",
                         TALES_OPENAI_TIMEOUT="2")
    from web import create_app

    client = create_app(dict(worker.env)).test_client()
    headers = ApiActions(client).user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([_photo(), _photo((30, 90, 200))], {"scenes": [scene(), scene("곰", "낮잠을 자다")]}))
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    assert any(note.startswith("읽어 주기 소리는 만들지 못했어요") for note in book["notes"]), book["notes"]
    assert not any("audio_url" in page for page in book["scenes"]) and book["narrator"] is None
    # Without narration the e-book is a plain EPUB 3, still valid.
    epub = client.get(book["epub_url"], headers=headers)
    with zipfile.ZipFile(io.BytesIO(epub.data)) as archive:
        assert not any(name.endswith(".smil") for name in archive.namelist())
    _epubcheck(epub.data, tmp_path)


def _photo(color=(200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.browser
def test_the_book_page_reads_page_one_aloud_and_the_highlight_moves(narrating_client, narrating_worker, browser, db):
    """Chromium plays page 1 and the highlighted sentence follows the audio, from the first sentence to the next."""
    client, headers = narrating_client, ApiActions(narrating_client).user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    assert len(book["scenes"][0]["sentences"]) >= 2

    with serving(dict(narrating_worker.env)) as base:
        # The page's CSP allows no eval; the test's own waits need it.
        page = browser.new_page(locale="ko-KR", viewport={"width": 390, "height": 844}, bypass_csp=True)
        page.set_default_timeout(20_000)
        page.goto(f"{base}/login")
        page.get_by_label("이메일").fill("parent@example.com")
        page.get_by_label("비밀번호").fill(PASSWORD)
        page.get_by_role("button", name="로그인").click()
        page.goto(f"{base}/books/{book['id']}")
        first = page.locator("#scene-1 .sentence")
        page.get_by_role("button", name="1쪽 읽어 주기").click()
        assert page.get_by_role("button", name="1쪽 읽어 주기").get_attribute("aria-pressed") == "true"
        page.wait_for_function("document.querySelector('#scene-1 .sentence').classList.contains('reading')")
        assert first.nth(0).get_attribute("aria-current") == "true"
        # The highlight moves on to the second sentence as the audio reaches it.
        page.wait_for_function("document.querySelectorAll('#scene-1 .sentence')[1].classList.contains('reading')")
        assert "reading" not in (first.nth(0).get_attribute("class") or "")
        assert page.locator("#reading-now").inner_text() == "1쪽을 읽고 있어요"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "phone-read-aloud.png"), full_page=False)
        # The e-book is offered beside the PDF.
        assert page.get_by_role("link", name="전자책(EPUB) 내려받기").count() == 1
        page.context.close()


@pytest.mark.models
def test_the_tiny_vits_reads_a_book_through_a_real_worker(worker_with, tiny_models, tmp_path_factory, db, tmp_path):
    worker = worker_with(DATA_DIR=str(tmp_path_factory.mktemp("vits")), TALES_NARRATOR="mms",
                         TALES_MMS_MODEL=str(tiny_models / "vits"), TALES_DEVICE="cpu")
    from web import create_app

    client = create_app(dict(worker.env)).test_client()
    headers = ApiActions(client).user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([_photo(), _photo((30, 90, 200))],
                                         {"scenes": [scene(), scene("곰", "낮잠을 자다")]}))
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    assert "시험용" in book["narrator"]  # a test model, and the book says so
    for page in book["scenes"]:
        assert page["audio_duration"] > 0 and abs(page["sentences"][-1]["end"] - page["audio_duration"]) < 0.1
        assert client.get(page["audio_url"], headers=headers).mimetype == "audio/mpeg"
    _epubcheck(client.get(book["epub_url"], headers=headers).data, tmp_path)


def test_a_pages_audio_url_changes_with_its_audio_and_only_the_current_url_is_kept(client, api, db, data_dir):
    from shared.storage import LocalStorage
    from tests.web_helpers import make_book, user_id

    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    storage = LocalStorage(data_dir)
    urls = []
    # Rewritten, then undone and read again: the first text comes back with other audio.
    for text, data in (("1쪽 이야기예요.", b"ID3 first"), ("고친 1쪽이에요.", b"ID3 edited"), ("1쪽 이야기예요.", b"ID3 read again")):
        name = storage.audio_name(book_id, 1, text, data)
        storage.write_bytes(name, data)
        with session_factory(db)() as session:
            page = session.query(Scene).filter_by(book_id=book_id, index=1).one()
            page.text, page.audio_name, page.audio_text, page.audio_duration = text, name, text, 1.0
            page.audio_sentences = [[text, 0.0, 1.0]]
            session.commit()
        urls.append(client.get(f"/api/v1/books/{book_id}", headers=headers).json["scenes"][0]["audio_url"])
    assert len(set(urls)) == 3  # new audio, a new URL: a browser's cached copy of other audio is never played
    audio = client.get(urls[2], headers=headers)
    assert audio.status_code == 200 and audio.data == b"ID3 read again"
    cache = audio.headers["Cache-Control"]
    assert "private" in cache and "public" not in cache and "max-age=86400" in cache
    # A tab opened before the page was read again asks with the old URL: today's audio, kept nowhere,
    # so the old URL never holds audio it does not name.
    stale = client.get(urls[0], headers=headers)
    assert stale.status_code == 200 and stale.data == b"ID3 read again"
    assert "no-store" in stale.headers["Cache-Control"] and "max-age" not in stale.headers["Cache-Control"]

def narrated_book(db_url: str, data_dir, email: str, texts: dict[int, str], sentence_s: float = 0.6) -> str:
    """A finished book of the account `email` whose pages read `texts`, narrated as a worker would
    (a real MP3, a tone per sentence, timings from worker/audio/pcm.py) but with no worker."""
    import numpy as np

    from shared.storage import LocalStorage
    from worker.audio.pcm import page_narration
    from worker.audio.sentences import split_sentences

    book_id = make_book(db_url, data_dir, user_id(db_url, email), scenes=len(texts))
    storage, rate = LocalStorage(data_dir), 16000
    tone = (0.3 * np.sin(np.arange(round(sentence_s * rate)) * 2 * np.pi * 440 / rate)).astype(np.float32)
    with session_factory(db_url)() as session:
        for page in session.query(Scene).filter_by(book_id=book_id):
            text = texts[page.index]
            sentences = split_sentences(text)
            narration = page_narration(sentences, [tone for _ in sentences], rate, 0.2, 48)
            name = storage.audio_name(book_id, page.index, text, narration.data)
            storage.write_bytes(name, narration.data)
            page.text, page.audio_name, page.audio_text, page.audio_duration = text, name, text, narration.duration
            page.audio_sentences = [[s.text, s.start, s.end] for s in narration.sentences]
        session.commit()
    return book_id


def polls(page, book_id: str, count: int) -> None:
    """Wait until the page has polled the book `count` times more (a poll starts after the last one was shown)."""
    for _ in range(count):
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/books/{book_id}"), timeout=10_000):
            pass


@pytest.mark.browser
def test_polls_while_a_mail_is_pending_keep_the_sentences_and_line_breaks_of_narrated_pages(browser, still_server, pg_url, data_dir):  # noqa: F811
    """A finished book polls while its mail waits: the narrated pages keep their sentence spans
    (the player highlights them), a page written on two lines or with CR LF included."""
    from shared.models import EmailRequest

    visit = Visit(browser, still_server, "narrated-mail")
    sign_up(visit, "narrated-mail@example.com")
    book_id = narrated_book(pg_url, data_dir, "narrated-mail@example.com",
                            {1: "토끼가 달렸어요.\n곰이 웃었어요.", 2: "달이 떴어요.\r\n별도  반짝였어요."})
    with session_factory(pg_url)() as session:
        session.add(EmailRequest(book_id=book_id, to_address="grandma@example.com"))
        session.commit()
    visit.go(f"/books/{book_id}")
    page = visit.page
    assert page.locator("#scene-1 .sentence").count() == 2 and page.locator("#scene-2 .sentence").count() == 2
    polls(page, book_id, 2)
    assert page.locator("#scene-1 .sentence").count() == 2 and page.locator("#scene-2 .sentence").count() == 2
    # The text as the parent wrote it, line breaks and all, between the sentence spans.
    texts = page.locator("[data-text]").evaluate_all("ps => ps.map(p => p.textContent)")
    assert texts == ["토끼가 달렸어요.\n곰이 웃었어요.", "달이 떴어요.\n별도  반짝였어요."]
    assert page.locator("#scene-1 [data-text]").inner_text() == "토끼가 달렸어요.\n곰이 웃었어요."  # shown on two lines
    assert visit.errors == []
    visit.context.close()


@pytest.mark.browser
def test_audio_that_cannot_load_is_said_the_book_goes_on_and_an_outside_pause_shows(browser, still_server, pg_url, data_dir):  # noqa: F811
    from playwright.sync_api import expect

    visit = Visit(browser, still_server, "read-aloud-failures", bypass_csp=True)  # the waits below evaluate strings
    sign_up(visit, "read-failures@example.com")
    book_id = narrated_book(pg_url, data_dir, "read-failures@example.com",
                            {1: "토끼가 달렸어요.", 2: "곰이 웃었어요. 달이 떴어요."}, sentence_s=4)
    page = visit.page
    page.route("**/scenes/1/audio*", lambda route: route.abort())  # the network drops page 1's audio
    visit.go(f"/books/{book_id}")
    now = page.locator("#reading-now")
    play_all = page.get_by_role("button", name="처음부터 읽어 주기")
    first, second = page.get_by_role("button", name="1쪽 읽어 주기"), page.get_by_role("button", name="2쪽 읽어 주기")

    # The whole book: page 1 cannot load, so it says so and reads page 2.
    play_all.click()
    expect(second).to_have_attribute("aria-pressed", "true")
    expect(now).to_have_text("1쪽 소리를 불러오지 못했어요. 2쪽을 읽고 있어요")
    assert first.get_attribute("aria-pressed") == "false" and play_all.get_attribute("aria-pressed") == "true"
    page.wait_for_function("document.querySelector('#scene-2 .sentence').classList.contains('reading')")

    # Paused from outside the page (a lock screen, headphones): the buttons say nothing plays.
    page.evaluate("document.querySelector('#scene-2 [data-audio]').pause()")
    expect(second).to_have_attribute("aria-pressed", "false")
    expect(play_all).to_have_attribute("aria-pressed", "false")
    expect(now).to_have_text("")
    assert page.locator("#scene-2 .sentence.reading").count() == 0

    # One page that cannot load: said, on screen too, and the button is let go.
    first.click()
    expect(now).to_have_text("1쪽 소리를 불러오지 못했어요. 잠시 뒤 다시 눌러 주세요.")
    expect(first).to_have_attribute("aria-pressed", "false")
    assert now.is_visible()

    # Stopped by hand: screen readers no longer hear that a page is being read.
    second.click()
    expect(now).to_have_text("2쪽을 읽고 있어요")
    second.click()
    expect(second).to_have_attribute("aria-pressed", "false")
    expect(now).to_have_text("")
    assert [e for e in visit.errors if "ERR_FAILED" not in e] == [], visit.errors
    visit.context.close()
