"""The style picker on the new-book page in a real Chromium: the first photo drawn in each style, the choice sent."""
from __future__ import annotations

import uuid

import pytest

from tests.test_accessibility import AXE, readable, violations
from tests.test_browser import Visit, browser, open_scene, sign_up, wait_photos_ready  # noqa: F401 (browser: a fixture)
from tests.test_browser_upload import book_id_of, server, small_photos  # noqa: F401 (fixtures)
from tests.web_helpers import load

pytestmark = pytest.mark.browser


@pytest.fixture
def parent(browser, server):
    """A new parent on the new-book page; the page's CSP lets the test inject axe-core."""
    visit = Visit(browser, server, "styles", viewport={"width": 1100, "height": 2400}, bypass_csp=True)
    sign_up(visit, f"styles-{uuid.uuid4().hex[:8]}@example.com")
    yield visit
    visit.context.close()
    assert [e for e in visit.errors if not e.startswith("Failed to load resource")] == [], visit.errors


def test_the_style_picker_shows_the_first_photo_drawn_in_each_style_and_sends_the_choice(parent, small_photos, pg_url):
    page = parent.page
    styles = page.locator("#style-picker input[name=style]")
    assert [styles.nth(i).get_attribute("value") for i in range(styles.count())] == ["photo", "watercolor", "pencil", "cartoon"]
    assert page.locator("#style-picker input[value=photo]").is_checked()
    page.set_input_files("#images", small_photos)
    wait_photos_ready(page)
    # Each drawn style's preview is the server's drawing of the first photo (red, 300 px wide).
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('[data-style-preview]'))"
        ".every(img => !img.parentElement.hidden && img.src.startsWith('blob:') && img.complete && img.naturalWidth > 0)"
    )
    page.get_by_label("수채화").check()
    for position in range(3):
        open_scene(page, position)
        page.locator(f"#scene-{position}-name").fill("하은")
        page.locator(f"#scene-{position}-i_action").fill("그림을 그려요")
    if AXE.is_file():
        found = violations(parent)
        assert not found, readable({"style picker": found})
    page.get_by_role("button", name="그림책 만들기").click()
    book = load(pg_url, book_id_of(page))
    assert book.style == "watercolor"


def test_the_previews_arriving_move_nothing_below_them(browser, server, small_photos):
    """A parent may be dragging a photo while the previews come back: the picker keeps their room from the start.

    On a phone the picker is two rows. The server's first drawing is held back until the strip has been
    measured, so the drawings certainly arrive after it, and meanwhile their rooms show they are coming."""
    phone = Visit(browser, server, "styles-phone", viewport={"width": 390, "height": 3600}, is_mobile=True, has_touch=True)
    page = phone.page
    sign_up(phone, f"styles-{uuid.uuid4().hex[:8]}@example.com")
    held, holding = [], [True]
    page.route("**/books/new/preview", lambda route: held.append(route) if holding else route.continue_())
    page.set_input_files("#images", small_photos)
    wait_photos_ready(page)
    page.wait_for_function("() => document.querySelectorAll('.style-preview[data-drawing]').length === 3")
    before = page.locator("#scene-list").bounding_box()["y"]
    holding.clear()
    for route in held:
        route.continue_()
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('[data-style-preview]'))"
        ".every(img => img.src.startsWith('blob:') && img.complete && img.naturalWidth > 0)"
    )
    assert page.locator("#scene-list").bounding_box()["y"] == before
    assert page.locator(".style-preview[data-drawing]").count() == 0  # nothing still shown as on its way
    phone.context.close()
    assert phone.errors == []
