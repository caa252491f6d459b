"""The one place that moves books and email requests from state to state, and decides retries.

Every move is a compare-and-set UPDATE (`claim`, `claim_email`): two copies of a task (a
redelivered message, a reconciler re-enqueue) or a worker racing a web request cannot both
move the same row. The allowed moves are `shared.status.TRANSITIONS` / `EMAIL_TRANSITIONS`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.jobs import TaskName
from shared.models import Book, DeadLetter, EmailRequest, touch_book, utcnow
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


def claim(
    session: Session, book_id: str, allowed: Iterable[BookStatus], target: BookStatus, holder: str | None = None
) -> Book | None:
    """Move a book to `target` if it is in one of `allowed`; None when another run got there first.

    `holder` is the worker process that will work on the book now (shared/leases.py); without one
    the book waits for a message (the web tier's moves, a stage's handoff to the next), and the
    worker deaths counted so far are forgotten: `lost_runs` counts those of one stage's run.
    """
    allowed = list(allowed)
    for current in allowed:
        check_transition(current, target)
    values = {"status": target, "updated_at": utcnow(), "error": None, "worker_id": holder}
    if holder is None:
        values["lost_runs"] = 0
    return _compare_and_set(session, Book, book_id, allowed, values)


def take(
    session: Session, book_id: str, allowed: Iterable[BookStatus], target: BookStatus, *,
    holder: str | None, gone: Callable[[str], bool], max_lost: int, task: str,
) -> Book | None:
    """A stage's first claim: like `claim`, and it respects the book's current holder.

    The book's row is locked first (the one lock order: book, then its scenes). A live holder
    means this run is a duplicate (a redelivered or re-sent message): None. A dead holder died
    working on the book: that counts, and a book that killed `max_lost` workers is failed with a
    dead letter instead of being run again (a poison book). Without `holder` (leases off) it is `claim`.
    """
    if holder is None:
        return claim(session, book_id, allowed, target)
    book = session.execute(
        select(Book).where(Book.id == book_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if book is None or book.status not in list(allowed):
        return None
    if book.worker_id not in (None, holder):
        if not gone(book.worker_id):
            return None
        if count_lost_run(session, book, max_lost, task):
            return None
    return claim(session, book_id, allowed, target, holder)


def count_lost_run(session: Session, book: Book, max_lost: int, task: str) -> bool:
    """Count one worker death on `book`; True when that makes it a poison book, now failed."""
    book.lost_runs = (book.lost_runs or 0) + 1
    book.worker_id = None
    if book.lost_runs < max_lost:
        return False
    fail(book, POISON_REASON.format(runs=book.lost_runs))
    session.add(DeadLetter(kind="book", ref=book.id, task=task,
                           reason=f"the worker died {book.lost_runs} times while running {task} on this book"))
    return True


# What the parent reads on a book set aside after it stopped its worker again and again.
POISON_REASON = (
    "이 책을 만드는 동안 작업이 {runs}번 멈춰서 더 시도하지 않았어요. 사진을 바꾸거나 줄여서 다시 시도해 주세요."
)


def release(session: Session, book_id: str, holder: str) -> None:
    """Let go of a book without moving it (a stage that will be retried later, maybe elsewhere)."""
    session.execute(
        update(Book).where(Book.id == book_id, Book.worker_id == holder).values(worker_id=None)
        .execution_options(synchronize_session=False)
    )


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
    book.worker_id = None  # the next stage's worker claims it anew
    if target is not BookStatus.FAILED:
        book.error = None
        book.lost_runs = 0  # the next stage counts its own worker deaths


def hand_on(book: Book) -> None:
    """Let a book loaded under a stage's claim wait, in its state, for the next task's message: no
    holder (that task's worker claims it anew) and no worker deaths counted (it counts its own)."""
    book.worker_id = None
    book.lost_runs = 0


def unread_pages(book: Book, settings: Settings) -> list[int]:
    """The pages whose audio does not read their text as it is now; none when narration is off."""
    if settings.TALES_NARRATOR == "none":
        return []
    return [scene.index for scene in book.scenes if scene.text and scene.audio is None]


def undrawn_pages(book: Book) -> list[int]:
    """The pages that wait to be drawn in the book's style (none for a `photo` book)."""
    return [scene.index for scene in book.scenes if scene.needs_picture]


def to_rendering(book: Book, settings: Settings) -> tuple[Stage, TaskName, int]:
    """How a book that goes to `rendering` starts: the stage, its task and the pages it works on.

    Pages still to be drawn go to the draw task first, pages to read aloud to the narrate task
    (each then sends the next); otherwise straight to the render task. Whoever moves the book
    decides once, so render never draws or narrates.
    """
    undrawn = undrawn_pages(book)
    if undrawn:
        return Stage.DRAW, TaskName.DRAW, len(undrawn)
    unread = unread_pages(book, settings)
    if unread:
        return Stage.NARRATE, TaskName.NARRATE, len(unread)
    return Stage.RENDER, TaskName.RENDER, len(book.scenes)


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


# A note is Korean for parents, then optionally the operator's detail in parentheses (settings,
# model names): "모델 없이 규칙 기반 문장으로 썼어요 (offline template writer)."
def note_for_parents(note: str) -> str:
    """The note without its operator detail: what the book pages show (the API keeps it whole)."""
    body = note.rstrip()
    end = "." if body.endswith(").") else ""
    body = body.removesuffix(".") if end else body
    if not body.endswith(")"):
        return note
    depth = 0
    for position in range(len(body) - 1, -1, -1):  # the "(" that the last ")" closes
        depth += {")": 1, "(": -1}.get(body[position], 0)
        if depth == 0:
            detail = body[position + 1:-1]
            if not re.search(r"[A-Za-z]", detail):
                return note  # Korean in parentheses is for parents too
            return body[:position].rstrip() + end
    return note


def add_note(book: Book, note: str) -> None:
    """Remember a plain-language remark about how the book was made (no duplicates)."""
    notes = list(book.notes or [])
    if note not in notes:
        notes.append(note)
        book.notes = notes


def drop_notes(book: Book, prefix: str) -> None:
    """Forget the remarks that start with `prefix` (one that no longer holds, such as a failure since mended)."""
    notes = [note for note in book.notes or [] if not note.startswith(prefix)]
    if notes != list(book.notes or []):
        book.notes = notes


def claim_email(session: Session, request_id: int, holder: str | None = None) -> EmailRequest | None:
    """Take a pending email request for sending (pending -> sending, one more attempt); None if taken.

    The book's row is locked first, as a delete locks it before the cascade reaches its mails: the
    one lock order (book, then its parts) keeps the two from deadlocking.
    """
    check_transition(EmailStatus.PENDING, EmailStatus.SENDING)
    lock_book_of(session, request_id)
    request = _compare_and_set(
        session, EmailRequest, request_id, [EmailStatus.PENDING],
        {"status": EmailStatus.SENDING, "attempts": EmailRequest.attempts + 1, "worker_id": holder,
         "updated_at": utcnow()},
    )
    if request is not None:
        touch_book(session, request.book_id)  # the book's page shows the request as sending
    return request


def lock_book_of(session: Session, request_id: int) -> None:
    """Lock the row of the book an email request belongs to, before the request's own row is written."""
    book_of = select(EmailRequest.book_id).where(EmailRequest.id == request_id).scalar_subquery()
    session.execute(select(Book.id).where(Book.id == book_of).with_for_update())


def finish_email(request: EmailRequest, target: EmailStatus, error: str | None = None) -> None:
    """Record how a send ended: sent, back to pending for a retry, or failed for good."""
    check_transition(request.status, target)
    request.status = target
    request.last_error = error
    request.worker_id = None
    request.updated_at = utcnow()
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
