"""Signed, expiring links: a finished book's download and a password reset.

The worker signs them, the web tier reads them.
"""
from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.config import Settings

_SALT = "pdf-link"
_RESET_SALT = "password-reset"


class LinkExpired(Exception):
    """The link was genuine but is older than TALES_LINK_MAX_AGE_S."""


class LinkInvalid(Exception):
    """The link was not made by this server (or was changed)."""


def _serializer(settings: Settings, salt: str = _SALT) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.SECRET_KEY, salt=salt)


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


def _password_stamp(password_hash: str) -> str:
    # A digest of the stored hash, not the hash: the token is signed, not encrypted, and readable.
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:32]


def sign_reset(settings: Settings, user_id: int, password_hash: str) -> str:
    """A password-reset token for one user, good until TALES_RESET_MAX_AGE_S or the password changes."""
    return _serializer(settings, _RESET_SALT).dumps([user_id, _password_stamp(password_hash)])


def reset_link(base_url: str, token: str) -> str:
    """The page that takes a new password: `<base>/password/reset/<token>`."""
    return f"{base_url.rstrip('/')}/password/reset/{token}"


def read_reset_token(settings: Settings, token: str) -> tuple[int, str]:
    """(user id, password stamp) inside a reset token; raises LinkExpired or LinkInvalid."""
    try:
        payload = _serializer(settings, _RESET_SALT).loads(token, max_age=settings.TALES_RESET_MAX_AGE_S)
    except SignatureExpired:
        raise LinkExpired(token) from None
    except BadSignature:
        raise LinkInvalid(token) from None
    if not (isinstance(payload, list) and len(payload) == 2 and type(payload[0]) is int and isinstance(payload[1], str)):
        raise LinkInvalid(token)
    return payload[0], payload[1]


def reset_matches(stamp: str, password_hash: str) -> bool:
    """Whether a token's stamp is of this password: once the password changes, every earlier link is dead."""
    return hmac.compare_digest(stamp, _password_stamp(password_hash))
