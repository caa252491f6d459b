"""Share links: made, listed and revoked by the book's owner (API and book page), opened by anyone holding one.

A link is a `ShareLink` row (shared/models.py) named by a secret token; revoking deletes the row,
so the address answers 404 at once. A link is open to the end of its last day in TALES_TIMEZONE,
so "12월 31일까지 열려요" means the whole of that day.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import request, url_for
from sqlalchemy import delete, select

from shared.links import add_share_link
from shared.models import Book, ShareLink, utcnow
from shared.status import ACTIVE, BookStatus
from shared.vocabulary import korean_date
from web.db import current_settings, get_session
from web.errors import ApiError

# new_link_token: secrets.token_urlsafe(32), 43 characters; anything else is no link and never reaches SQL.
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
LINK_ID = re.compile(r"[0-9a-f]{32}")


class LinkGone(Exception):
    """No such link: never made, revoked, or its book deleted (404)."""


class LinkClosed(Exception):
    """The link's period is over (410)."""

    def __init__(self, link: ShareLink):
        super().__init__(link.id)
        self.link = link


def day_bounds() -> tuple[int, int]:
    """(default, longest) days a new link stays open."""
    settings = current_settings()
    return min(settings.TALES_SHARE_DAYS, settings.TALES_SHARE_MAX_DAYS), settings.TALES_SHARE_MAX_DAYS


def _zone() -> ZoneInfo:
    return ZoneInfo(current_settings().TALES_TIMEZONE)


def closing_time(days: int, now: datetime | None = None) -> datetime:
    """The end (naive UTC) of the local day `days` days from now: a link made today for 1 day is open through tomorrow."""
    local_now = (now or utcnow()).replace(tzinfo=UTC).astimezone(_zone())
    final_day = local_now.date() + timedelta(days=days)
    end = datetime.combine(final_day + timedelta(days=1), datetime.min.time(), tzinfo=_zone())
    return end.astimezone(UTC).replace(tzinfo=None)


def last_day(expires_at: datetime) -> str:
    """The last local day a link closing at `expires_at` is open: "12월 31일" (with the year when it is not this year's)."""
    day = expires_at.replace(tzinfo=UTC).astimezone(_zone()) - timedelta(microseconds=1)
    return korean_date(day, year=day.year != utcnow().replace(tzinfo=UTC).astimezone(_zone()).year)


def open_until(expires_at: datetime) -> str:
    """"12월 31일까지 열려요": how the book page and the API tell the owner a link's period."""
    return f"{last_day(expires_at)}까지 열려요"


def live_links(book: Book) -> list[ShareLink]:
    """The book's links that still open, oldest first."""
    return list(get_session().scalars(
        select(ShareLink).where(ShareLink.book_id == book.id, ShareLink.expires_at > utcnow()).order_by(ShareLink.created_at)
    ))


def make_link(book: Book, days: int | None = None) -> ShareLink:
    """A new link to a finished book, open `days` days (TALES_SHARE_DAYS unless given); 409 while it is not finished."""
    default, longest = day_bounds()
    days = default if days is None else days
    if not 1 <= days <= longest:
        raise ApiError(400, "invalid", f"링크를 열어 둘 기간은 1일에서 {longest}일 사이로 정해 주세요.", "days")
    if book.status is not BookStatus.DONE:
        if book.status in ACTIVE and book.pdf_name:
            message = "고친 내용으로 책을 다시 만들고 있어요. 다 만들어지면 링크를 만들어 주세요."
        else:
            message = "그림책이 다 만들어진 뒤에 공유 링크를 만들 수 있어요."
        raise ApiError(409, "not_finished", message)
    db = get_session()
    # Links past their period only answer 410; a new link is a good moment to let them go.
    db.execute(delete(ShareLink).where(ShareLink.book_id == book.id, ShareLink.expires_at <= utcnow())
               .execution_options(synchronize_session=False))
    if len(live_links(book)) >= current_settings().TALES_SHARE_MAX_LINKS:
        raise ApiError(409, "too_many_links", f"이 책의 공유 링크가 이미 {current_settings().TALES_SHARE_MAX_LINKS}개예요. "
                                              "쓰지 않는 링크를 끊은 뒤 다시 만들어 주세요.")
    link = add_share_link(db, book.id, closing_time(days))
    db.commit()
    return link


def revoke_link(book: Book, link_id: str) -> None:
    """End one of the book's links now (its row deleted); 404 for a link the book does not have."""
    if not LINK_ID.fullmatch(link_id):
        raise ApiError(404, "not_found", "이 책에 그런 공유 링크가 없어요. 이미 끊었을 수도 있어요.")
    db = get_session()
    gone = db.execute(delete(ShareLink).where(ShareLink.id == link_id, ShareLink.book_id == book.id)
                      .execution_options(synchronize_session=False)).rowcount
    db.commit()
    if not gone:
        raise ApiError(404, "not_found", "이 책에 그런 공유 링크가 없어요. 이미 끊었을 수도 있어요.")


def open_link(token: str) -> ShareLink:
    """The link named by `token`, with its book; LinkGone (404) or LinkClosed (410)."""
    if not TOKEN.fullmatch(token):
        raise LinkGone(token)
    link = get_session().scalar(select(ShareLink).where(ShareLink.token == token))
    if link is None:
        raise LinkGone(token)
    if link.expires_at <= utcnow():
        raise LinkClosed(link)
    return link


def link_url(link: ShareLink) -> str:
    """The link's absolute address: on TALES_PUBLIC_URL when set, else on the host this request came to."""
    public = current_settings().TALES_PUBLIC_URL
    path = url_for("shared_links.book", token=link.token)
    if public:
        return public.rstrip("/") + path
    return request.host_url.rstrip("/") + path


def link_json(link: ShareLink) -> dict:
    """The API's view of a link."""
    return {
        "id": link.id,
        "url": link_url(link),
        "created_at": link.created_at.isoformat() + "Z",
        "expires_at": link.expires_at.isoformat() + "Z",
        # the owner's words for the period, as the book page shows it
        "open_until": open_until(link.expires_at),
    }
