"""The status poll: no write per request, a few small queries, ETag and 304, and never a stale body."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from shared.db import read_engine, session_factory
from shared.lifecycle import claim_email
from shared.models import ApiToken, EmailRequest, utcnow
from shared.status import BookStatus
from tests.helpers import scene
from tests.web_helpers import make_book, user_id


@contextmanager
def statements(db_url: str):
    """Every SQL statement sent on the web tier's engines while the block runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    engines = [read_engine(db_url), session_factory(db_url).kw["bind"]]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def done_book(api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), scenes=10)
    return headers, f"/api/v1/books/{book_id}", book_id


def _last_used(db_url: str):
    with session_factory(db_url)() as session:
        return session.scalar(select(ApiToken.last_used_at))


def test_polls_write_nothing_and_read_the_book_in_a_few_queries(client, db, done_book):
    headers, url, _ = done_book
    assert client.get(url, headers=headers).status_code == 200  # the token's first use is recorded once
    first_use = _last_used(db)
    assert first_use is not None
    with statements(db) as seen:
        for _ in range(5):
            assert client.get(url, headers=headers).status_code == 200
    assert not [s for s in seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT")], seen
    # An unchanged book costs one query (the caller and the book together); the body is reused.
    assert len(seen) == 5, seen
    assert _last_used(db) == first_use


def test_a_fresh_process_reads_book_and_scenes_in_one_query_each(client, db, done_book):
    from web.poll import CACHE

    headers, url, _ = done_book
    client.get(url, headers=headers)
    CACHE.items.clear()
    with statements(db) as seen:
        assert client.get(url, headers=headers).status_code == 200
    assert len(seen) == 3, seen  # caller + book, scenes, email requests
    assert "JOIN books" in seen[0] and "FROM scenes" in seen[1]


def test_the_token_use_is_recorded_again_after_the_touch_interval(client, db, done_book):
    headers, url, _ = done_book
    client.get(url, headers=headers)
    long_ago = utcnow() - timedelta(hours=1)
    with session_factory(db).begin() as session:
        session.scalar(select(ApiToken)).last_used_at = long_ago
    client.get(url, headers=headers)
    assert _last_used(db) > long_ago + timedelta(minutes=59)


def test_an_unchanged_book_answers_304_with_no_body(client, done_book):
    headers, url, _ = done_book
    first = client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert {"Authorization", "Cookie"} <= set(first.headers["Vary"].replace(" ", "").split(","))
    again = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    stale = client.get(url, headers={**headers, "If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.json == first.json


def test_a_scene_change_made_elsewhere_changes_the_body_and_etag(client, db, done_book):
    headers, url, book_id = done_book
    first = client.get(url, headers=headers)
    # A worker (another process) writes a paragraph: only the scenes table changes.
    from shared.models import Book

    with session_factory(db).begin() as session:
        session.get(Book, book_id).scenes[4].text = "다른 문장이에요."
    second = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.json["scenes"][4]["text"] == "다른 문장이에요."
    assert second.headers["ETag"] != first.headers["ETag"]


def test_an_email_request_moving_shows_at_once(client, db, done_book):
    headers, url, book_id = done_book
    assert client.post(f"{url}/email", headers=headers, json={}).status_code == 202
    before = client.get(url, headers=headers)
    assert before.json["emails"][0]["status"] == "pending"
    with session_factory(db).begin() as session:
        request_id = session.scalar(select(EmailRequest.id).where(EmailRequest.book_id == book_id))
        assert claim_email(session, request_id) is not None
    after = client.get(url, headers={**headers, "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.json["emails"][0]["status"] == "sending"


def test_annotations_put_through_the_api_show_in_the_next_poll(client, db, api, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.AWAITING_ANNOTATIONS, scenes=2)
    url = f"/api/v1/books/{book_id}"
    assert client.get(url, headers=headers).json["scenes"][0]["annotations"] is None
    scenes = [scene("다람쥐", "도토리를 줍다"), scene("다람쥐", "잠을 자다")]
    assert client.put(f"{url}/scenes", headers=headers, json={"scenes": scenes}).status_code == 200
    assert client.get(url, headers=headers).json["scenes"][0]["annotations"]["name"] == "다람쥐"


def test_the_poll_answers_like_the_rest_of_the_api_for_strangers(client, api, db, done_book):
    headers, url, _ = done_book
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer tr_not-a-token"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Basic abc"}).json["error"]["code"] == "unauthorized"
    other = api.user("other@example.com")
    assert client.get(url, headers=other).status_code == 404
    assert client.get("/api/v1/books/ffffffffffffffffffffffffffffffff", headers=headers).status_code == 404


def test_the_poll_says_exactly_what_the_orm_book_says(client, app, db, done_book):
    from shared.models import Book
    from web.api.books import book_json

    headers, url, book_id = done_book
    assert client.post(f"{url}/email", headers=headers, json={}).status_code == 202
    polled = client.get(url, headers=headers).json
    with app.test_request_context(url), session_factory(db)() as session:
        assert polled == book_json(session.get(Book, book_id))


def test_the_poll_reads_sqlite_rows_as_sqlalchemy_would(tmp_path, service_env, spare_redis_url):
    """The development database keeps times and JSON as text; the raw query must convert them the same way."""
    from migrations import upgrade
    from shared.models import Book
    from web import create_app
    from web.api.books import book_json

    url = f"sqlite:///{tmp_path / 'dev.db'}"
    upgrade(url)
    client = create_app({**service_env, "DATABASE_URL": url, "REDIS_URL": spare_redis_url}).test_client()
    assert client.post("/api/v1/users", json={"email": "s@example.com", "password": "correct horse"}).status_code == 201
    token = client.post("/api/v1/tokens", json={"email": "s@example.com", "password": "correct horse"}).json["token"]
    book_id = make_book(url, tmp_path / "data", user_id(url, "s@example.com"), scenes=2)
    headers = {"Authorization": f"Bearer {token}"}
    first = client.get(f"/api/v1/books/{book_id}", headers=headers)
    assert first.status_code == 200 and first.json["scenes"][1]["suggestions"]["setting"] == ["공원", "바닷가"]
    assert client.get(f"/api/v1/books/{book_id}", headers={**headers, "If-None-Match": first.headers["ETag"]}).status_code == 304
    with client.application.test_request_context(f"/api/v1/books/{book_id}"), session_factory(url)() as session:
        assert first.json == book_json(session.get(Book, book_id))
    with session_factory(url).begin() as session:
        session.scalar(select(ApiToken)).last_used_at = utcnow() - timedelta(hours=2)
    client.get(f"/api/v1/books/{book_id}", headers=headers)
    with session_factory(url)() as session:
        assert session.scalar(select(ApiToken.last_used_at)) > utcnow() - timedelta(minutes=1)
