"""Recovery: a failed book marked, lost work found and sent again (books and mails), files without a book removed."""
from __future__ import annotations

import logging
from datetime import timedelta

from shared.jobs import TaskName
from shared.leases import is_gone
from shared.lifecycle import (
    count_lost_run,
    fail,
    finish_email,
)
from shared.models import Book, DeadLetter, EmailRequest, utcnow
from shared.status import ACTIVE, BookStatus, EmailStatus, Stage
from sqlalchemy import select
from sqlalchemy.orm import Session
from worker.pipeline.context import Context, load_book, max_lost
from worker.pipeline.transcribe import reconcile_transcriptions, remove_old_transcripts, remove_stale_audio

log = logging.getLogger(__name__)


def fail_book(ctx: Context, book_id: str, reason: str) -> None:
    """Mark a book failed with the reason, unless it already finished."""
    with ctx.sessions.begin() as session:
        book = load_book(session, book_id)
        if book is not None and book.status not in (BookStatus.DONE, BookStatus.AWAITING_ANNOTATIONS):
            fail(book, reason)
    if book is None:  # deleted while the stage ran (its photos went first): remove what the stage wrote
        ctx.storage.delete_book(book_id)


# Which task picks up a book that sits in each running state.
RESUME: dict[BookStatus, TaskName] = {
    BookStatus.QUEUED: TaskName.CAPTION,
    BookStatus.CAPTIONING: TaskName.CAPTION,
    BookStatus.WRITING: TaskName.WRITE,
    BookStatus.RENDERING: TaskName.RENDER,
}


def resume_task(book: Book) -> TaskName:
    """The task that picks a running book up again: `rendering` is drawn or narrated first while its stage says so.

    A `captioning` book whose captions are done (stage `suggest`) goes on with the suggest task.
    """
    if book.status is BookStatus.RENDERING and book.stage == Stage.DRAW.value:
        return TaskName.DRAW
    if book.status is BookStatus.RENDERING and book.stage == Stage.NARRATE.value:
        return TaskName.NARRATE
    if book.status is BookStatus.CAPTIONING and book.stage == Stage.SUGGEST.value:
        return TaskName.SUGGEST
    return RESUME[book.status]


def remove_orphans(ctx: Context, older_than: timedelta) -> list[str]:
    """Delete stored files of books that have no row, untouched for `older_than`; the ids removed.

    A book being created has files before its row commits: the age keeps those. Scratch space of
    processes on this host that are gone (S3 copies, files waiting to be uploaded) goes too.
    """
    cutoff = utcnow() - older_than
    stored = [(book_id, newest) for book_id, newest in ctx.storage.stored_books() if book_id.isalnum()]
    for book_id, _newest in stored:  # a killed process's half-written files, past TALES_TEMP_FILE_GRACE_S, in any book
        ctx.storage.remove_temp_files(book_id)
    old = sorted(book_id for book_id, newest in stored if newest <= cutoff)
    kept: set[str] = set()
    with ctx.sessions() as session:
        for start in range(0, len(old), 500):
            kept.update(session.scalars(select(Book.id).where(Book.id.in_(old[start:start + 500]))))
    removed = [book_id for book_id in old if book_id not in kept]
    for book_id in removed:
        ctx.storage.delete_book(book_id)
        log.info("removed the files of book %s, which has no row", book_id)
    ctx.storage.remove_stale_scratch()
    remove_stale_audio(ctx, older_than)  # recordings no transcription waits for: children's voices are not kept
    remove_old_transcripts(ctx)  # nor their words, once the form has had them
    return removed


def reconcile(ctx: Context, stale_after: timedelta, queued: set[str] | None = None) -> list[str]:
    """Enqueue again every book and mail whose work was lost; the ids of the books sent again.

    Lost means: held by a worker process that is gone (killed, its host lost); or waiting for a
    message that is in no queue (`queued`: the ids the broker's messages carry, None when the
    broker could not be read) for TALES_LOST_GRACE_S; or, the last resort, not moved for
    `stale_after`. A book whose worker died TALES_MAX_LOST_RUNS times is failed instead.
    """
    settings = ctx.settings
    now = utcnow()
    cutoff, grace = now - stale_after, now - timedelta(seconds=settings.TALES_LOST_GRACE_S)
    resent: list[str] = []
    with ctx.sessions.begin() as session:
        books = session.scalars(
            select(Book).where(Book.status.in_(list(ACTIVE))).order_by(Book.id).with_for_update(skip_locked=True)
        ).all()
        gone = _gone_holders(ctx, session, {book.worker_id for book in books if book.worker_id})
        for book in books:
            if book.worker_id in gone:
                remove_render_leftovers(ctx, book.id)
                task = resume_task(book)
                if count_lost_run(session, book, max_lost(ctx, task), task.value):
                    log.error("book %s stopped its worker %d times; failed, dead letter written", book.id, book.lost_runs)
                    continue
            elif book.worker_id is not None and settings.TALES_LEASES:
                continue  # a live worker has it in hand
            elif not (book.updated_at <= cutoff or (queued is not None and book.id not in queued and book.updated_at <= grace)):
                continue
            book.worker_id = None
            book.updated_at = now  # so the next sweep waits a full period again
            ctx.enqueue(session, resume_task(book), book.id)
            resent.append(book.id)
        _reconcile_emails(ctx, session, queued, cutoff, grace)
    reconcile_transcriptions(ctx, queued, cutoff, grace)  # spoken hints, in a transaction of their own
    if resent:
        log.warning("reconciler re-enqueued %d book(s): %s", len(resent), ", ".join(resent))
    return resent


def remove_render_leftovers(ctx: Context, book_id: str) -> int:
    """Delete the half-written PDF and EPUB of a book whose worker is gone; how many went.

    Only a render writes `.tmp-*.pdf` and `.tmp-*.epub`, beside the book's files, and its worker is
    dead: they go at once, whatever their age (the web tier's thumbnails are .jpg, under thumbs/).
    An object store keeps no temporary files (local scratch goes with remove_stale_scratch).
    """
    folder = ctx.storage.local_path(ctx.storage.book_prefix(book_id))
    if folder is None or not folder.is_dir():
        return 0
    leftovers = [*folder.glob(".tmp-*.pdf"), *folder.glob(".tmp-*.epub")]
    for tmp in leftovers:
        tmp.unlink(missing_ok=True)
    if leftovers:
        log.info("removed %d file(s) a killed render of book %s left", len(leftovers), book_id)
    return len(leftovers)


def _gone_holders(ctx: Context, session: Session, holders: set[str]) -> set[str]:
    if not ctx.settings.TALES_LEASES:
        return set()
    return {holder for holder in holders if is_gone(session, holder, ctx.settings)}


# What a request shows when its worker stopped during the SMTP exchange and it is sent again.
RESENT_NOTE = "the worker stopped during the send; sent again with the same Message-ID"


def _reconcile_emails(ctx: Context, session: Session, queued: set[str] | None, cutoff, grace) -> None:
    """Pending mails whose message is lost are sent again; a mail held by a dead worker goes back to pending.

    A worker killed during the SMTP exchange leaves it unknown whether the server took the mail.
    It is sent again with the same Message-ID, so the copy, if the first did arrive, is the same
    mail to the receiving server and the reader's mail program; after TALES_MAX_LOST_RUNS such
    deaths the request fails with that said, and a dead letter. A `sending` mail with no holder
    (leases off) counts as held by a dead worker once its claim is older than `cutoff`.
    Each mail is locked with its book (skipping rows others hold), so its book's touch waits on no one.
    """
    sending = session.scalars(
        select(EmailRequest).join(EmailRequest.book).where(EmailRequest.status == EmailStatus.SENDING)
        .with_for_update(skip_locked=True)
    ).all()
    gone = _gone_holders(ctx, session, {request.worker_id for request in sending if request.worker_id})
    for request in sending:
        if request.worker_id is None and request.updated_at > cutoff:
            continue
        if request.worker_id is not None and request.worker_id not in gone:
            continue
        if request.attempts >= ctx.settings.TALES_MAX_LOST_RUNS:
            finish_email(request, EmailStatus.FAILED, f"{RESENT_NOTE} {request.attempts} times; it may or may not have arrived")
            session.add(DeadLetter(kind="email", ref=str(request.id), task=TaskName.EMAIL.value, reason=request.last_error))
            continue
        finish_email(request, EmailStatus.PENDING, RESENT_NOTE)
        ctx.enqueue(session, TaskName.EMAIL, str(request.id))
    pending = session.scalars(
        select(EmailRequest).join(EmailRequest.book).where(EmailRequest.status == EmailStatus.PENDING)
        .with_for_update(skip_locked=True)
    ).all()
    now = utcnow()
    for request in pending:
        if queued is not None and str(request.id) in queued:
            continue  # its message waits in a queue (or a worker holds it): another would send nothing new
        lost = queued is not None and request.updated_at <= grace
        if lost or request.updated_at <= cutoff:
            request.updated_at = now  # so the next sweep waits a full period again, as for books
            ctx.enqueue(session, TaskName.EMAIL, str(request.id))
