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

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request, session
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import DBAPIError

from shared.db import read_engine
from shared.models import ApiToken, Book, EmailRequest, LoginSession, Scene
from web.auth import UNAUTHORIZED, hash_token, session_cutoff, touch_token
from web.books_service import BOOK_ID
from web.db import current_settings
from web.errors import ApiError

BOOKS, SCENES, EMAILS, TOKENS = Book.__table__, Scene.__table__, EmailRequest.__table__, ApiToken.__table__
LOGINS = LoginSession.__table__


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


class _Statement:
    """A Core statement compiled once for a dialect and sent with exec_driver_sql: no per-call
    building, cache-key hashing or compiling, which cost more than the query on this path."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql, self.order = compiled.string, compiled.positiontup if compiled.positional else None

    def run(self, connection: Connection, **values: Any):
        params = tuple(values[name] for name in self.order) if self.order is not None else values
        return connection.exec_driver_sql(self.sql, params).first()


class _Queries:
    """The poll's one query, by token or by login session, and how to read its raw columns."""

    def __init__(self, dialect):
        book = list(BOOKS.columns)
        token = select(TOKENS.c.id, TOKENS.c.last_used_at, *book).select_from(
            TOKENS.outerjoin(BOOKS, (BOOKS.c.user_id == TOKENS.c.user_id) & (BOOKS.c.id == bindparam("book_id")))
        ).where(TOKENS.c.token_hash == bindparam("token_hash"))
        self.by_token = _Statement(token, dialect)
        login = select(*book).select_from(
            LOGINS.outerjoin(BOOKS, (BOOKS.c.user_id == LOGINS.c.user_id) & (BOOKS.c.id == bindparam("book_id")))
        ).where(LOGINS.c.id == bindparam("login"), LOGINS.c.user_id == bindparam("user_id"),
                LOGINS.c.created_at >= bindparam("cutoff"))
        self.by_login = _Statement(login, dialect)
        # A time sent raw must be written as SQLAlchemy stores it (text on SQLite).
        self.cutoff = LOGINS.c.created_at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
        self.names = [column.name for column in book]
        # What SQLAlchemy would do to each raw value (SQLite keeps times and JSON as text, PostgreSQL does not).
        self.book_types = [_processor(column, dialect) for column in book]
        self.used_at_type = _processor(TOKENS.c.last_used_at, dialect)

    def book(self, raw: tuple) -> dict[str, Any]:
        return {name: (convert(value) if convert else value)
                for name, convert, value in zip(self.names, self.book_types, raw, strict=True)}


def _processor(column, dialect):
    return column.type.dialect_impl(dialect).result_processor(dialect, None)


@functools.lru_cache(maxsize=4)
def _queries(dialect) -> _Queries:
    return _Queries(dialect)


def _find(connection: Connection, book_id: str) -> tuple[tuple | None, tuple[int, Any] | None]:
    """The caller's book as raw column values (None: not theirs or not there), and the token used (id, last_used_at)."""
    queries = _queries(connection.dialect)
    if "Authorization" in request.headers:
        # A request that names a token stands or falls by it, session cookie or not.
        token = _bearer()
        if token is None:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        row = queries.by_token.run(connection, book_id=book_id, token_hash=hash_token(token))
        if row is None:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        used_at = queries.used_at_type(row[1]) if queries.used_at_type else row[1]
        used, raw = (row[0], used_at), tuple(row[2:])
    else:
        user_id, session_id = session.get("user_id"), session.get("sid")
        if not isinstance(user_id, int) or not isinstance(session_id, str):
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        # Only a session that was not logged out (web/auth.py): the login_sessions row must exist.
        row = queries.by_login.run(connection, book_id=book_id, login=hash_token(session_id), user_id=user_id,
                                   cutoff=queries.cutoff(session_cutoff()))
        if row is None:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        used, raw = None, tuple(row)
    return (None if raw[0] is None else raw), used


def _render(connection: Connection, raw: tuple, to_json) -> Rendered:
    # A transient Book (never in a session) from the rows, so to_json sees the model's own properties.
    book = Book(**_queries(connection.dialect).book(raw))
    book.scenes = [Scene(**scene._mapping) for scene in
                   connection.execute(select(SCENES).where(SCENES.c.book_id == book.id).order_by(SCENES.c.index))]
    book.emails = [EmailRequest(**email._mapping) for email in
                   connection.execute(select(EMAILS).where(EMAILS.c.book_id == book.id).order_by(EMAILS.c.id))]
    response = jsonify(to_json(book))
    response.add_etag()
    return Rendered(repr(raw), response.get_data(), response.get_etag()[0])


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
    # Ids are generated hex: anything else is no book, never reaches SQL, and the caller is still authenticated.
    raw, used = _find(connection, book_id if BOOK_ID.fullmatch(book_id) else "")
    if raw is None:
        return None, used
    # The raw row is the key: any change to the book (or, through updated_at, its parts) is a new one.
    rendered = CACHE.get(book_id, repr(raw))
    if rendered is None:
        rendered = _render(connection, raw, to_json)
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
