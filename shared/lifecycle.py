"""The one place that moves a book from state to state."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.models import Book, utcnow
from shared.status import BookStatus, Stage, check_transition


def claim(session: Session, book_id: str, allowed: Iterable[BookStatus], target: BookStatus) -> Book | None:
    """Move a book to `target` if it is in one of `allowed`; None when another run got there first.

    This is a compare-and-set in one UPDATE, so two copies of a task (a redelivered
    message, a reconciler re-enqueue) cannot both advance the same book.
    """
    allowed = list(allowed)
    for current in allowed:
        check_transition(current, target)
    result = session.execute(
        update(Book)
        .where(Book.id == book_id, Book.status.in_(allowed))
        .values(status=target, updated_at=utcnow(), error=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    book = session.execute(
        select(Book).where(Book.id == book_id).execution_options(populate_existing=True)
    ).scalar_one()
    return book


def move(book: Book, target: BookStatus) -> None:
    """Move a loaded book to `target`, checking the move is allowed."""
    check_transition(book.status, target)
    book.status = target
    book.updated_at = utcnow()
    if target is not BookStatus.FAILED:
        book.error = None


def set_progress(book: Book, stage: Stage, done: int, total: int) -> None:
    """Record what the worker is doing and how far it got."""
    book.stage = stage.value
    book.progress_done = done
    book.progress_total = total
    book.updated_at = utcnow()


def fail(book: Book, reason: str) -> None:
    """Mark a book failed with a reason a person can read."""
    if book.status is BookStatus.FAILED:
        book.error = reason
        return
    move(book, BookStatus.FAILED)
    book.error = reason


def add_note(book: Book, note: str) -> None:
    """Remember a plain-language remark about how the book was made (no duplicates)."""
    notes = list(book.notes or [])
    if note not in notes:
        notes.append(note)
        book.notes = notes
