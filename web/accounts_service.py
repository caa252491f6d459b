"""Account operations shared by the settings page and the JSON API: delete an account and all it holds."""
from __future__ import annotations

import logging

from sqlalchemy import and_, delete, or_, select

from shared.models import Book, DeadLetter, EmailRequest, User
from web.books_service import delete_book_rows, storage
from web.db import get_session

log = logging.getLogger(__name__)


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
