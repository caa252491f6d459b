"""Sharing in a real Chromium: a parent makes a link on the book page, copies it or hands it to the phone's share
sheet, a visitor with no account reads the book and downloads it under its title, the parent ends the link.
The pictures come at the size the screen needs, and axe-core finds nothing wrong on either page."""
from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import pytest

from shared.db import session_factory
from shared.models import Book
from shared.storage import LocalStorage
from tests.helpers import jpeg
from tests.test_accessibility import AXE, readable, violations
from tests.test_browser import Visit, browser, sign_up, still_server  # noqa: F401 (fixtures)
from tests.web_helpers import make_book, user_id

pytestmark = pytest.mark.browser

TITLE = "바다에 간 날"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
# Chromium headless has no share sheet: this stands in for the browser's navigator.share and keeps what it was given.
FAKE_SHARE = """
window.__shared = [];
Object.defineProperty(navigator, "share", { configurable: true,
  value: (data) => { window.__shared.push(data); return Promise.resolve(); } });
"""


def portrait_book(db_url: str, data_dir, owner: int) -> str:
    """A finished book whose first page is a 1200x1600 photo, as a phone takes them upright."""
    book_id = make_book(db_url, data_dir, owner, title=TITLE)
    with session_factory(db_url)() as session:
        scene = session.get(Book, book_id).scenes[0]
        scene.image_name = LocalStorage(data_dir).save_photo(book_id, jpeg(1200, 1600, (90, 140, 200)), "jpg")
        scene.width, scene.height = 1200, 1600
        session.commit()
    return book_id


def make_link(visit: Visit, book_id: str, period: str) -> str:
    page = visit.page
    visit.go(f"/books/{book_id}")
    page.get_by_label("열어 둘 기간").select_option(label=period)
    page.get_by_role("button", name="공유 링크 만들기").click()
    page.locator("#share .flash-success").wait_for()
    return page.locator("[data-share-url]").last.input_value()


def test_a_parent_shares_a_book_that_a_visitor_reads_without_an_account(browser, still_server, pg_url, data_dir):  # noqa: F811
    parent = Visit(browser, still_server, "share-phone", permissions=["clipboard-read", "clipboard-write"], **PHONE)
    parent.context.add_init_script(FAKE_SHARE)
    page = parent.page
    sign_up(parent, "sharer@example.com")
    book_id = portrait_book(pg_url, data_dir, user_id(pg_url, "sharer@example.com"))
    visit_book = f"/books/{book_id}"
    parent.go(visit_book)
    week = page.get_by_label("열어 둘 기간").locator("option[value='7']").inner_text()
    url = make_link(parent, book_id, week)
    assert re.fullmatch(re.escape(still_server) + r"/s/[A-Za-z0-9_-]{43}", url)
    item = page.locator("[data-share-link]").last
    until = re.search(r"\((.+)까지\)", week).group(1)
    assert item.locator("label").inner_text().endswith(f"{until}까지 열려요")  # the period chosen is the one shown
    parent.shot("share-made")

    item.get_by_role("button", name="복사").click()
    assert page.evaluate("navigator.clipboard.readText()") == url
    item.get_by_role("button", name="보내기").click()
    page.wait_for_function("window.__shared.length === 1")
    assert page.evaluate("window.__shared[0]")["url"] == url
    assert page.evaluate("window.__shared[0]")["title"] == TITLE

    # The book page's pictures on a 2x phone: a stored size at least twice as wide as shown, not stretched.
    picture = page.locator("#scene-1 img.photo")
    picture.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    # naturalWidth is in CSS pixels once srcset picked a copy (its pixels divided by the density): decode the file itself.
    shown = picture.evaluate("async img => { const file = await createImageBitmap(await (await fetch(img.currentSrc)).blob());"
                             " return {src: img.currentSrc, pixels: [file.width, file.height],"
                             " box: [img.clientWidth, img.clientHeight], fit: getComputedStyle(img).objectFit}; }")
    assert "photo-960.jpg" in shown["src"], shown
    width, height = shown["pixels"]
    drawn_width = min(shown["box"][0], shown["box"][1] * width / height)  # the picture inside its box, ratio kept
    assert width >= 2 * drawn_width * 0.95, shown
    assert shown["fit"] == "contain" or abs(shown["box"][0] / shown["box"][1] - width / height) < 0.02, shown

    visitor = Visit(browser, still_server, "shared-desktop", viewport={"width": 1280, "height": 900})
    visitor.page.goto(url)
    assert visitor.page.get_by_role("heading", level=1).inner_text() == TITLE
    assert visitor.page.get_by_text("1쪽 이야기예요.").is_visible() and visitor.page.get_by_text("2쪽 이야기예요.").count() == 1
    visitor.page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert visitor.page.locator("main form, main input, main textarea").count() == 0  # nothing that changes the book
    assert "sharer@example.com" not in visitor.page.content()
    visitor.shot("shared-book")
    with visitor.page.expect_download() as download:
        visitor.page.get_by_role("link", name="PDF 내려받기").click()
    assert download.value.suggested_filename == f"{TITLE}.pdf"
    answer = visitor.context.request.get(url + "/pdf")
    disposition = answer.headers["content-disposition"]
    fallback = re.search(r'filename="([^"]*)"', disposition).group(1)
    assert fallback == "badae gan nal.pdf" and fallback.isascii()
    assert f"filename*=UTF-8''{quote(TITLE + '.pdf', safe='')}" in disposition

    assert not visitor.errors, visitor.errors

    # Ended from the book page (confirmed): the visitor's next look finds nothing.
    parent.go(visit_book)
    page.locator("[data-share-link]").last.get_by_role("button", name="링크 끊기").click()
    page.locator("#share .flash-success", has_text="링크를 끊었어요").wait_for()
    gone = visitor.page.goto(url)
    assert gone.status == 404
    assert visitor.context.request.get(url + "/pdf").status == 404
    assert not parent.errors, parent.errors
    parent.context.close()
    visitor.context.close()


def test_without_a_share_sheet_only_the_copy_button_shows(browser, still_server, pg_url, data_dir):  # noqa: F811
    desk = Visit(browser, still_server, "share-desktop", viewport={"width": 1280, "height": 900})
    desk.context.add_init_script("delete Navigator.prototype.share; delete navigator.share;")
    sign_up(desk, "desk-sharer@example.com")
    book_id = make_book(pg_url, data_dir, user_id(pg_url, "desk-sharer@example.com"), title=TITLE)
    desk.go(f"/books/{book_id}")
    make_link(desk, book_id, desk.page.get_by_label("열어 둘 기간").locator("option[selected]").inner_text())
    item = desk.page.locator("[data-share-link]").last
    from playwright.sync_api import expect

    expect(item.get_by_role("button", name="복사")).to_be_visible()  # share.js shows it once it has run
    assert item.get_by_role("button", name="보내기").count() == 0  # hidden: no share sheet here
    desk.context.close()


def test_no_axe_violations_on_the_shared_page_or_the_share_section(browser, still_server, pg_url, data_dir):  # noqa: F811
    if not AXE.exists():
        pytest.skip("axe-core is not installed (scripts/setup.sh installs it into .cache/axe)")
    found: dict[str, list[dict]] = {}
    for label, context in {"phone": PHONE, "desktop": {"viewport": {"width": 1280, "height": 800}}}.items():
        visit = Visit(browser, still_server, f"axe-share-{label}", bypass_csp=True, **context)
        visit.context.add_init_script(FAKE_SHARE)  # the share button shown too
        email = f"axe-share-{label}@example.com"
        sign_up(visit, email)
        book_id = portrait_book(pg_url, data_dir, user_id(pg_url, email))
        visit.go(f"/books/{book_id}")
        found[f"{label} share-empty"] = violations(visit)
        url = make_link(visit, book_id, visit.page.get_by_label("열어 둘 기간").locator("option[selected]").inner_text())
        visit.page.locator("#share").scroll_into_view_if_needed()
        found[f"{label} share-links"] = violations(visit)
        visit.shot("share-section")
        visit.go(urlsplit(url).path)
        visit.page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        found[f"{label} shared-book"] = violations(visit)
        visit.go(urlsplit(url).path + "x")
        found[f"{label} shared-gone"] = violations(visit)
        visit.context.close()
    broken = {state: items for state, items in found.items() if items}
    assert not broken, "axe-core found violations:\n" + readable(broken)
    assert len(found) == 8
