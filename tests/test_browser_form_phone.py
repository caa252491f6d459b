"""The new-book form on a phone (Chromium at 390x844, touch), and the parents' messages around it.

In a real Chromium (web/static/new-book.js `initNewBook`): Enter moves to the next field and never sends
the book; the photos' order fits one screen as a strip with one scene's hints open; every control
is a finger's 44 px; a photo taken out comes back with its hints; a photo that cannot go says why
on its own row; a send that fails says whose side failed. The server's words (web/pages/books.py):
an edit refused for being empty or too long says which, an address that takes only posts goes to
the book page, a NUL in the title costs nothing, and no caption is awaited with captioning off.
"""
from __future__ import annotations

import io
import re
import uuid

import pytest

from shared.db import session_factory
from shared.models import Book
from shared.status import BookStatus
from tests.helpers import jpeg
from tests.test_accessibility import AXE, readable, violations
from tests.test_browser import BOOK_PAGE, Visit, browser, cards, file_names, open_scene, sign_up, wait_photos_ready  # noqa: F401
from tests.test_browser_upload import server, small_photos  # noqa: F401 (fixtures)
from tests.web_helpers import Pages, load, make_book, user_id

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def phone(browser, server):  # noqa: F811 (fixtures)
    """A new parent on the new-book page of a phone; the page's CSP lets the test inject axe-core."""
    visit = Visit(browser, server, "form-phone", bypass_csp=True, **PHONE)
    sign_up(visit, f"phone-{uuid.uuid4().hex[:8]}@example.com")
    visit.posts = []  # the book's upload; the style picker's previews post elsewhere
    visit.page.on("request", lambda r: visit.posts.append(r.url) if r.method == "POST" and r.url.endswith("/books/new") else None)
    yield visit
    visit.context.close()
    assert [e for e in visit.errors if not e.startswith("Failed to load resource")] == [], visit.errors


def no_axe_violations(visit: Visit, state: str) -> None:
    if AXE.is_file():
        found = violations(visit)
        assert not found, readable({state: found})


def focused(page) -> str:
    return page.evaluate("document.activeElement.id")


@pytest.mark.browser
def test_enter_moves_to_the_next_field_and_only_the_big_button_sends_the_book(phone, small_photos, pg_url):  # noqa: F811 (fixtures)
    page = phone.page
    page.set_input_files("#images", small_photos[:2])
    wait_photos_ready(page)
    page.locator("#title").tap()
    page.keyboard.type("바닷가 하루")
    assert page.locator("#title").get_attribute("enterkeyhint") == "next"
    page.keyboard.press("Enter")
    assert focused(page) == "age"  # a list is a field too: Enter goes on from it
    page.keyboard.press("Enter")
    assert focused(page) == "dedication"
    page.locator("#book-name").tap()
    page.keyboard.type("민지")
    page.keyboard.press("Enter")
    assert focused(page) == "book-character"
    page.keyboard.press("Enter")
    assert focused(page) == "scene-0-name"  # on into the open scene's hints
    page.keyboard.press("Enter")
    page.keyboard.type("모래성을 쌓아요")
    page.keyboard.press("Enter")
    assert focused(page) == "scene-0-classification"
    page.keyboard.press("Enter")
    # From a scene's last field to the next scene's first: that scene opens, the one before closes.
    assert focused(page) == "scene-1-name"
    assert page.locator("#scene-1-panel").is_visible() and page.locator("#scene-0-panel").is_hidden()
    page.keyboard.press("Enter")
    page.keyboard.type("공을 쫓아가요")
    # The last field of the last scene says 완료 on the keyboard, and Enter there puts the keyboard away.
    page.locator("#scene-1-panel summary").tap()
    page.locator("#scene-1-prediction").tap()
    assert page.locator("#scene-1-prediction").get_attribute("enterkeyhint") == "done"
    page.keyboard.type("내일도 갈 거예요")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement === document.body")
    assert phone.posts == [] and page.url.endswith("/books/new")
    assert cards(page).nth(0).locator(".scene-summary").inner_text() == "민지 · 모래성을 쌓아요"

    page.get_by_role("button", name="그림책 만들기").tap()
    page.wait_for_url(BOOK_PAGE)
    book = load(pg_url, page.url.rsplit("/", 1)[1])
    assert book.title == "바닷가 하루"
    assert [scene.annotations["i_action"] for scene in book.scenes] == ["모래성을 쌓아요", "공을 쫓아가요"]
    assert book.scenes[1].annotations["prediction"] == "내일도 갈 거예요"


@pytest.mark.browser
def test_without_script_enter_sends_nothing_either(browser, server):  # noqa: F811 (fixtures)
    """The form's first submit button is disabled, so the browser's implicit submission has nothing to press."""
    visit = Visit(browser, server, "form-noscript", java_script_enabled=False, **PHONE)
    sign_up(visit, f"noscript-{uuid.uuid4().hex[:8]}@example.com")
    posts = []
    visit.page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    visit.page.locator("#title").fill("엔터")
    visit.page.locator("#title").press("Enter")
    visit.page.wait_for_timeout(300)
    assert posts == [] and visit.page.url.endswith("/books/new")
    visit.context.close()


@pytest.mark.browser
def test_four_photos_fit_one_screen_in_order_with_one_scene_open(phone, small_photos):  # noqa: F811 (fixtures)
    page = phone.page
    page.set_input_files("#images", [*small_photos, small_photos[0]])
    wait_photos_ready(page)
    strip = page.locator("#scene-list")
    strip.evaluate("strip => strip.scrollIntoView({ block: 'start' })")
    box = strip.bounding_box()
    form = page.locator("#new-book").bounding_box()
    print(f"phone 390x844, 4 photos: strip {box['height']:.0f} px, form {form['height']:.0f} px")
    assert box["y"] >= -1 and box["y"] + box["height"] <= 844  # the whole order on one screen, half of it
    assert box["height"] <= 844 / 2 and form["height"] <= 3500  # (the form was 4,611 px before the strip)
    assert file_names(page) == ["photo1.jpg", "photo2.jpg", "photo3.jpg", "photo1.jpg"]
    # One scene's hints open, the first; the others are one line each in the strip.
    assert page.locator(".scene-panel:visible").count() == 1 and page.locator("#scene-0-panel").is_visible()
    assert [cards(page).nth(i).locator(".scene-summary").inner_text() for i in range(1, 4)] == ["힌트를 써 주세요"] * 3
    page.locator("#scene-0-name").fill("하늘")
    page.locator("#scene-0-i_action").fill("연을 날려요")
    cards(page).nth(2).locator("[data-pick]").tap()
    assert page.locator(".scene-panel:visible").count() == 1 and page.locator("#scene-2-panel").is_visible()
    assert cards(page).nth(2).locator("[data-pick]").get_attribute("aria-expanded") == "true"
    assert cards(page).nth(0).locator("[data-pick]").get_attribute("aria-expanded") == "false"
    assert cards(page).nth(0).locator(".scene-summary").inner_text() == "하늘 · 연을 날려요"
    assert focused(page) == "scene-2-panel-title"
    # The buttons still move a photo, and the open scene goes with its photo.
    cards(page).nth(2).get_by_role("button", name="장면 3 사진을 앞으로").tap()
    assert file_names(page) == ["photo1.jpg", "photo3.jpg", "photo2.jpg", "photo1.jpg"]
    assert page.locator("#scene-1-panel").is_visible()
    assert "photo3.jpg 사진을 2번째 장면으로 옮겼어요" in page.locator("#order-status").inner_text()
    # What each choice means is under it, read with it.
    for name in ("classification", "causalRelationship", "outcomeResolution", "prediction"):
        help_id = page.locator(f"#scene-1-{name}").get_attribute("aria-describedby").split()[0]
        assert page.locator(f"#{help_id}").text_content().strip()  # (the last three in the closed 더 자세한 힌트)
    assert "누리과정" in page.locator("#scene-1-classification-help").inner_text()
    assert "자연·동물" in page.locator("#scene-1-classification option[value='자연탐구']").inner_text()
    assert phone.fits_width()
    phone.shot("strip")
    no_axe_violations(phone, "strip with one scene open")


TAPPABLE = """() => Array.from(document.querySelectorAll('#new-book :is(button, a, input, select, textarea, summary)'))
    .map((el) => (el.type === 'radio' || el.type === 'checkbox') ? el.closest('label') || el : el)
    .filter((el) => el.checkVisibility())
    .map((el) => { const box = el.getBoundingClientRect();
                   return { what: el.id || el.getAttribute('aria-label') || el.textContent.trim().slice(0, 20) || el.name,
                            width: Math.round(box.width), height: Math.round(box.height) }; })"""


@pytest.mark.browser
def test_every_control_of_the_form_is_at_least_44_px_on_a_phone(phone, small_photos):  # noqa: F811 (fixtures)
    page = phone.page
    page.set_input_files("#images", [*small_photos, small_photos[0]])
    wait_photos_ready(page)
    open_scene(page, 1).get_by_role("button", name="장면 2 사진 빼기").tap()  # the undo bar shows
    open_scene(page, 1).locator("summary").tap()  # a scene's optional hints open too
    targets = page.evaluate(TAPPABLE)
    assert len(targets) > 35, targets
    small = [t for t in targets if t["width"] < 44 or t["height"] < 44]
    assert small == [], small


@pytest.mark.browser
def test_a_photo_taken_out_comes_back_in_its_place_with_all_its_hints(phone, small_photos):  # noqa: F811 (fixtures)
    page = phone.page
    page.set_input_files("#images", small_photos)
    wait_photos_ready(page)
    panel = open_scene(page, 1)
    page.locator("#scene-1-name").fill("강아지")
    page.locator("#scene-1-i_action").fill("공을 쫓아가요")
    panel.locator("summary").tap()
    page.locator("#scene-1-setting").fill("공원")
    page.locator("#scene-1-classification").select_option("신체운동_건강")
    panel.get_by_role("button", name="장면 2 사진 빼기").tap()
    assert file_names(page) == ["photo1.jpg", "photo3.jpg"]
    assert page.evaluate("Array.from(document.querySelector('#images').files).map(f => f.name)") == ["photo1.jpg", "photo3.jpg"]
    bar = page.locator("#undo-bar")
    assert bar.is_visible() and "장면 2 사진(photo2.jpg)을 뺐어요" in bar.inner_text()
    assert page.locator("#undo-region").get_attribute("aria-live") == "polite"
    assert focused(page) == "undo-remove"  # the keyboard is on 되돌리기
    no_axe_violations(phone, "a photo taken out")

    page.keyboard.press("Enter")
    assert file_names(page) == ["photo1.jpg", "photo2.jpg", "photo3.jpg"]
    assert page.evaluate("Array.from(document.querySelector('#images').files).map(f => f.name)") == file_names(page)
    assert bar.is_hidden()
    values = {name: page.locator(f"#scene-1-{name}").input_value() for name in ("name", "i_action", "setting", "classification")}
    assert values == {"name": "강아지", "i_action": "공을 쫓아가요", "setting": "공원", "classification": "신체운동_건강"}
    assert page.locator("#scene-1-panel").is_visible()
    assert "photo2.jpg 사진을 2번째 장면으로 되돌렸어요" in page.locator("#order-status").inner_text()


@pytest.mark.browser
def test_each_photo_that_cannot_go_says_why_on_its_own_row(phone, tmp_path, server):  # noqa: F811 (fixtures)
    page = phone.page
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff this is not a photo")
    # A HEIC's first bytes (this browser cannot show HEIC, the server reads it) and nothing of a photo after them.
    fake_heic = tmp_path / "IMG_0002.heic"
    fake_heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg(300, 200, (200, 40, 40)))
    page.set_input_files("#images", [str(broken), str(fake_heic), str(good)])
    rows = cards(page)
    rows.nth(0).get_by_text("사진으로 열 수 없는 파일이에요").wait_for()
    rows.nth(1).get_by_text("원본 그대로 보내요").wait_for()
    # No broken-image icon: a row without a preview shows a plain tile, never an <img> without a picture.
    assert rows.nth(0).locator("img.preview").is_hidden() and rows.nth(0).locator(".no-preview").inner_text() == "!"
    assert rows.nth(1).locator("img.preview").is_hidden() and rows.nth(1).locator(".no-preview").inner_text() == "HEIC"
    assert page.evaluate("Array.from(document.images).filter(i => i.getClientRects().length && !(i.complete && i.naturalWidth)).length") == 0
    assert "원본 그대로" not in rows.nth(0).inner_text()
    assert rows.nth(0).locator("[data-pick]").get_attribute("aria-describedby") == "scene-0-note"
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    page.get_by_role("button", name="그림책 만들기").tap()
    alert = page.locator("#form-alert")
    alert.wait_for(state="visible")
    assert "장면 1 (broken.jpg): 보낼 수 없는 사진이에요" in alert.inner_text()
    assert phone.posts == []
    open_scene(page, 0).get_by_role("button", name="장면 1 사진 빼기").tap()

    # The server refuses the HEIC that is none: the reason lands on that photo's row, not "sent as it is".
    page.get_by_role("button", name="그림책 만들기").tap()
    rows.nth(0).get_by_text("사진을 열 수 없어요").wait_for()
    assert "원본 그대로" not in rows.nth(0).inner_text()
    assert rows.nth(0).locator(".no-preview").inner_text() == "!"
    assert "사진으로 읽을 수 없는 파일이 있어요" in alert.inner_text()
    assert len(phone.posts) == 1 and file_names(page) == ["IMG_0002.heic", "good.jpg"]
    phone.shot("photo-errors")
    no_axe_violations(phone, "photos that cannot go")
    # Sent again as it is, it would be refused again: the page asks for it to be taken out first.
    page.get_by_role("button", name="그림책 만들기").tap()
    assert "장면 1 (IMG_0002.heic): 보낼 수 없는 사진이에요" in alert.inner_text()
    assert len(phone.posts) == 1


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.?!요])\s+", text) if s.strip()]


@pytest.mark.browser
def test_a_failed_send_says_whose_side_failed_once(phone, small_photos):  # noqa: F811 (fixtures)
    page = phone.page
    page.set_input_files("#images", small_photos[:1])
    wait_photos_ready(page)
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    alert = page.locator("#form-alert")
    send = page.get_by_role("button", name="그림책 만들기")

    def said() -> str:
        send.tap()
        alert.wait_for(state="visible")
        page.wait_for_function("() => document.querySelector('#submit-book').disabled === false")
        text = alert.inner_text()
        assert len(sentences(text)) == len(set(sentences(text))), text  # no sentence twice
        return text

    # The server does not answer at all (down, restarting): not the parent's internet.
    page.route("**/books/new/check", lambda route: route.abort("connectionrefused"))
    text = said()
    assert "서버에 닿지 못했어요" in text and "인터넷" not in text
    page.unroute("**/books/new/check")
    # The server (or the proxy before it) answers 503 to the upload.
    page.route("**/books/new", lambda route: route.fulfill(status=503, content_type="text/html", body="<h1>503</h1>")
               if route.request.method == "POST" else route.continue_())
    text = said()
    assert "서버가 잠시 답을 하지 못해요" in text and "인터넷" not in text
    page.unroute("**/books/new")
    # This phone is offline: that one is its own connection.
    phone.context.set_offline(True)
    text = said()
    assert "이 기기가 인터넷에 연결되어 있지 않아요" in text
    phone.context.set_offline(False)
    assert phone.posts.count(phone.base + "/books/new") <= 1  # the 503 one; nothing else reached a server


# The server's words -------------------------------------------------------------------------------

@pytest.fixture
def pages(client) -> Pages:
    return Pages(client)


def test_a_refused_edit_says_whether_the_text_was_empty_or_too_long(pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    empty = pages.post(f"/books/{book_id}/scenes/1/text", {"text": "  \r\n "}, page=f"/books/{book_id}")
    assert empty.status_code == 400 and "1쪽 글이 비어 있어요. 책에 실을 글을 적어 주세요." in empty.text
    # Counted as the textarea counts: a line break (CR LF as sent) is one character.
    too_long = pages.post(f"/books/{book_id}/scenes/2/text", {"text": "가" * 1990 + "\r\n나" * 15}, page=f"/books/{book_id}")
    assert too_long.status_code == 400
    assert "2쪽 글이 너무 길어요. 2,000자까지 쓸 수 있는데 지금 2,020자예요. 20자를 줄여 주세요." in too_long.text
    assert "비어 있거나" not in too_long.text


def test_the_address_of_a_refused_form_opened_again_is_the_book_page(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    refused = pages.post(f"/books/{book_id}/scenes/2/text", {"text": ""}, page=f"/books/{book_id}")
    assert refused.status_code == 400
    again = client.get(f"/books/{book_id}/scenes/2/text")  # a reload by address, a bookmark, Back then Forward
    assert again.status_code == 303 and again.location == f"/books/{book_id}#scene-2"
    assert client.get(again.location).status_code == 200
    for path, to in [("email", "#email-form"), ("title", "#title-form"), ("retry", ""), ("annotations", ""),
                     ("scenes/1/regenerate", "#scene-1"), ("scenes/1/undo", "#scene-1")]:
        answer = client.get(f"/books/{book_id}/{path}")
        assert (answer.status_code, answer.location) == (303, f"/books/{book_id}{to}"), path
    # Only the owner's book: anyone else's is not found, as every other address of it.
    pages.logout()
    pages.signup("other@example.com")
    assert client.get(f"/books/{book_id}/scenes/2/text").status_code == 404


def test_a_control_character_in_the_title_is_dropped_and_the_rest_of_the_form_kept(client, pages, db):
    pages.signup()
    form = {"title": "바닷\x00가 하루\x1b", "book-name": "민\x00지", "scenes-0-i_action": "모래성\x07을 쌓아요",
            "images": [(io.BytesIO(jpeg(300, 200, (200, 40, 40))), "a.jpg")]}
    answer = pages.post("/books/new", form, page="/books/new", headers={"Accept": "application/json"})
    assert answer.status_code == 201, answer.text
    book = load(db, answer.json["id"])
    assert book.title == "바닷가 하루"
    assert book.scenes[0].annotations["name"] == "민지" and book.scenes[0].annotations["i_action"] == "모래성을 쌓아요"
    # The book page's title form too.
    renamed = pages.post(f"/books/{book.id}/title", {"title": "새\x00 제목"}, page=f"/books/{book.id}")
    assert renamed.status_code == 303 and load(db, book.id).title == "새 제목"


@pytest.mark.parametrize("captioner, waits", [("none", False), ("blip", True)])
def test_a_caption_is_awaited_only_where_photos_are_described(db, service_env, spare_redis_url, data_dir, captioner, waits):
    from web import create_app

    app = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_CAPTIONER": captioner})
    pages = Pages(app.test_client())
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.CAPTIONING, progress_done=0)
    with session_factory(db)() as session:
        for scene in session.get(Book, book_id).scenes:
            scene.caption = None
        session.commit()
    page = pages.client.get(f"/books/{book_id}").text
    assert f'data-captions="{"on" if waits else "off"}"' in page
    lines = re.findall(r'<p class="caption"([^>]*)>\s*<span class="label">사진 설명</span> <span data-caption>([^<]*)</span>', page)
    assert len(lines) == 2
    assert all(("hidden" not in attributes) == waits and text == "사진 설명을 만드는 중…" for attributes, text in lines)
