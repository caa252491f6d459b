"""The one place that moves books and email requests from state to state, and decides retries.

Every move is a compare-and-set UPDATE (`claim`, `claim_email`): two copies of a task (a
redelivered message, a reconciler re-enqueue) or a worker racing a web request cannot both
move the same row. The allowed moves are `shared.status.TRANSITIONS` / `EMAIL_TRANSITIONS`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import Book, EmailRequest, touch_book, utcnow
from shared.status import BookStatus, EmailStatus, Stage, check_transition

T = TypeVar("T", Book, EmailRequest)


class WrongState(Exception):
    """A book was asked for something its current state does not allow."""

    def __init__(self, current: BookStatus, allowed: Iterable[BookStatus], target: BookStatus | None = None):
        allowed = list(allowed)
        wanted = " or ".join(status.value for status in allowed)
        goal = f" to go to {target.value}" if target is not None else ""
        super().__init__(f"the book must be {wanted}{goal}; it is {current.value}")
        self.current, self.allowed, self.target = current, allowed, target


def _compare_and_set(session: Session, model: type[T], row_id: object, allowed: list, values: dict) -> T | None:
    """One UPDATE … WHERE id = row_id AND status IN allowed; the fresh row, or None if none matched."""
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return session.execute(select(model).where(model.id == row_id).execution_options(populate_existing=True)).scalar_one()


def claim(session: Session, book_id: str, allowed: Iterable[BookStatus], target: BookStatus) -> Book | None:
    """Move a book to `target` if it is in one of `allowed`; None when another run got there first."""
    allowed = list(allowed)
    for current in allowed:
        check_transition(current, target)
    return _compare_and_set(session, Book, book_id, allowed, {"status": target, "updated_at": utcnow(), "error": None})


def claim_or_refuse(session: Session, book: Book, allowed: Iterable[BookStatus], target: BookStatus) -> Book:
    """`claim` for a request on the user's behalf: the moved book, or WrongState naming what it is now."""
    allowed = list(allowed)
    claimed = claim(session, book.id, allowed, target)
    if claimed is None:
        session.refresh(book, ["status"])
        raise WrongState(book.status, allowed, target)
    return claimed


def require(book: Book, allowed: Iterable[BookStatus]) -> None:
    """Refuse (WrongState) unless the book is in one of `allowed`: for actions that do not move it."""
    allowed = list(allowed)
    if book.status not in allowed:
        raise WrongState(book.status, allowed)


def move(book: Book, target: BookStatus) -> None:
    """Move a book loaded under the worker's claim to `target`, checking the move is allowed."""
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


def claim_email(session: Session, request_id: int) -> EmailRequest | None:
    """Take a pending email request for sending (pending -> sending, one more attempt); None if taken."""
    check_transition(EmailStatus.PENDING, EmailStatus.SENDING)
    request = _compare_and_set(
        session, EmailRequest, request_id, [EmailStatus.PENDING],
        {"status": EmailStatus.SENDING, "attempts": EmailRequest.attempts + 1},
    )
    if request is not None:
        touch_book(session, request.book_id)  # the book's page shows the request as sending
    return request


def finish_email(request: EmailRequest, target: EmailStatus, error: str | None = None) -> None:
    """Record how a send ended: sent, back to pending for a retry, or failed for good."""
    check_transition(request.status, target)
    request.status = target
    request.last_error = error
    if target is EmailStatus.SENT:
        request.sent_at = utcnow()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a transient fault (database blink, SMTP 4xx) is tried again."""

    max_retries: int
    base_s: float
    cap_s: float

    def may_retry(self, retries_so_far: int) -> bool:
        return retries_so_far < self.max_retries

    def delay(self, retries_so_far: int) -> float:
        """Seconds before the next try: `base_s`, doubling per try, at most `cap_s`."""
        return min(self.base_s * 2**retries_so_far, self.cap_s)


def stage_retries(settings: Settings) -> RetryPolicy:
    """Pipeline stages: TALES_TASK_MAX_RETRIES tries from TALES_TASK_RETRY_BASE_S, at most 5 minutes apart."""
    return RetryPolicy(settings.TALES_TASK_MAX_RETRIES, settings.TALES_TASK_RETRY_BASE_S, 300.0)


def email_retries(settings: Settings) -> RetryPolicy:
    """Email sends: as many tries as stages, from TALES_EMAIL_RETRY_BASE_S, at most 10 minutes apart."""
    return RetryPolicy(settings.TALES_TASK_MAX_RETRIES, settings.TALES_EMAIL_RETRY_BASE_S, 600.0)
