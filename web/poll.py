"""The status poll, lean: no write per request, one query when nothing changed, 304 to a client that has it.

Clients poll `GET /api/v1/books/<id>` every second or two while a book is made, so this path
reads through a plain autocommit connection (no ORM session, no BEGIN/ROLLBACK). One query
finds the caller and the book row together. Each web process keeps the last body it sent per
book, keyed by that row (books.updated_at moves whenever the book, one of its scenes or one of
its email requests changes: shared/models.py): when the row is the same, so is the body, and
the scenes and email requests are not read again. The body's hash is its ETag; an
`If-None-Match` that still matches gets a 304 with no body.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request, session
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from shared.db import read_engine
from shared.models import ApiToken, Book, EmailRequest, Scene
from web.auth import UNAUTHORIZED, hash_token, touch_token
from web.db import current_settings
from web.errors import ApiError

BOOKS, SCENES, EMAILS, TOKENS = Book.__table__, Scene.__table__, EmailRequest.__table__, ApiToken.__table__


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class Rendered:
    key: str
    body: bytes
    etag: str


class BodyCache:
    """The last body sent per book in this process, least recently used first out."""

    def __init__(self, size: int = 2048):
        self.size, self.items, self.lock = size, OrderedDict[str, Rendered](), threading.Lock()

    def get(self, book_id: str, key: str) -> Rendered | None:
        with self.lock:
            item = self.items.get(book_id)
            if item is None or item.key != key:
                return None
            self.items.move_to_end(book_id)
            return item

    def put(self, book_id: str, item: Rendered) -> None:
        with self.lock:
            self.items[book_id] = item
            self.items.move_to_end(book_id)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


CACHE = BodyCache()
_BOOK_COLUMNS = [column.name for column in BOOKS.columns]


def _find(connection: Connection, book_id: str) -> tuple[Any, tuple[int, Any] | None]:
    """The caller's book row (None: not theirs or not there), and the token used (id, last_used_at)."""
    if "Authorization" in request.headers:
        # A request that names a token stands or falls by it, session cookie or not.
        token = _bearer()
        if token is None:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        query = (
            select(TOKENS.c.id.label("token_id"), TOKENS.c.last_used_at.label("token_used_at"), BOOKS)
            .select_from(TOKENS.outerjoin(BOOKS, (BOOKS.c.user_id == TOKENS.c.user_id) & (BOOKS.c.id == book_id)))
            .where(TOKENS.c.token_hash == hash_token(token))
        )
        row = connection.execute(query).first()
        if row is None:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        used = (row.token_id, row.token_used_at)
    else:
        user_id = session.get("user_id")
        if user_id is None:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        row = connection.execute(select(BOOKS).where(BOOKS.c.id == book_id, BOOKS.c.user_id == user_id)).first()
        used = None
    return (None if row is None or row.id is None else row), used


def _render(connection: Connection, row: Any, to_json) -> Rendered:
    # A transient Book (never in a session) from the rows, so to_json sees the model's own properties.
    book = Book(**{name: getattr(row, name) for name in _BOOK_COLUMNS})
    book.scenes = [Scene(**scene._mapping) for scene in
                   connection.execute(select(SCENES).where(SCENES.c.book_id == row.id).order_by(SCENES.c.index))]
    book.emails = [EmailRequest(**email._mapping) for email in
                   connection.execute(select(EMAILS).where(EMAILS.c.book_id == row.id).order_by(EMAILS.c.id))]
    response = jsonify(to_json(book))
    response.add_etag()
    return Rendered(_key(row), response.get_data(), response.get_etag()[0])


def _key(row: Any) -> str:
    return repr([getattr(row, name) for name in _BOOK_COLUMNS])


def _read(book_id: str, to_json) -> tuple[Rendered | None, tuple[int, Any] | None]:
    engine = read_engine(current_settings().DATABASE_URL)
    try:
        with engine.connect() as connection:
            return _read_on(connection, book_id, to_json)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # The database restarted since this connection was pooled: the pool is refreshed, try once more.
        with engine.connect() as connection:
            return _read_on(connection, book_id, to_json)


def _read_on(connection: Connection, book_id: str, to_json) -> tuple[Rendered | None, tuple[int, Any] | None]:
    row, used = _find(connection, book_id)
    if row is None:
        return None, used
    rendered = CACHE.get(book_id, _key(row))
    if rendered is None:
        rendered = _render(connection, row, to_json)
        CACHE.put(book_id, rendered)
    return rendered, used


def poll(book_id: str, to_json) -> Response:
    """The book as `to_json` writes it, with an ETag and Cache-Control; 304 when unchanged."""
    rendered, used = _read(book_id, to_json)
    if used is not None:
        touch_token(*used)
    if rendered is None:
        raise ApiError(404, "not_found", "no such book")
    response = Response(rendered.body, mimetype="application/json")
    response.set_etag(rendered.etag)
    # Only the caller may keep it, and only to show again after asking: progress moves on.
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.update(("Authorization", "Cookie"))
    return response.make_conditional(request)
