"""Share links: made, listed and revoked by the owner (API and book page), opened without an account, ended by
a password reset or change and by deleting the book; downloads named after the title."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import select, update

from shared.db import session_factory
from shared.links import mail_share_link, sign_book, sign_reset
from shared.models import Book, ShareLink, User, utcnow
from shared.status import BookStatus
from tests.test_read_aloud import narrated_book
from tests.web_helpers import PASSWORD, TEST_PDF, ApiActions, Pages, make_book, user_id
from web.downloads import romanised

TITLE = "바다에 간 날"


def _link(client, headers, book_id: str, **body) -> dict:
    answer = client.post(f"/api/v1/books/{book_id}/links", headers=headers, json=body or None)
    assert answer.status_code == 201, answer.json
    return answer.json


def _path(url: str) -> str:
    return urlsplit(url).path


def _links_in_db(db_url: str) -> list[ShareLink]:
    with session_factory(db_url)() as session:
        return list(session.scalars(select(ShareLink)))


def test_a_link_is_made_opened_without_login_and_answers_404_once_revoked(app, client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title=TITLE)
    link = _link(client, headers, book_id)
    assert set(link) >= {"id", "url", "expires_at"} and link["url"].startswith("http://localhost/s/")
    assert link["open_until"].endswith("까지 열려요")
    assert [item["id"] for item in client.get(f"/api/v1/books/{book_id}/links", headers=headers).json["links"]] == [link["id"]]

    visitor = app.test_client()  # no account, no session
    page = visitor.get(_path(link["url"]))
    assert page.status_code == 200
    assert TITLE in page.text and "1쪽 이야기예요." in page.text and "2쪽 이야기예요." in page.text
    assert page.headers["X-Robots-Tag"].startswith("noindex")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "parent@example.com" not in page.text  # nothing about its owner
    assert 'method="post"' not in page.text  # and nothing that changes the book
    pictures = re.findall(r'src="(/s/[^"]+/pages/1/picture-480\.jpg[^"]*)"', page.text)
    picture = visitor.get(pictures[0].replace("&amp;", "&"))
    assert picture.mimetype == "image/jpeg" and picture.headers["Cache-Control"] == "private, max-age=3600"
    assert picture.headers["Referrer-Policy"] == "no-referrer"
    pdf = visitor.get(_path(link["url"]) + "/pdf")
    assert pdf.status_code == 200 and pdf.data == TEST_PDF and pdf.headers["Cache-Control"] == "private, no-store"

    assert client.delete(f"/api/v1/books/{book_id}/links/{link['id']}", headers=headers).status_code == 204
    gone = visitor.get(_path(link["url"]))
    assert gone.status_code == 404 and "끊겼거나" in gone.text
    assert visitor.get(_path(link["url"]) + "/pdf").status_code == 404
    assert client.get(f"/api/v1/books/{book_id}/links", headers=headers).json["links"] == []
    assert client.delete(f"/api/v1/books/{book_id}/links/{link['id']}", headers=headers).status_code == 404


def test_a_links_period_is_whole_days_within_the_settings_bounds(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    url = f"/api/v1/books/{book_id}/links"
    for body in ({"days": 0}, {"days": 366}, {"days": "30"}, {"days": 1.5}, {"days": 7, "forever": True}):
        refused = client.post(url, headers=headers, json=body)
        assert refused.status_code == 400, body
        assert re.search(r"[가-힣]", refused.json["error"]["message"])
    # One day: open today and all of tomorrow in the server's zone (Asia/Seoul, UTC+9), closing at midnight there.
    one_day = _link(client, headers, book_id, days=1)
    closes = utcnow() + timedelta(hours=9)
    expected = (closes.date() + timedelta(days=2)).isoformat() + "T00:00:00"
    local_close = (utcnow().fromisoformat(one_day["expires_at"].removesuffix("Z")) + timedelta(hours=9)).isoformat()
    assert local_close == expected
    default = _link(client, headers, book_id)  # TALES_SHARE_DAYS: 30
    default_close = utcnow().fromisoformat(default["expires_at"].removesuffix("Z"))
    assert timedelta(days=30) < default_close - utcnow() <= timedelta(days=31)


def test_only_a_finished_book_gets_a_link(client, api, db, data_dir):
    headers = api.user()
    writing = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.WRITING)
    refused = client.post(f"/api/v1/books/{writing}/links", headers=headers)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not_finished"
    assert "다 만들어진 뒤에" in refused.json["error"]["message"]


def test_a_book_being_made_again_or_with_its_fill_of_links_gets_no_more(db, service_env, data_dir):
    from web import create_app

    app = create_app({**service_env, "TALES_SHARE_MAX_LINKS": "2"})
    client = app.test_client()
    headers = ApiActions(client).user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    first, _second = _link(client, headers, book_id), _link(client, headers, book_id)
    full = client.post(f"/api/v1/books/{book_id}/links", headers=headers)
    assert full.status_code == 409 and full.json["error"]["code"] == "too_many_links" and "2개" in full.json["error"]["message"]
    # A link past its period makes room (and is let go when the next one is made).
    with session_factory(db)() as session:
        session.execute(update(ShareLink).where(ShareLink.id == first["id"]).values(expires_at=utcnow()))
        session.commit()
    _link(client, headers, book_id)
    assert first["id"] not in {row.id for row in _links_in_db(db)}
    with session_factory(db)() as session:
        session.get(Book, book_id).status = BookStatus.RENDERING  # an edit being drawn: the last PDF stays
        session.commit()
    remaking = client.post(f"/api/v1/books/{book_id}/links", headers=headers)
    assert remaking.status_code == 409 and "다시 만들고 있어요" in remaking.json["error"]["message"]
    assert len(client.get(f"/api/v1/books/{book_id}/links", headers=headers).json["links"]) == 2  # the live ones still open
    assert app.test_client().get(urlsplit(_second["url"]).path).status_code == 200


def test_someone_elses_book_and_its_links_are_not_found(client, api, db, data_dir):
    owner = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    link = _link(client, owner, book_id)
    stranger = api.user("stranger@example.com")
    own_book = make_book(db, data_dir, user_id(db, "stranger@example.com"))
    assert client.post(f"/api/v1/books/{book_id}/links", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/books/{book_id}/links", headers=stranger).status_code == 404
    assert client.delete(f"/api/v1/books/{book_id}/links/{link['id']}", headers=stranger).status_code == 404
    # Another book's path does not reach this book's link either.
    assert client.delete(f"/api/v1/books/{own_book}/links/{link['id']}", headers=stranger).status_code == 404
    assert client.delete(f"/api/v1/books/{book_id}/links/not-a-link-id", headers=owner).status_code == 404
    assert [row.id for row in _links_in_db(db)] == [link["id"]]


def test_an_expired_link_answers_410_and_is_no_longer_listed(app, client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    link = _link(client, headers, book_id, days=7)
    with session_factory(db)() as session:
        session.execute(update(ShareLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    visitor = app.test_client()
    closed = visitor.get(_path(link["url"]))
    assert closed.status_code == 410 and "까지 열려 있었어요" in closed.text
    assert closed.headers["Referrer-Policy"] == "no-referrer"
    assert visitor.get(_path(link["url"]) + "/pdf").status_code == 410
    assert client.get(f"/api/v1/books/{book_id}/links", headers=headers).json["links"] == []
    assert visitor.get("/s/not-a-token").status_code == 404


def test_a_password_reset_or_change_ends_every_link_of_the_account(app, client, db, data_dir):
    pages = Pages(client)
    pages.signup()
    owner = user_id(db, "parent@example.com")
    books = [make_book(db, data_dir, owner) for _ in range(2)]
    other = app.test_client()
    Pages(other).signup("neighbour@example.com")
    neighbours = make_book(db, data_dir, user_id(db, "neighbour@example.com"))
    for book_id in books:
        assert pages.post(f"/books/{book_id}/links", {"days": "30"}, page=f"/books/{book_id}").status_code == 303
    assert Pages(other).post(f"/books/{neighbours}/links", page=f"/books/{neighbours}").status_code == 303
    assert len(_links_in_db(db)) == 3

    changed = pages.post("/settings/password", {"current_password": PASSWORD, "password": "another long password",
                                                "password_confirm": "another long password"}, page="/settings")
    assert changed.status_code == 303
    assert [row.book_id for row in _links_in_db(db)] == [neighbours]  # the neighbour's link is not theirs to end

    assert pages.post(f"/books/{books[0]}/links", page=f"/books/{books[0]}").status_code == 303
    with session_factory(db)() as session:
        user = session.get(User, owner)
        token = sign_reset(app.extensions["talesrunner.settings"], user.id, user.password_hash)
    visitor = app.test_client()
    reset = Pages(visitor).post(f"/password/reset/{token}", {"password": "a third long password",
                                                             "password_confirm": "a third long password"},
                                page=f"/password/reset/{token}")
    assert reset.status_code == 303
    assert [row.book_id for row in _links_in_db(db)] == [neighbours]


def test_deleting_the_book_ends_its_links(app, client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    link = _link(client, headers, book_id)
    assert client.delete(f"/api/v1/books/{book_id}", headers=headers).status_code == 204
    assert _links_in_db(db) == []
    assert app.test_client().get(_path(link["url"])).status_code == 404


@pytest.mark.parametrize(("title", "ascii_name"), [
    (TITLE, "badae gan nal"),
    ("나비의 하루", "nabiui haru"),
    ("Tom과 공원 🚲", "Tomgwa gongwon"),
    ("Ünïcödé", "Unicode"),
])
def test_downloads_are_named_after_the_title_with_an_ascii_name_that_is_never_blank(client, api, db, data_dir, title, ascii_name):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title=title)
    with session_factory(db)() as session:
        stem = session.get(Book, book_id).file_stem
    link = _link(client, headers, book_id)
    for answer in (client.get(f"/api/v1/books/{book_id}/pdf", headers=headers), client.get(_path(link["url"]) + "/pdf")):
        disposition = answer.headers["Content-Disposition"]
        fallback = re.search(r'filename="([^"]*)"', disposition).group(1)
        assert fallback.isascii() and fallback.strip(" .") != "pdf" and fallback == ascii_name + ".pdf"
        assert f"filename*=UTF-8''{quote(stem + '.pdf', safe='')}" in disposition


def test_a_title_with_nothing_to_romanise_falls_back_to_the_books_id(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title="🌊🐚")
    disposition = client.get(f"/api/v1/books/{book_id}/pdf", headers=headers).headers["Content-Disposition"]
    assert f'filename="talesrunner-book-{book_id[:8]}.pdf"' in disposition
    assert "filename*=UTF-8''%F0%9F%8C%8A%F0%9F%90%9A.pdf" in disposition


def test_hangul_is_romanised_letter_by_letter():
    assert romanised("나비의 하루") == "nabiui haru"
    assert romanised("닭볶음탕") == "dakbokeumtang"  # finals as written, no liaison (RR would say dakbokkeumtang)
    assert romanised("Café 곰") == "Cafe gom"


def test_the_book_page_makes_lists_and_ends_links_with_plain_forms(app, client, db, data_dir):
    pages = Pages(client)
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title=TITLE)
    page = client.get(f"/books/{book_id}").text
    assert "공유하기" in page and "아직 만든 링크가 없어요." in page and 'name="days"' in page
    made = pages.post(f"/books/{book_id}/links", {"days": "7"}, page=f"/books/{book_id}")
    assert made.status_code == 303 and made.headers["Location"].endswith(f"/books/{book_id}#share")
    page = client.get(f"/books/{book_id}").text
    [url] = re.findall(r'value="(http://localhost/s/[^"]+)" data-share-url', page)
    assert "공유 링크를 만들었어요" in page and "까지 열려요" in page
    assert app.test_client().get(_path(url)).status_code == 200
    # Without the page's CSRF token nothing is made.
    assert client.post(f"/books/{book_id}/links", data={"days": "7"}).status_code == 400
    refused = pages.post(f"/books/{book_id}/links", {"days": "9999"}, page=f"/books/{book_id}")
    assert refused.status_code == 303 and "1일에서 365일 사이" in client.get(f"/books/{book_id}").text
    [link] = _links_in_db(db)
    ended = pages.post(f"/books/{book_id}/links/{link.id}/delete", page=f"/books/{book_id}")
    assert ended.status_code == 303 and "링크를 끊었어요" in client.get(f"/books/{book_id}").text
    assert app.test_client().get(_path(url)).status_code == 404


def test_a_shared_page_reads_aloud_where_the_book_is_narrated(app, client, db, data_dir):
    Pages(client).signup()
    book_id = narrated_book(db, data_dir, "parent@example.com", {1: "토끼가 뛰어요.", 2: "토끼가 쉬어요."})
    made = Pages(client).post(f"/books/{book_id}/links", page=f"/books/{book_id}")
    assert made.status_code == 303
    [link] = _links_in_db(db)
    visitor = app.test_client()
    page = visitor.get(f"/s/{link.token}").text
    assert page.count("<audio controls") == 2
    audio = visitor.get(f"/s/{link.token}/pages/1/audio", headers={"Range": "bytes=0-99"})
    assert audio.status_code == 206 and audio.mimetype == "audio/mpeg" and len(audio.data) == 100
    assert visitor.get(f"/s/{link.token}/pages/3/audio").status_code == 404


def test_shared_pages_are_rate_limited_per_client_address(db, service_env, data_dir):
    from web import create_app

    limited = create_app({**service_env, "TALES_RATELIMIT_ENABLED": "true", "TALES_RATELIMIT_SHARED": "3 per minute"})
    owner = limited.test_client()
    Pages(owner).signup("limits@example.com")
    book_id = make_book(db, data_dir, user_id(db, "limits@example.com"))
    assert Pages(owner).post(f"/books/{book_id}/links", page=f"/books/{book_id}").status_code == 303
    [link] = _links_in_db(db)
    visitor = limited.test_client()
    answers = [visitor.get(f"/s/{link.token}").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert owner.get(f"/books/{book_id}").status_code == 200  # the owner's own pages draw on no such allowance


def test_an_older_mailed_link_still_opens_the_pdf_under_the_title(app, db, data_dir):
    Pages(app.test_client()).signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title=TITLE)
    token = sign_book(app.extensions["talesrunner.settings"], book_id)
    pdf = app.test_client().get(f"/shared/{token}.pdf")
    assert pdf.status_code == 200 and pdf.data == TEST_PDF
    assert 'filename="badae gan nal.pdf"' in pdf.headers["Content-Disposition"]
    assert pdf.headers["Referrer-Policy"] == "no-referrer"


def test_a_mail_may_carry_a_share_link_the_owner_can_end(app, db, data_dir):
    client = app.test_client()
    Pages(client).signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    settings = app.extensions["talesrunner.settings"].model_copy(update={"TALES_PUBLIC_URL": "https://books.example.org/"})
    with session_factory(db)() as session:
        url = mail_share_link(session, settings, book_id)
        session.commit()
        assert mail_share_link(session, settings.model_copy(update={"TALES_PUBLIC_URL": None}), book_id) is None
    assert url.startswith("https://books.example.org/s/")
    assert app.test_client().get(_path(url)).status_code == 200
    [link] = _links_in_db(db)
    assert timedelta(days=6) < link.expires_at - utcnow() <= timedelta(days=7)  # TALES_LINK_MAX_AGE_S
    assert link.id in client.get(f"/books/{book_id}").text  # listed on the book page, with 링크 끊기


def test_the_openapi_document_lists_the_link_routes(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert set(paths["/books/{book_id}/links"]) >= {"post", "get"}
    assert "delete" in paths["/books/{book_id}/links/{link_id}"]
