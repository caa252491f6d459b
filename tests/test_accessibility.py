"""axe-core finds no violations on any page, in any state of a book, on a phone and on a desktop.

axe-core comes from npm (scripts/setup.sh puts it in .cache/axe); the books are written straight
into the database (tests.web_helpers.make_book), so no worker runs and the test stays quick.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from shared.db import session_factory
from shared.models import Book
from shared.status import BookStatus
from tests.helpers import REPO
from tests.test_browser import Visit, browser, sign_up, still_server  # noqa: F401 (fixtures)
from tests.web_helpers import make_book, user_id

pytestmark = pytest.mark.browser

AXE = REPO / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


def violations(visit: Visit) -> list[dict]:
    """What axe-core finds wrong on the page as it is now (every rule it runs by default)."""
    if not visit.page.evaluate("typeof window.axe !== 'undefined'"):
        visit.page.add_script_tag(path=str(AXE))
    return visit.page.evaluate("async () => (await axe.run(document, { resultTypes: ['violations'] })).violations")


def readable(found: dict[str, list[dict]]) -> str:
    """One block per page state: each rule broken, why, and the elements that break it."""
    lines = []
    for state, items in found.items():
        for item in items:
            lines.append(f"{state}: {item['id']} ({item['impact']}): {item['help']} — {item['helpUrl']}")
            for node in item["nodes"][:8]:
                lines.append(f"    {' '.join(node['target'])}: {node['failureSummary'].splitlines()[-1].strip()}")
    return "\n".join(lines)


def books(db_url: str, data_dir: Path, owner: int) -> dict[str, str]:
    """A book in each state a parent meets, none with a task behind it."""
    made = {
        "book-in-progress": make_book(db_url, data_dir, owner, BookStatus.WRITING, progress_done=0, stage="write"),
        "book-awaiting-hints": make_book(db_url, data_dir, owner, BookStatus.AWAITING_ANNOTATIONS, stage="suggest"),
        "book-done": make_book(db_url, data_dir, owner, title="바닷가 여행"),
        "book-failed": make_book(db_url, data_dir, owner, BookStatus.FAILED, stage="render",
                                 error="PDF 만들기 (rendering the PDF) failed: OSError: No space left on device"),
        "book-remaking": make_book(db_url, data_dir, owner, title="다시 만드는 책"),
        "book-rewritten": make_book(db_url, data_dir, owner, title="다시 쓴 책"),
    }
    with session_factory(db_url)() as session:  # a finished book being made again after a rewrite: undo and the last PDF
        book = session.get(Book, made["book-remaking"])
        book.status = BookStatus.RENDERING
        book.scenes[0].previous_text = "예전에 쓴 1쪽 글이에요."
        book = session.get(Book, made["book-rewritten"])  # a rewrite's other texts to pick from, and one with nothing new
        book.scenes[0].previous_text = "예전에 쓴 1쪽 글이에요."
        book.scenes[0].alternatives = ["다르게 쓴 1쪽 글이에요.", "또 다르게 쓴 1쪽 글이에요."]
        book.scenes[1].nothing_new = True
        session.commit()
    return made


def test_no_axe_violations_on_any_page_at_either_width(browser, still_server, pg_url, data_dir):  # noqa: F811
    if not AXE.exists():
        pytest.skip("axe-core is not installed (scripts/setup.sh installs it into .cache/axe)")
    found: dict[str, list[dict]] = {}
    for label, viewport in WIDTHS.items():
        phone = label == "phone"
        visit = Visit(browser, still_server, f"axe-{label}", viewport=viewport, bypass_csp=True,
                      is_mobile=phone, has_touch=phone)
        page = visit.page

        def check(state: str) -> None:
            found[f"{label} {state}"] = violations(visit)  # noqa: B023 (used at once, in this turn of the loop)
            visit.shot(state)  # noqa: B023

        for path, state in [("/", "home"), ("/signup", "signup"), ("/login", "login")]:
            visit.go(path)
            check(state)
        email = f"axe-{label}@example.com"
        sign_up(visit, email)
        check("new-book")
        page.locator("#new-book").evaluate("form => { form.noValidate = true; }")  # let the server say what is missing
        page.get_by_role("button", name="그림책 만들기").click()
        page.wait_for_load_state()
        assert page.locator(".alert").count(), "the new-book page shows no problem"
        check("new-book-error")

        made = books(pg_url, data_dir, user_id(pg_url, email))
        for state, book_id in made.items():
            visit.go(f"/books/{book_id}")
            if state == "book-in-progress":  # not moved for still_server's 1 s: the "taking longer" notice too
                page.locator("#slow-notice").wait_for(state="visible", timeout=10_000)
            check(state)
        # A refused edit (too long: typed past the textarea's limit by the test), its text kept and
        # the reason beside it; the notice that stands in for a reload over unsent typing.
        visit.go(f"/books/{made['book-done']}")
        page.locator("#scene-1 summary").click()
        page.get_by_label("1쪽 글").evaluate("text => { text.value = '가'.repeat(2001); text.form.noValidate = true; }")
        page.locator("#scene-1").get_by_role("button", name="고친 글로 다시 만들기").click()
        page.locator("#text-1-error").wait_for()
        check("book-edit-refused")
        page.locator("#reload-notice").evaluate("notice => { notice.hidden = false; }")
        check("book-reload-notice")
        # A rewrite's alternatives opened: a tap on one puts it on the page.
        visit.go(f"/books/{made['book-rewritten']}")
        page.locator("#alternatives-1 summary").click()
        page.get_by_role("button", name="1쪽에 다른 글 2 싣기").wait_for()
        check("book-alternatives")
        # A form's answer beside the form: a new title, the book made again with it.
        visit.go(f"/books/{made['book-failed']}")
        page.locator("#title-form summary").click()
        page.get_by_label("책 제목").fill("새 제목")
        page.get_by_role("button", name="제목 바꾸기").click()
        page.locator("#title-form .flash").wait_for()
        check("book-renamed")
        for state, path in [("my-books", "/books"), ("settings", "/settings"), ("error-page", "/books/" + "0" * 32)]:
            visit.go(path)
            check(state)
        if phone:  # axe is really looking: a photo with no words and pale text are found on this very page
            page.locator("main").evaluate("main => { main.insertAdjacentHTML('beforeend', "
                                          "'<img src=\"/static/favicon.svg\"><p style=\"color:#bbb\">흐린 글</p>'); }")
            assert {"image-alt", "color-contrast"} <= {item["id"] for item in violations(visit)}
        visit.context.close()

    broken = {state: items for state, items in found.items() if items}
    assert not broken, "axe-core found violations:\n" + readable(broken)
    assert len(found) == 2 * 18
