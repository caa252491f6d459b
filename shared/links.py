"""Signed, expiring download links for a finished book: the worker signs them, the web tier reads them."""
from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.config import Settings

_SALT = "pdf-link"


class LinkExpired(Exception):
    """The link was genuine but is older than TALES_LINK_MAX_AGE_S."""


class LinkInvalid(Exception):
    """The link was not made by this server (or was changed)."""


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.SECRET_KEY, salt=_SALT)


def sign_book(settings: Settings, book_id: str) -> str:
    """A token naming the book, signed with SECRET_KEY and stamped with the time."""
    return _serializer(settings).dumps(book_id)


def book_link(settings: Settings, book_id: str) -> str | None:
    """The absolute download link, or None when the server does not know its public address."""
    if not settings.TALES_PUBLIC_URL:
        return None
    return f"{settings.TALES_PUBLIC_URL.rstrip('/')}/shared/{sign_book(settings, book_id)}.pdf"


def read_book_token(settings: Settings, token: str) -> str:
    """The book id inside a token; raises LinkExpired or LinkInvalid."""
    try:
        book_id = _serializer(settings).loads(token, max_age=settings.TALES_LINK_MAX_AGE_S)
    except SignatureExpired:
        raise LinkExpired(token) from None
    except BadSignature:
        raise LinkInvalid(token) from None
    if not isinstance(book_id, str):
        raise LinkInvalid(token)
    return book_id
