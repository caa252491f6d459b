"""A real Chromium against a real server and worker: sign up, make a book, watch it, edit, download.

Screenshots of every page, at desktop and phone width, go to $TALES_SCREENSHOTS
(default instance/screenshots) for a person to look at.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from sqlalchemy import update

from shared.db import session_factory
from shared.models import Book, utcnow
from shared.status import BookStatus
from talesrunner import samples
from tests.conftest import claimed_redis_db
from tests.helpers import REPO
from tests.web_helpers import PASSWORD, TEST_PDF, make_book, user_id

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"]
BOOK_PAGE = re.compile(r"/books/[0-9a-f]{32}$")
SHOTS = Path(os.environ.get("TALES_SCREENSHOTS", REPO / "instance" / "screenshots"))


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """The web tier built from `env` on a free port, for as long as the block runs."""
    from web import create_app

    app = create_app(env)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def server(service_env, pg_url, worker_process):
    """The web tier on a free port, sharing the database and Redis with the session's worker."""
    # The web tier offers "hints after the captions" when the deployment captions photos; the
    # worker here captions with none to stay fast, and the page flow is the same.
    with serving({**service_env, "TALES_CAPTIONER": "blip"}) as base:
        yield base


@pytest.fixture(scope="module")
def still_server(service_env, pg_url):
    """The web tier with no worker behind it (its messages go to a Redis database nobody reads):
    books stay in whatever state the test writes, and one that does not move is slow after 1 s."""
    with claimed_redis_db() as redis_url, serving({**service_env, "REDIS_URL": redis_url, "TALES_SLOW_AFTER_S": "1"}) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name, data in samples.sample_photos():
        paths[name.removesuffix(".jpg")] = folder / name
        paths[name.removesuffix(".jpg")].write_bytes(data)
    return paths


class Visit:
    """One browser context: a page, its console errors, and screenshots named in order."""

    def __init__(self, browser, base: str, label: str, **context):
        self.base, self.label, self.count = base, label, 0
        self.context = browser.new_context(locale="ko-KR", accept_downloads=True, **context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: d.accept())

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        self.page.evaluate(  # photos fully loaded, so the picture shows the page as a person sees it
            "Promise.all(Array.from(document.images).map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })))"
        )
        self.count += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.label}-{self.count:02d}-{name}.png"), full_page=True)

    def fits_width(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def sign_up(visit: Visit, email: str) -> None:
    """A new account through the sign-up form; the visit is signed in after it."""
    visit.go("/signup")
    visit.page.get_by_label("이메일").fill(email)
    visit.page.get_by_label("비밀번호 (8자 이상)").fill(PASSWORD)
    visit.page.get_by_label("비밀번호 확인").fill(PASSWORD)
    visit.page.get_by_role("button", name="가입하기").click()
    visit.page.wait_for_url("**/books/new")


def cards(page):
    return page.locator("#scene-list .scene-card")


def file_names(page) -> list[str]:
    return [name.strip() for name in cards(page).locator(".file-name").all_inner_texts()]


def wait_photos_ready(page) -> None:
    """Every chosen photo decoded (and shrunk where needed): its preview shows and the file input holds it."""
    page.wait_for_function(
        "() => { const cards = document.querySelectorAll('#scene-list .scene-card');"
        " return Array.from(cards).every(c => { const i = c.querySelector('img.preview'); return i.complete && i.naturalWidth > 0; })"
        " && document.querySelector('#images').files.length === cards.length; }"
    )


def open_scene(page, position: int):
    """Tap a photo's row in the order strip: its hints open below the strip (the others close)."""
    cards(page).nth(position).locator("[data-pick]").click()
    panel = page.locator(f"#scene-{position}-panel")
    panel.wait_for(state="visible")
    return panel


def fill_hints(page, position: int, hints: dict[str, str]) -> None:
    panel = open_scene(page, position)
    panel.locator("summary").click()  # open the optional hints
    for key, value in hints.items():
        field = panel.locator(f"[name='scenes-{position}-{key}']")
        if key == "classification":
            field.select_option(value)
        else:
            field.fill(value)


def wait_done(visit: Visit, seen: set[str]) -> None:
    """Watch the live progress until the page reloads into the finished book."""
    from playwright.sync_api import Error as PlaywrightError

    page = visit.page
    for _ in range(1200):
        # Finished, not a remake showing the last PDF ("지난 PDF 내려받기") while it works.
        if page.locator("#book[data-status='done']").count():
            return
        # The page reloads itself when the book finishes: read without waiting, and a read
        # that meets the navigation half-way is simply taken again on the next turn.
        try:
            seen.update(page.locator("#status-line").all_inner_texts())
        except PlaywrightError:
            pass
        page.wait_for_timeout(100)
    raise AssertionError("the book did not finish in two minutes")


def test_make_a_book_in_the_browser(browser, server, photos, tmp_path, pg_url, data_dir):
    shutil.rmtree(SHOTS, ignore_errors=True)
    desk = Visit(browser, server, "desktop", viewport={"width": 1280, "height": 900})
    page = desk.page
    desk.go("/")
    desk.shot("home")
    page.get_by_role("link", name="무료로 가입하기").click()
    page.get_by_label("이메일").fill("browser@example.com")
    page.get_by_label("비밀번호 (8자 이상)").fill("a long password")
    page.get_by_label("비밀번호 확인").fill("a long password")
    desk.shot("signup")
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url("**/books/new")

    # Pick the photos out of order, then put the coffee photo last with the keyboard alone.
    page.get_by_label("책 제목").fill(samples.TITLE)
    order = ["coffee", "astronaut", "rocket", "chelsea"]
    page.set_input_files("#images", [str(photos[name]) for name in order])
    assert file_names(page) == [f"{name}.jpg" for name in order]
    wait_photos_ready(page)
    page.get_by_role("button", name="장면 1 사진을 뒤로").focus()
    for _ in range(3):
        page.keyboard.press("Enter")
    assert file_names(page) == ["astronaut.jpg", "rocket.jpg", "chelsea.jpg", "coffee.jpg"]
    # Focus stays on the moved photo's buttons, now in the last card.
    assert page.evaluate("document.activeElement.closest('.scene-card') === document.querySelector('#scene-list').lastElementChild")
    page.get_by_role("button", name="장면 4 사진을 앞으로").press("Space")
    assert file_names(page)[2:] == ["coffee.jpg", "chelsea.jpg"]
    page.get_by_role("button", name="장면 3 사진을 뒤로").click()
    assert file_names(page) == ["astronaut.jpg", "rocket.jpg", "chelsea.jpg", "coffee.jpg"]
    # The file input itself now holds the photos in that order.
    assert page.evaluate("Array.from(document.querySelector('#images').files).map(f => f.name)") == file_names(page)
    for position, hints in enumerate(samples.SCENES):
        fill_hints(page, position, hints)
    # Every hint field is named by its label for assistive technology.
    # (One scene's hints are open at a time, the photo's row in the strip opens them.)
    open_scene(page, 0)
    assert page.get_by_role("textbox", name="주인공 이름 (필수)", exact=True).first.input_value() == "우주인 아저씨"
    open_scene(page, 3)
    assert page.get_by_role("combobox", name="이야기 분류 (선택)").first.input_value() == "의사소통"
    desk.shot("new-book-filled")

    page.get_by_role("button", name="그림책 만들기").click()
    page.wait_for_url(BOOK_PAGE)  # the page's script sends the form, then follows to the book
    desk.shot("book-in-progress")
    seen: set[str] = set()
    wait_done(desk, seen)
    book_url = page.url
    texts = page.locator("[data-text]").all_inner_texts()
    assert len(texts) == 4
    for text, hints in zip(texts, samples.SCENES, strict=True):
        assert hints["name"].split()[-1] in text, (text, hints["name"])
    # The coffee photo is page 4 on the server too.
    book_id = book_url.rstrip("/").rsplit("/", 1)[1]
    stored = page.request.get(f"{server}/api/v1/books/{book_id}/scenes/4/image").body()
    assert stored == photos["coffee"].read_bytes()
    desk.shot("book-done")

    # Edit page 2: the PDF is rebuilt, and the page shows progress again until it is.
    edited = "로켓은 반짝이는 별 사이로 쑥쑥 올라갔어요."
    page.locator("#scene-2 summary", has_text="글 고치기").click()
    page.get_by_label("2쪽 글").fill(edited)
    desk.shot("edit-paragraph")
    # Wait for the form's own navigation, so the finished page from before the edit is not taken as done.
    with page.expect_navigation():
        page.locator("#scene-2").get_by_role("button", name="고친 글로 다시 만들기").click()
    wait_done(desk, seen)
    assert page.locator("#scene-2 [data-text]").inner_text() == edited
    assert page.locator("#scene-2 .badge", has_text="직접 고친 글").count() == 1

    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF 내려받기").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    (tmp_path / "book.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "book.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "반짝이는 별 사이로" in " ".join(text.split())

    desk.go("/books")
    desk.shot("my-books")
    desk.go("/settings")
    page.get_by_label("토큰 이름").fill("브라우저 테스트")
    page.get_by_role("button", name="토큰 만들기").click()
    assert page.locator("#new-token").input_value().startswith("tr_")
    desk.shot("settings-token")

    # Draft flow: photos first, hints after the suggestions arrive; a chip fills its field.
    desk.go("/books/new")
    page.set_input_files("#images", [str(photos["chelsea"]), str(photos["rocket"])])
    wait_photos_ready(page)
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    assert page.locator("#scene-panels .scene-hints").first.is_hidden()
    page.get_by_role("button", name="그림책 만들기").click()
    page.wait_for_selector("text=이야기 쓰기 시작", timeout=60_000)
    chip = page.locator("#scene-1 .chip[data-fill='scene-0-setting']").first
    word = chip.get_attribute("data-value")
    chip.click()
    assert page.locator("#scene-0-setting").input_value() == word
    for position, name in enumerate(["첼시", "로켓"]):
        page.locator(f"#scene-{position}-name").fill(name)
        page.locator(f"#scene-{position}-i_action").fill("신나게 놀다")
        page.locator(f"#scene-{position}-classification").select_option("사회관계")
    desk.shot("draft-annotate")
    with page.expect_navigation():
        page.get_by_role("button", name="이야기 쓰기 시작").click()
    wait_done(desk, seen)
    assert "첼시" in page.locator("#scene-1 [data-text]").inner_text()
    page.get_by_role("button", name="이 책 지우기").click()
    page.wait_for_url("**/books")
    assert "책을 지웠어요" in page.inner_text(".flashes")

    # A book that stopped: the reason in plain words, and a retry that finishes it.
    failed_id = make_book(pg_url, data_dir, user_id(pg_url, "browser@example.com"), BookStatus.FAILED,
                          title="멈춘 책", error="PDF 만들기 (rendering the PDF) failed: OSError: No space left on device")
    desk.go(f"/books/{failed_id}")
    assert "‘PDF 만들기’ 단계에서 문제가 생겨 멈췄어요" in page.inner_text("main")
    desk.shot("book-failed")
    page.get_by_role("button", name="다시 시도하기").click()
    wait_done(desk, seen)
    assert len(page.locator("[data-text]").all_inner_texts()) == 2

    # The email form asks for an address only when the book goes to someone else.
    address = page.get_by_label("받는 사람 이메일")
    assert address.is_hidden()
    page.get_by_label("다른 사람에게").check()
    assert address.is_visible()
    address.fill("grandma@example.com")
    desk.shot("email-someone")

    assert any("이야기를 쓰고 있어요" in s or "책으로 묶고 있어요" in s for s in seen), seen
    assert desk.errors == []
    desk.context.close()

    # The same pages on a phone: nothing wider than the screen.
    phone = Visit(browser, server, "phone", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.go("/login")
    phone.page.get_by_label("이메일").fill("browser@example.com")
    phone.page.get_by_label("비밀번호").fill("a long password")
    phone.shot("login")
    phone.page.get_by_role("button", name="로그인").click()
    phone.page.wait_for_url("**/books")
    for path, name in [("/books", "my-books"), (book_url.removeprefix(server), "book-done"), ("/settings", "settings")]:
        phone.go(path)
        assert phone.fits_width(), name
        phone.shot(name)
    phone.go("/books/new")
    phone.page.set_input_files("#images", [str(photos["astronaut"]), str(photos["coffee"])])
    wait_photos_ready(phone.page)
    fill_hints(phone.page, 0, samples.SCENES[0])
    assert phone.fits_width()
    phone.shot("new-book")
    assert phone.errors == []
    phone.context.close()


def move_book(db_url: str, book_id: str, status: BookStatus | None = None, texts: dict[int, str] | None = None, **fields) -> None:
    """Do to a book what a worker would (none runs behind still_server): a new status, page texts, progress."""
    with session_factory(db_url)() as session:
        book = session.get(Book, book_id)
        if status is not None:
            book.status = status
        for name, value in fields.items():
            setattr(book, name, value)
        for scene in book.scenes:
            if texts and scene.index in texts:
                scene.text, scene.text_source = texts[scene.index], "template"
        book.updated_at = utcnow()
        session.commit()


def test_a_waiting_book_says_when_it_is_slow_and_when_the_browser_is_offline(browser, still_server, pg_url, data_dir):
    from playwright.sync_api import expect

    phone = Visit(browser, still_server, "phone-waiting", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.page
    sign_up(phone, "waiting@example.com")
    book_id = make_book(pg_url, data_dir, user_id(pg_url, "waiting@example.com"), BookStatus.QUEUED, progress_done=0)
    with session_factory(pg_url)() as session:  # moved "just now" however long the page takes to load
        session.execute(update(Book).where(Book.id == book_id).values(updated_at=utcnow() + timedelta(seconds=2)))
        session.commit()
    phone.go(f"/books/{book_id}")
    notice = page.locator("#slow-notice")
    assert notice.is_hidden()
    notice.wait_for(state="visible", timeout=10_000)  # nothing moved for the threshold (1 s here)
    assert "평소보다 오래 걸리고 있어요" in notice.inner_text()
    assert phone.fits_width()
    phone.shot("slow")

    # The book moves: the page shows it and counts the wait again from there.
    move_book(pg_url, book_id, BookStatus.CAPTIONING, progress_done=1, updated_at=utcnow() + timedelta(seconds=3))
    expect(page.locator("#progress-count")).to_have_text("1 / 2", timeout=10_000)
    assert page.locator("#status-badge").inner_text() == "사진을 살펴보고 있어요"
    assert notice.is_hidden()

    offline = page.locator("#offline-notice")
    assert offline.is_hidden()
    phone.context.set_offline(True)
    offline.wait_for(state="visible", timeout=10_000)
    assert "인터넷 연결이 끊겼어요" in offline.inner_text()
    phone.shot("offline")
    phone.context.set_offline(False)
    offline.wait_for(state="hidden", timeout=10_000)
    # Polls failed while offline; the console errors of those fetches are the browser's, not the page's.
    assert [e for e in phone.errors if "Failed to fetch" not in e and "ERR_INTERNET_DISCONNECTED" not in e] == []
    phone.context.close()


def test_polls_that_keep_failing_say_so_and_the_notice_goes_when_the_server_answers(browser, still_server, pg_url, data_dir):
    """The server answers 503 to every poll (restarting, say): after three failures in a row the page
    says so, and the next answer takes the notice away. The page's clock is Playwright's, so the
    poller's growing back-off (1.5 s, 3 s, 6 s...) passes in no time."""
    visit = Visit(browser, still_server, "failing-polls")
    page = visit.page
    sign_up(visit, "failing@example.com")
    book_id = make_book(pg_url, data_dir, user_id(pg_url, "failing@example.com"), BookStatus.CAPTIONING, progress_done=0)
    page.clock.install()
    visit.go(f"/books/{book_id}")
    notice = page.locator("#offline-notice")
    answers = []

    def unavailable(route):
        answers.append(503)
        route.fulfill(status=503, content_type="application/json", body='{"error": {"code": "unavailable", "message": "busy"}}')

    page.route(f"**/api/v1/books/{book_id}", unavailable)

    def run_until(done) -> None:
        """Move the page's clock on, a longest back-off at a time, until `done()`; answers arrive in real time."""
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline, answers
            page.clock.run_for(16_000)
            page.wait_for_timeout(100)

    run_until(notice.is_visible)
    assert len(answers) >= 3, answers  # one or two misses are not worth a word
    assert "서버에서 답이 없어요" in notice.inner_text() and "계속 만들어지고 있어요" in notice.inner_text()
    visit.shot("failing-polls")

    page.unroute(f"**/api/v1/books/{book_id}")
    run_until(notice.is_hidden)
    assert [e for e in visit.errors if "503" not in e] == []
    visit.context.close()


def test_a_rewrite_stays_in_place_keeps_the_last_pdf_and_can_be_undone(browser, still_server, pg_url, data_dir):
    phone = Visit(browser, still_server, "phone-rewrite", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.page
    sign_up(phone, "rewrite@example.com")
    book_id = make_book(pg_url, data_dir, user_id(pg_url, "rewrite@example.com"), scenes=4)
    phone.go(f"/books/{book_id}")
    third = page.locator("#scene-3")
    third.scroll_into_view_if_needed()
    with page.expect_navigation():
        third.get_by_role("button", name="3쪽 새로 쓰기").click()
    assert page.url.endswith(f"/books/{book_id}#scene-3")
    assert page.evaluate("window.scrollY") > 500 and third.is_visible()
    assert page.locator("#progress-count").inner_text() == "0 / 1"
    assert third.locator("[data-text]").inner_text() == "글을 기다리는 중…"
    phone.shot("rewriting")
    # While the page is written again the last PDF is still there to take.
    with page.expect_download() as download:
        page.get_by_role("link", name="지난 PDF 내려받기").click()
    assert Path(download.value.path()).read_bytes() == TEST_PDF

    # The worker finishes (done by hand here): the page reloads itself and stays at page 3.
    third.scroll_into_view_if_needed()
    top = third.bounding_box()["y"]
    move_book(pg_url, book_id, BookStatus.DONE, texts={3: "새로 쓴 3쪽 글이에요."})
    undo = third.get_by_role("button", name="3쪽 이전 글로 되돌리기")
    undo.wait_for(timeout=15_000)
    assert third.locator("[data-text]").inner_text() == "새로 쓴 3쪽 글이에요."
    assert abs(third.bounding_box()["y"] - top) < 2  # where it was on the screen, though the card above grew
    assert page.get_by_role("button", name="1쪽 이전 글로 되돌리기").count() == 0
    phone.shot("rewritten")
    with page.expect_navigation():
        undo.click()
    assert page.url.endswith("#scene-3")
    assert third.locator("[data-text]").inner_text() == "3쪽 이야기예요."
    assert page.locator("#status-badge").inner_text() == "책으로 묶고 있어요"
    move_book(pg_url, book_id, BookStatus.DONE)
    page.locator("#book[data-status='done']").wait_for(timeout=15_000)
    assert undo.count() == 0 and third.locator(".badge", has_text="직접 고친 글").count() == 1
    assert phone.errors == []
    phone.context.close()


def test_a_double_tap_on_send_mail_sends_it_once(browser, still_server, pg_url, data_dir, monkeypatch):
    """The server is slow to answer (the mail request waits until the test lets it go): a second tap
    while the first is on its way sends nothing, and the answer is read out beside the form."""
    from web import books_service

    arrived, release, asked = threading.Event(), threading.Event(), []
    request_email = books_service.request_email

    def slow(*args, **kwargs):
        asked.append(args[1])
        arrived.set()
        release.wait(15)
        return request_email(*args, **kwargs)

    monkeypatch.setattr(books_service, "request_email", slow)
    visit = Visit(browser, still_server, "double-tap", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = visit.page
    sign_up(visit, "twice@example.com")
    book_id = make_book(pg_url, data_dir, user_id(pg_url, "twice@example.com"))
    visit.go(f"/books/{book_id}")
    send = page.get_by_role("button", name="메일 보내기")
    send.scroll_into_view_if_needed()
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    # Taps by screen position: while a form's post is on its way, Playwright's locators wait for the next page.
    box = send.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    assert arrived.wait(15)
    # The first is with the server: the parent taps again. A second post would take the page's
    # navigation over, so the page that comes is the second's if there was one.
    page.mouse.click(x, y)
    release.set()
    page.wait_for_url(re.compile(rf"/books/{book_id}#email-form$"))
    flash = page.locator("#email-form .flash", has_text="twice@example.com 주소로 그림책을 보내고 있어요")
    flash.wait_for()
    assert len(asked) == 1 and len(posts) == 1, (asked, posts)
    assert page.evaluate("document.activeElement.classList.contains('flash')")  # read out where the parent is
    with session_factory(pg_url)() as session:
        assert len(session.get(Book, book_id).emails) == 1
    assert visit.errors == []
    visit.context.close()


def test_typing_on_the_book_page_is_not_reloaded_away(browser, still_server, pg_url, data_dir):
    from playwright.sync_api import expect

    visit = Visit(browser, still_server, "typing", viewport={"width": 1280, "height": 900})
    page = visit.page
    sign_up(visit, "typing@example.com")
    book_id = make_book(pg_url, data_dir, user_id(pg_url, "typing@example.com"), BookStatus.WRITING, progress_done=0)
    visit.go(f"/books/{book_id}")
    page.evaluate("window.samePage = true")  # gone if the page is reloaded
    page.locator("#title-form summary").click()  # the script's form while the book is made
    title = page.get_by_label("책 제목")
    title.fill("쓰다 만 제")
    # Drawing starts: no reload (still being made), and the title waits for the drawing to end.
    move_book(pg_url, book_id, BookStatus.RENDERING)
    expect(title).to_be_disabled(timeout=10_000)
    assert page.locator("[data-rendering-note]").is_visible()
    # Done: the page would reload, but the half-typed title is kept and a notice offers the reload.
    move_book(pg_url, book_id, BookStatus.DONE, texts={1: "1쪽 이야기예요.", 2: "2쪽 이야기예요."}, pdf_name="x.pdf")
    notice = page.locator("#reload-notice")
    notice.wait_for(state="visible", timeout=10_000)
    assert page.evaluate("window.samePage") and title.input_value() == "쓰다 만 제" and title.is_enabled()
    visit.shot("reload-notice")
    with page.expect_navigation():
        notice.get_by_role("button", name="새로 고침").click()
    assert page.locator("#book[data-status='done']").count() == 1

    # An edit refused because another tab started a rebuild: the page answers with the text kept,
    # its reason focused beside it; when the book is done the notice comes, not a reload.
    page.locator("#scene-1 summary", has_text="글 고치기").click()
    page.get_by_label("1쪽 글").fill("고친 1쪽\n둘째 줄")
    move_book(pg_url, book_id, BookStatus.RENDERING)
    page.locator("#scene-1").get_by_role("button", name="고친 글로 다시 만들기").click()
    page.wait_for_url(re.compile(rf"/books/{book_id}/scenes/1/text#scene-1$"))
    assert page.get_by_label("1쪽 글").input_value() == "고친 1쪽\n둘째 줄"
    assert page.evaluate("document.activeElement.id") == "text-1-error"
    assert "다 만들어지면 다시 눌러 주세요" in page.inner_text("#text-1-error")
    visit.shot("edit-kept")
    page.evaluate("window.samePage = true")
    move_book(pg_url, book_id, BookStatus.DONE)
    notice.wait_for(state="visible", timeout=10_000)
    assert page.evaluate("window.samePage") and page.get_by_label("1쪽 글").input_value() == "고친 1쪽\n둘째 줄"
    # Sent again from here, now that the book is done: taken.
    with page.expect_navigation():
        page.locator("#scene-1").get_by_role("button", name="고친 글로 다시 만들기").click()
    assert page.url.endswith(f"/books/{book_id}#scene-1")
    with session_factory(pg_url)() as session:
        assert session.get(Book, book_id).scenes[0].text == "고친 1쪽\n둘째 줄"
    assert [e for e in visit.errors if "409" not in e] == []  # the browser's own line for the refused post
    visit.context.close()
