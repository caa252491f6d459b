"""Links: share links (rows, revocable), and signed expiring ones (a mailed download, a password reset).

A share link is a `ShareLink` row whose secret token is the address `/s/<token>`: deleting the row
ends it at once. The web tier makes, lists and opens them (web/links_service.py); the worker may make
one for a mail (`mail_share_link`). The signed tokens are made by the worker, read by the web tier.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import Book, ShareLink, utcnow

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
    return read_account_pair(_serializer(settings, _RESET_SALT), token, settings.TALES_RESET_MAX_AGE_S)


def read_account_pair(serializer: URLSafeTimedSerializer, token: str, max_age_s: float) -> tuple[int, str]:
    """The [user id, text] a signed account link carries (reset, confirmation); raises LinkExpired or LinkInvalid."""
    try:
        payload = serializer.loads(token, max_age=max_age_s)
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


def share_path(token: str) -> str:
    """Where a share link opens the book: `/s/<token>` (web/pages/shared_links.py serves it)."""
    return f"/s/{token}"


def add_share_link(session: Session, book_id: str, expires_at: datetime) -> ShareLink:
    """A new link to the book, open until `expires_at` (naive UTC); the caller commits."""
    link = ShareLink(book_id=book_id, expires_at=expires_at)
    session.add(link)
    session.flush()  # the token and id are set now, for the caller's answer
    return link


def mail_share_link(session: Session, settings: Settings, book_id: str) -> str | None:
    """A share link for a mail whose PDF is too large to attach, as an absolute address; None without TALES_PUBLIC_URL.

    Open TALES_LINK_MAX_AGE_S. Unlike the signed `/shared/<token>.pdf` links mailed before (`sign_book`), it is revocable: the owner sees it
    among the book's links, and a password reset or deleting the book ends it. A retried mail reuses
    the book's newest link that is still open for most of that time, so retries make no new links.
    The caller commits (in the transaction that claims the mail).
    """
    if not settings.TALES_PUBLIC_URL:
        return None
    now = utcnow()
    wanted = timedelta(seconds=settings.TALES_LINK_MAX_AGE_S)
    link = session.scalar(select(ShareLink).where(ShareLink.book_id == book_id, ShareLink.expires_at >= now + wanted * 0.9)
                          .order_by(ShareLink.expires_at.desc()).limit(1))
    if link is None:
        link = add_share_link(session, book_id, now + wanted)
    return settings.TALES_PUBLIC_URL.rstrip("/") + share_path(link.token)


def end_user_links(session: Session, user_id: int) -> None:
    """Delete every share link to the user's books (a password reset or change); the caller commits."""
    books = select(Book.id).where(Book.user_id == user_id)
    session.execute(delete(ShareLink).where(ShareLink.book_id.in_(books)).execution_options(synchronize_session=False))
