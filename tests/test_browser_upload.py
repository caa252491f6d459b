"""The new-book page in a real Chromium: photos shrunk before upload, progress, refusals and drops that lose
nothing, drag-and-drop order, and the draft that survives a reload (web/static/new-book.js `initNewBook`).

No worker runs: the books stay queued, so each test signs up its own parent, and the small
TALES_MAX_ACTIVE_BOOKS makes the books-in-progress refusal cheap to reach.
"""
from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
from werkzeug.serving import make_server

from shared.status import BookStatus
from tests.conftest import claimed_redis_db
from tests.helpers import camera_jpeg, jpeg
from tests.test_browser import BOOK_PAGE, Visit, browser, cards, file_names, open_scene, sign_up, wait_photos_ready  # noqa: F401 (browser: a fixture)
from tests.web_helpers import load, make_book, user_id

pytestmark = pytest.mark.browser

MAX_ACTIVE = 2


@pytest.fixture(scope="module")
def server(service_env):
    """The web tier on a free port; its task messages go to a Redis database no worker reads."""
    from web import create_app

    with claimed_redis_db() as redis_url:
        # TALES_CAPTIONER: the page offers hints after captions only where photos are captioned.
        app = create_app({**service_env, "REDIS_URL": redis_url, "TALES_MAX_ACTIVE_BOOKS": str(MAX_ACTIVE),
                          "TALES_CAPTIONER": "blip"})
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        httpd = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{port}"
        httpd.shutdown()


@pytest.fixture(scope="module")
def small_photos(tmp_path_factory):
    """Three photos told apart by their widths, in the order they are picked."""
    folder = tmp_path_factory.mktemp("small")
    paths = []
    for number, (width, color) in enumerate([(300, (200, 40, 40)), (310, (40, 200, 40)), (320, (40, 40, 200))], start=1):
        path = folder / f"photo{number}.jpg"
        path.write_bytes(jpeg(width, 200, color))
        paths.append(str(path))
    return paths


@pytest.fixture
def parent(browser, server, request):
    """A new parent signed up in a fresh browser context, on the new-book page."""
    visit = Visit(browser, server, "upload", viewport={"width": 1100, "height": 900})
    visit.email = f"upload-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(visit, visit.email)
    yield visit
    visit.context.close()
    # Chromium logs every refused or dropped request the page then handles; script errors must not occur.
    assert [e for e in visit.errors if not e.startswith("Failed to load resource")] == [], visit.errors


def book_id_of(page) -> str:
    page.wait_for_url(BOOK_PAGE)
    return page.url.rstrip("/").rsplit("/", 1)[1]


def hint_values(page) -> dict[str, str]:
    return page.evaluate(
        "() => Object.fromEntries(Array.from(document.querySelectorAll('#new-book [name]'))"
        ".filter(f => f.name !== 'csrf_token' && f.type !== 'file' && f.type !== 'radio' && f.type !== 'checkbox')"
        ".map(f => [f.name, f.value]))"
    )


DRAFT_SAVED = """async () => {
    const db = await new Promise((resolve) => { const open = indexedDB.open("talesrunner", 1);
        open.onupgradeneeded = () => open.result.createObjectStore("drafts"); open.onsuccess = () => resolve(open.result); });
    const drafts = await new Promise((resolve) => {
        const all = db.transaction("drafts").objectStore("drafts").getAll(); all.onsuccess = () => resolve(all.result); });
    db.close();
    const form = document.querySelector("#new-book");
    const typed = Array.from(form.querySelectorAll("input:not([type]), input[type=text], textarea")).filter((f) => f.name);
    return drafts.length === 1 && drafts[0].photos.length === form.querySelectorAll(".scene-card").length
        && typed.every((f) => (drafts[0].fields[f.name] || "") === f.value);
}"""


def wait_draft_saved(page, timeout_s: float = 20) -> None:
    """The draft in IndexedDB holds every typed field as the form shows it now, and every photo (no fixed wait).

    Asked again and again from here: wait_for_function takes a returned promise for a true answer."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(DRAFT_SAVED):
        assert time.monotonic() < deadline, "the draft was not saved"
        page.wait_for_timeout(100)


def test_large_photos_are_shrunk_before_a_throttled_upload_with_progress(parent, tmp_path, pg_url):
    page = parent.page
    paths = []
    for seed in range(4):
        path = tmp_path / f"camera{seed}.jpg"
        path.write_bytes(camera_jpeg(4000, 3000, seed))
        paths.append(str(path))
    page.set_input_files("#images", paths)
    wait_photos_ready(page)
    assert page.get_by_text("긴 쪽 2,400픽셀").is_visible()  # the page says the photos are reduced
    previews = cards(page).locator("img.preview").evaluate_all("imgs => imgs.map(i => Math.max(i.naturalWidth, i.naturalHeight))")
    assert previews == [320] * 4  # thumbnails, not the 12 MP originals
    sent = page.evaluate("Array.from(document.querySelector('#images').files).map(f => f.size)")
    assert all(size < 1_500_000 for size in sent), sent
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    assert page.locator("#book-name").is_enabled()  # asked once even when the hints come later
    page.fill("#book-name", "민지")

    page.get_by_role("button", name="그림책 만들기").click()
    book = load(pg_url, book_id_of(page))
    assert [(scene.width, scene.height) for scene in book.scenes] == [(2400, 1800)] * 4
    assert book.hint_defaults == {"name": "민지"} and book.display_title == "민지의 이야기"


def test_the_progress_bar_moves_while_the_photos_go_up(parent, tmp_path):
    page = parent.page
    path = tmp_path / "camera.jpg"
    path.write_bytes(camera_jpeg(4000, 3000, 7))
    page.set_input_files("#images", [str(path)] * 3)
    wait_photos_ready(page)
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    cdp = parent.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 4_000_000 / 8})
    # Hold the book page back so the record of the bar can be read before the page moves on.
    page.route(BOOK_PAGE, lambda route: None)
    page.evaluate(
        "() => { window.seen = []; const bar = document.querySelector('#upload-bar');"
        " new MutationObserver(() => window.seen.push(bar.value)).observe(document.querySelector('#upload-percent'),"
        " { childList: true, characterData: true, subtree: true }); }"
    )
    page.get_by_role("button", name="그림책 만들기").click()
    page.wait_for_function("() => window.seen && window.seen.includes(100)", timeout=30_000)
    seen = page.evaluate("window.seen")
    assert len({value for value in seen if 0 < value < 100}) >= 3, seen
    assert seen == sorted(seen)
    assert page.locator("#upload-progress").is_visible()


def test_a_file_neither_the_browser_nor_the_server_can_read_is_refused_on_its_own_row(parent, tmp_path):
    """Named .heic, but no HEIC inside: the browser cannot decode it and its first bytes are no format the
    server reads, so its row says why and it is not sent (tests/test_browser_form_phone.py: one the server refuses)."""
    page = parent.page
    odd = tmp_path / "IMG_0001.heic"
    odd.write_bytes(b"ftypheic but not really a photo")
    page.set_input_files("#images", [str(odd)])
    note = cards(page).first.locator(".photo-note")
    note.get_by_text("사진으로 열 수 없는 파일이에요").wait_for()
    assert "원본 그대로 보내요" not in note.inner_text()
    assert page.evaluate("document.querySelector('#images').files.length") == 0
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    page.get_by_role("button", name="그림책 만들기").click()
    alert = page.locator("#form-alert")
    alert.wait_for(state="visible")
    assert "장면 1 (IMG_0001.heic): 보낼 수 없는 사진이에요" in alert.inner_text()
    assert file_names(page) == ["IMG_0001.heic"]


def test_the_books_in_progress_refusal_comes_before_the_upload_and_keeps_every_hint(parent, server, small_photos, pg_url, data_dir):
    page = parent.page
    for status in (BookStatus.QUEUED, BookStatus.WRITING):
        make_book(pg_url, data_dir, user_id(pg_url, parent.email), status)
    page.get_by_label("책 제목").fill("바닷가 하루")
    page.get_by_label("주인공 이름 (한 번만", exact=False).fill("민지")
    page.set_input_files("#images", small_photos[:2])
    wait_photos_ready(page)
    # The book-level hero is in every scene; the scenes can still say otherwise.
    assert [page.locator(f"#scene-{i}-name").input_value() for i in range(2)] == ["민지", "민지"]
    page.locator("#scene-0-i_action").fill("모래성을 쌓아요")
    open_scene(page, 1)
    page.locator("#scene-1-name").fill("강아지")
    page.locator("#scene-1-i_action").fill("공을 쫓아가요")
    before = hint_values(page)
    uploads: list[str] = []  # the style picker's preview posts a thumbnail; only the book's upload counts here
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" and r.url.endswith("/books/new") else None)
    page.get_by_role("button", name="그림책 만들기").click()
    alert = page.locator("#form-alert")
    alert.wait_for(state="visible")
    assert "만들고 있는 책이 너무 많아요" in alert.inner_text()
    assert uploads == []  # refused before a byte of the photos was sent
    assert hint_values(page) == before
    assert file_names(page) == ["photo1.jpg", "photo2.jpg"]
    assert page.get_by_role("button", name="그림책 만들기").is_enabled()


def test_a_dropped_upload_and_a_server_refusal_lose_nothing_and_dragged_order_reaches_the_server(parent, small_photos, pg_url):
    page = parent.page
    page.set_viewport_size({"width": 1100, "height": 3000})  # all three cards, with their hints, on screen
    page.set_input_files("#images", small_photos)
    wait_photos_ready(page)
    # Drag photo 3 by its handle above photo 1 (Pointer Events: the same code takes touch).
    handle = cards(page).nth(2).locator("[data-drag]").bounding_box()
    first = cards(page).nth(0).bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(first["x"] + 40, first["y"] + 5, steps=12)
    page.mouse.up()
    assert file_names(page) == ["photo3.jpg", "photo1.jpg", "photo2.jpg"]
    assert "photo3.jpg 사진을 1번째 장면으로 옮겼어요" in page.locator("#order-status").inner_text()
    assert page.evaluate("Array.from(document.querySelector('#images').files).map(f => f.name)") == file_names(page)
    for position, (name, action) in enumerate([("파랑", "그림을 그려요"), ("빨강", "책을 읽어요"), ("초록", "뛰어놀아요")]):
        open_scene(page, position)
        page.locator(f"#scene-{position}-name").fill(name)
        page.locator(f"#scene-{position}-i_action").fill(action)

    # The connection drops mid-upload: the message says so and the page keeps everything.
    page.route("**/books/new", lambda route: route.abort("connectionreset") if route.request.method == "POST" else route.continue_())
    page.get_by_label("책 제목").fill("x" * 10)
    before = hint_values(page)
    page.get_by_role("button", name="그림책 만들기").click()
    page.locator("#form-alert").wait_for(state="visible")
    assert "사진을 보내는 도중에 연결이 끊겼어요" in page.locator("#form-alert").inner_text()
    assert hint_values(page) == before and len(file_names(page)) == 3
    page.unroute("**/books/new")

    # The server refuses one field: its message sits beside that field, and nothing else changes.
    open_scene(page, 1)
    page.locator("#scene-1-classification").select_option("의사소통")
    page.evaluate("document.querySelector('#scene-2-name').value = ' '")  # passes the browser, not the server
    page.get_by_role("button", name="그림책 만들기").click()
    problem = page.locator("#scene-2-name-error")
    problem.wait_for(state="visible")
    assert problem.inner_text() == "주인공 이름을 적어 주세요."
    assert page.locator("#scene-2-name").get_attribute("aria-invalid") == "true"
    assert file_names(page) == ["photo3.jpg", "photo1.jpg", "photo2.jpg"]

    page.locator("#scene-2-name").fill("초록")
    page.get_by_role("button", name="그림책 만들기").click()
    book = load(pg_url, book_id_of(page))
    assert [scene.width for scene in book.scenes] == [320, 300, 310]
    assert [scene.annotations["name"] for scene in book.scenes] == ["파랑", "빨강", "초록"]
    # Left empty, the classification was filled in from the words: 그림 (art), then as chosen, then 뛰 (movement).
    assert [scene.annotations["classification"] for scene in book.scenes] == ["예술경험", "의사소통", "신체운동_건강"]


def test_the_draft_comes_back_after_a_reload_and_goes_once_the_book_is_made(parent, small_photos, pg_url):
    page = parent.page
    page.get_by_label("책 제목").fill("할머니 댁")
    page.get_by_label("주인공 이름 (한 번만", exact=False).fill("준호")
    page.set_input_files("#images", small_photos[:2])
    wait_photos_ready(page)
    page.get_by_role("button", name="장면 2 사진을 앞으로").click()
    open_scene(page, 0)
    page.locator("#scene-0-i_action").fill("감을 따요")
    open_scene(page, 1)
    page.locator("#scene-1-name").fill("할머니")
    page.locator("#scene-1-i_action").fill("떡을 만들어요")
    before = hint_values(page)
    wait_draft_saved(page)
    page.reload()
    page.locator("#draft-note").wait_for(state="visible")
    wait_photos_ready(page)
    assert file_names(page) == ["photo2.jpg", "photo1.jpg"]
    assert hint_values(page) == before
    # The restored book-level hero still fills the scenes that took it, not the one changed by hand.
    page.get_by_label("주인공 이름 (한 번만", exact=False).fill("준희")
    assert [page.locator(f"#scene-{i}-name").input_value() for i in range(2)] == ["준희", "할머니"]

    # A stale security token (a restarted session) is refreshed and the form sent again, once.
    page.evaluate("document.querySelector('[name=csrf_token]').value = 'stale'")
    page.get_by_role("button", name="그림책 만들기").click()
    book = load(pg_url, book_id_of(page))
    assert [scene.width for scene in book.scenes] == [310, 300]
    assert [scene.annotations["name"] for scene in book.scenes] == ["준희", "할머니"]
    parent.go("/books/new")
    page.wait_for_timeout(300)
    assert cards(page).count() == 0 and page.locator("#draft-note").is_hidden()


def test_logging_out_forgets_the_draft_so_the_next_parent_on_this_computer_sees_none(parent, browser, small_photos):
    page = parent.page
    page.get_by_label("주인공 이름 (한 번만", exact=False).fill("비밀아이")
    page.set_input_files("#images", small_photos)
    wait_photos_ready(page)
    wait_draft_saved(page)
    page.get_by_role("button", name="로그아웃").click()
    page.wait_for_url("**/login")
    assert page.evaluate("""() => new Promise((resolve) => {
        const open = indexedDB.open("talesrunner", 1);
        open.onupgradeneeded = () => open.result.createObjectStore("drafts");
        open.onsuccess = () => { const all = open.result.transaction("drafts").objectStore("drafts").getAllKeys();
                                 all.onsuccess = () => { open.result.close(); resolve(all.result.length); }; };
    })""") == 0

    # Another parent on the same browser.
    sign_up(parent, f"next-{uuid.uuid4().hex[:8]}@example.com")
    page.wait_for_timeout(300)
    assert cards(page).count() == 0 and page.locator("#draft-note").is_hidden()
    assert page.locator("#book-name").input_value() == ""


def test_a_photo_the_browser_has_no_canvas_for_is_sent_as_it_is_and_the_rest_go_too(parent, small_photos, tmp_path, pg_url):
    """iOS Safari out of canvas memory gives no 2D context for a big canvas: that photo goes as it is."""
    page = parent.page
    page.evaluate("""() => {
        const real = HTMLCanvasElement.prototype.getContext;
        HTMLCanvasElement.prototype.getContext = function (...args) {
            return this.width > 1000 || this.height > 1000 ? null : real.apply(this, args);
        };
    }""")
    big = tmp_path / "big.jpg"
    big.write_bytes(camera_jpeg(4000, 3000, 7))
    page.set_input_files("#images", [str(big), small_photos[0]])
    from playwright.sync_api import expect

    expect(cards(page).nth(0)).to_contain_text("원본 그대로 보내요", timeout=20_000)  # no preview for the big one
    expect(cards(page).nth(1).locator("img.preview")).to_have_js_property("naturalWidth", 300)
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    page.get_by_role("button", name="그림책 만들기").click()
    book = load(pg_url, book_id_of(page))
    assert [(scene.width, scene.height) for scene in book.scenes] == [(4000, 3000), (300, 200)]


def test_a_finger_drags_a_photo_to_the_front_on_a_phone(browser, server, small_photos):
    # Tall enough for the style picker above the photos and all three cards on one screen.
    phone = Visit(browser, server, "upload-phone", viewport={"width": 390, "height": 3600}, is_mobile=True, has_touch=True)
    page = phone.page
    sign_up(phone, f"touch-{uuid.uuid4().hex[:8]}@example.com")
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()  # short cards: all on one screen
    page.set_input_files("#images", small_photos)
    wait_photos_ready(page)
    # The style previews come back while a parent may be dragging (they move nothing: test_browser_styles);
    # the drag starts after them so that this test is about the drag alone.
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-style-preview]')).every(img => img.complete && img.naturalWidth > 0)")
    handle = cards(page).nth(2).locator("[data-drag]").bounding_box()
    first = cards(page).nth(0).bounding_box()
    cdp = phone.context.new_cdp_session(page)
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 13):
        cdp.send("Input.dispatchTouchEvent",
                 {"type": "touchMove", "touchPoints": [{"x": x, "y": y + (first["y"] + 5 - y) * step / 12}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert file_names(page) == ["photo3.jpg", "photo1.jpg", "photo2.jpg"]
    assert page.evaluate("Array.from(document.querySelector('#images').files).map(f => f.name)") == file_names(page)
    assert phone.fits_width()
    phone.context.close()
    assert phone.errors == []
