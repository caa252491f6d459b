"""Account operations shared by the pages and the JSON API: confirm the address, who may be mailed,
delete an account and all it holds."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, delete, func, or_, select

from shared.confirmations import read_confirmation
from shared.jobs import TaskName
from shared.links import LinkInvalid
from shared.models import Book, DeadLetter, EmailRequest, User, utcnow
from web.books_service import delete_book_rows, enqueue, storage
from web.db import current_settings, get_session
from web.errors import ApiError, BrokerDown

log = logging.getLogger(__name__)


def mail_configured() -> bool:
    """Whether this server can mail a link at all: an SMTP server and its own public address."""
    settings = current_settings()
    return bool(settings.SMTP_HOST and settings.TALES_PUBLIC_URL)


def ask_confirmation(user: User) -> bool:
    """Queue the mail with the link that confirms `user`'s address (sent once the caller commits).

    False when there is nothing to send (confirmed already) or no way to send it (no SMTP_HOST or
    TALES_PUBLIC_URL, or the broker is down at sign-up): the account is made all the same, and
    the settings page can ask again.
    """
    if user.email_confirmed_at is not None:
        return False
    if not mail_configured():
        log.warning("account %s not sent a confirmation mail: SMTP_HOST or TALES_PUBLIC_URL is not set", user.id)
        return False
    try:
        enqueue(TaskName.CONFIRM_EMAIL, str(user.id), current_settings().TALES_PUBLIC_URL)
    except BrokerDown:
        log.warning("account %s not sent a confirmation mail: the broker is down", user.id, exc_info=True)
        return False
    return True


def confirmation_user(token: str, lock: bool = False) -> User:
    """The account a confirmation link is for; raises LinkExpired, or LinkInvalid (also when its address changed).

    `lock` holds the account's row until the request commits.
    """
    user_id, email = read_confirmation(current_settings(), token)
    user = get_session().get(User, user_id, with_for_update=lock, populate_existing=lock)
    if user is None or user.email.lower() != email:
        raise LinkInvalid(token)
    return user


def mark_confirmed(user: User) -> None:
    """The address is the account's: it may mail others from now on (the first confirmation's time is kept)."""
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
        log.info("account %s confirmed its address", user.id)
    get_session().commit()


def not_confirmed_message(user: User) -> str:
    return (f"다른 사람에게 보내려면 먼저 메일 주소를 확인해 주세요. 가입할 때 {user.email} 주소로 보낸 확인 메일의 링크를 열면 돼요. "
            "메일이 없으면 설정(또는 API의 POST /api/v1/users/me/confirmation)에서 확인 메일을 다시 받을 수 있어요. "
            "그동안에도 내 주소로는 보낼 수 있어요.")


def check_mail_allowed(user: User, to: str) -> None:
    """Refuse mail to someone else's address from an unconfirmed account (403) or past TALES_MAIL_PER_DAY (429).

    The account's row is locked until the caller commits its mail request, so two requests at
    once are counted one after the other.
    """
    if to.strip().lower() == user.email.lower():
        return
    if user.email_confirmed_at is None:
        raise ApiError(403, "email_not_confirmed", not_confirmed_message(user), "to")
    db = get_session()
    db.execute(select(User.id).where(User.id == user.id).with_for_update())
    limit = current_settings().TALES_MAIL_PER_DAY
    sent = db.scalar(
        select(func.count(EmailRequest.id)).join(Book, Book.id == EmailRequest.book_id).where(
            Book.user_id == user.id, EmailRequest.created_at >= utcnow() - timedelta(days=1),
            func.lower(EmailRequest.to_address) != user.email.lower(),
        )
    )
    if sent >= limit:
        raise ApiError(429, "mail_limit", f"다른 사람에게는 24시간에 {limit}통까지 보낼 수 있어요. 내일 다시 보내 주세요. "
                                          "내 주소로는 지금도 보낼 수 있어요.", "to")


def delete_account(user: User) -> None:
    """Delete the user, every book (photos, print copies, PDFs), mail request, token and login session.

    Locks go user, then each book, then (by cascade) its scenes: the user's row first, so no new
    book of theirs can start meanwhile (creating one locks it too), then the order every stage and
    `delete_book` lock in. One transaction for the rows; the files go after it commits, as
    `delete_book` does, and files a killed process leaves behind are swept as orphans.
    """
    db = get_session()
    user_id = user.id
    db.execute(select(User.id).where(User.id == user_id).with_for_update())
    book_ids = list(db.scalars(select(Book.id).where(Book.user_id == user_id).order_by(Book.id)))
    email_ids = [str(i) for i in db.scalars(select(EmailRequest.id).where(EmailRequest.book_id.in_(book_ids)))]
    # Dead letters name their book or mail by id, without a foreign key to cascade along.
    db.execute(delete(DeadLetter).where(or_(
        and_(DeadLetter.kind == "book", DeadLetter.ref.in_(book_ids)),
        and_(DeadLetter.kind == "email", DeadLetter.ref.in_(email_ids)),
    )).execution_options(synchronize_session=False))
    for book_id in book_ids:
        delete_book_rows(db, book_id)
    # Tokens and login sessions go by ON DELETE CASCADE.
    db.execute(delete(User).where(User.id == user_id).execution_options(synchronize_session=False))
    db.commit()
    db.expunge_all()
    for book_id in book_ids:
        storage().delete_book(book_id)
    log.info("account %s deleted with %d books", user_id, len(book_ids))
