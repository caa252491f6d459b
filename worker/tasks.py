"""Celery tasks: thin wrappers that call a pipeline stage with a book id."""
from __future__ import annotations

import logging
import os
import smtplib
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from functools import lru_cache, partial

import botocore.exceptions
from celery import Task
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from shared import leases
from shared.config import get_settings
from shared.db import session_factory
from shared.jobs import TaskName, enqueue_after_commit, send_now
from shared.lifecycle import claim_email, email_retries, finish_email, lock_book_of, release, stage_retries
from shared.links import mail_share_link
from shared.models import EmailRequest
from shared.status import EmailStatus, Stage
from shared.storage import open_storage
from shared.vocabulary import STAGE_LABELS, STAGE_OPERATOR_NAMES
from worker import broker, celery, mailer, pipeline
from worker.errors import StageError
from worker.metrics import STAGE_SECONDS, TASK_FAILURES, short_name

log = logging.getLogger(__name__)

# Faults worth trying again: the database or broker blinked, a server timed out, the object store
# (S3, MinIO) could not be reached or dropped the connection. An S3 answer is one when it says busy.
TRANSIENT = (OperationalError, ConnectionError, TimeoutError,
             botocore.exceptions.ConnectionError, botocore.exceptions.ConnectionClosedError, botocore.exceptions.ReadTimeoutError)
S3_BUSY = {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "Throttling"}


def is_transient(exc: BaseException) -> bool:
    """True for a fault that may pass if the work is tried again a little later."""
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or exc.response.get("Error", {}).get("Code") in S3_BUSY
    return isinstance(exc, TRANSIENT)


@lru_cache(maxsize=1)
def context() -> pipeline.Context:
    settings = get_settings()

    def enqueue(session: Session, task: TaskName, book_id: str, *args: object) -> None:
        enqueue_after_commit(session, celery, task, book_id, *args)

    return pipeline.Context(
        settings=settings,
        sessions=session_factory(settings.DATABASE_URL),
        storage=open_storage(settings),
        enqueue=enqueue,
        worker_id=leases.this_process().id if settings.TALES_LEASES else None,
    )


class Watch(threading.Thread):
    """Beats this process's lease; in the main process, also looks for lost work every few seconds.

    A thread, not a Celery task: it keeps beating while a long stage runs, and it finds lost work
    even when the broker was emptied (a periodic task's own message would be lost with the rest).
    """

    def __init__(self, reconcile: bool):
        super().__init__(name="talesrunner-watch", daemon=True)
        self.reconcile = reconcile
        self.pid = os.getpid()
        self.stopped = threading.Event()

    def run(self) -> None:
        ctx = context()
        every = ctx.settings.TALES_SWEEP_EVERY_S
        next_sweep = 0.0  # the first sweep at once: a restarted worker takes back its predecessor's books
        while not self.stopped.is_set():
            try:
                with ctx.sessions.begin() as session:
                    leases.beat(session, leases.this_process())
                if self.reconcile and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + every
                    sweep(ctx)
            except Exception:  # the database or broker blinked: beat again next time
                log.warning("lease beat or reconcile failed", exc_info=True)
            self.stopped.wait(ctx.settings.TALES_HEARTBEAT_S)


_watch: Watch | None = None


def _start_watch(reconcile: bool) -> None:
    """One watch per process (a solo worker may see both start signals): the main one also reconciles."""
    global _watch
    if not get_settings().TALES_LEASES:
        return
    if _watch is not None and _watch.is_alive() and _watch.pid == os.getpid():
        _watch.reconcile = _watch.reconcile or reconcile
        return
    # The first beat in this thread, before any other starts: every lazy import of the database
    # driver happens now, not in a thread that a later fork (a new prefork child) could cut in half.
    try:
        with context().sessions.begin() as session:
            leases.beat(session, leases.this_process())
    except Exception:
        log.warning("first lease beat failed; the watch will try again", exc_info=True)
    _watch = Watch(reconcile)
    _watch.start()


def sweep(ctx: pipeline.Context) -> list[str]:
    """One reconcile with what the broker holds, and old worker rows removed."""
    # With leases off the service behaves as before them: the stale threshold alone.
    queued = broker.queued_ids(ctx.settings.REDIS_URL) if ctx.settings.TALES_LEASES else None
    resent = pipeline.reconcile(ctx, timedelta(seconds=ctx.settings.TALES_STALE_AFTER_S), queued)
    with ctx.sessions.begin() as session:
        leases.sweep(session, ctx.settings)
    global _orphans_due
    if time.monotonic() >= _orphans_due:
        _orphans_due = time.monotonic() + ctx.settings.TALES_ORPHAN_SWEEP_EVERY_S
        pipeline.remove_orphans(ctx, timedelta(seconds=ctx.settings.TALES_ORPHAN_GRACE_S))
    return resent


_orphans_due = 0.0  # when this process next looks for orphaned files (monotonic seconds)


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # A forked child must not reuse the parent's database connections, nor its identity.
    session_factory.cache_clear()
    context.cache_clear()
    _start_watch(reconcile=False)


@worker_ready.connect
def _reconcile_on_start(sender=None, **_kwargs) -> None:
    # Work lost while no worker ran (killed worker, emptied Redis) is picked up at once.
    if get_settings().TALES_LEASES:
        _start_watch(reconcile=True)
        return
    try:
        send_now(celery, TaskName.RECONCILE)
    except Exception:
        log.exception("could not schedule the start-up reconcile")


@worker_ready.connect
def _report_missing_models(sender=None, **_kwargs) -> None:
    # A first start with an empty models folder still makes books (each part falls back to its offline
    # backend); the operator learns here, one line per model, which setting names nothing and the fix.
    queues = _queues_of(sender)
    if queues is not None and "gpu" not in queues:
        return  # the models run on the gpu queue only
    from worker.ml import presence

    try:
        presence.report_missing(get_settings())
    except Exception:
        log.warning("could not check which models are present", exc_info=True)


def _queues_of(consumer) -> set[str] | None:
    """The queues a starting worker consumes from, or None when its consumer does not say."""
    try:
        return {queue.name for queue in consumer.task_consumer.queues}
    except AttributeError:
        return None


@worker_shutdown.connect
def _forget(**_kwargs) -> None:
    if _watch is None:
        return
    _watch.stopped.set()
    try:
        with context().sessions.begin() as session:
            leases.forget(session, leases.this_process())
    except Exception:
        log.warning("could not remove this worker's lease row", exc_info=True)


def _run_stage(task: Task, name: Stage, stage: Callable[[pipeline.Context, str], None], book_id: str) -> None:
    ctx = context()
    retries = stage_retries(ctx.settings)
    label = f"{STAGE_LABELS[name]} ({STAGE_OPERATOR_NAMES[name]})"
    started, outcome = time.perf_counter(), "failed"
    try:
        stage(ctx, book_id)
        outcome = "ok"
    except Exception as exc:
        transient = is_transient(exc)
        if transient:
            log.warning("%s of book %s hit a transient fault (try %d)", name.value, book_id, task.request.retries + 1, exc_info=True)
        if transient and retries.may_retry(task.request.retries):
            outcome = "retry"
            delay = retries.delay(task.request.retries)
            _release(ctx, book_id)  # the retry may run in another process
            raise task.retry(exc=exc, countdown=delay, max_retries=retries.max_retries) from exc
        pipeline.fail_book(ctx, book_id, _failure(name, label, exc, transient, retries.max_retries, book_id))
    finally:
        STAGE_SECONDS.labels(name.value, outcome).observe(time.perf_counter() - started)
        if outcome == "failed":
            TASK_FAILURES.labels(short_name(task.name)).inc()


def _failure(name: Stage, label: str, exc: Exception, transient: bool, max_retries: int, book_id: str) -> str:
    """What a failed book says: a StageError is written for people; other text stays in the log."""
    if transient:
        # A database error's text (SQL and its parameters) goes to the log, never to the parent; a
        # timeout or a lost connection to a model server is said as our backends word it.
        if isinstance(exc, DBAPIError):
            return f"{label}: 데이터베이스 연결이 {max_retries}번 다시 해도 되지 않았어요. 잠시 후 다시 시도해 주세요."
        if isinstance(exc, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError):  # its text names the store's URL
            return f"{label}: 파일 저장소 연결이 {max_retries}번 다시 해도 되지 않았어요. 잠시 후 다시 시도해 주세요."
        return f"{label} failed after {max_retries} retries: {exc}"
    if isinstance(exc, StageError):
        return f"{label}: {exc}"
    log.exception("%s failed for book %s", name.value, book_id)
    return f"{label}: 예상하지 못한 문제로 멈췄어요. 다시 시도해 주세요."


def _release(ctx: pipeline.Context, book_id: str) -> None:
    if ctx.worker_id is None:
        return
    try:
        with ctx.sessions.begin() as session:
            release(session, book_id, ctx.worker_id)
    except Exception:  # the lease runs out on its own
        log.warning("could not release book %s", book_id, exc_info=True)


@celery.task(bind=True, name=TaskName.CAPTION.value, )
def caption_book(self: Task, book_id: str) -> None:
    """Caption a book's photos (GPU)."""
    _run_stage(self, Stage.CAPTION, pipeline.caption_stage, book_id)


@celery.task(bind=True, name=TaskName.SUGGEST.value, )
def suggest_keywords(self: Task, book_id: str) -> None:
    """Suggest keywords per scene for the draft flow (CPU)."""
    _run_stage(self, Stage.SUGGEST, pipeline.suggest_stage, book_id)


@celery.task(bind=True, name=TaskName.WRITE.value, )
def write_book(self: Task, book_id: str) -> None:
    """Write the paragraphs (GPU)."""
    _run_stage(self, Stage.WRITE, pipeline.write_stage, book_id)


@celery.task(bind=True, name=TaskName.DRAW.value, )
def draw_pictures(self: Task, book_id: str) -> None:
    """Draw the pages from their photos in the book's style (GPU, where a drawing model runs)."""
    _run_stage(self, Stage.DRAW, pipeline.draw_stage, book_id)


@celery.task(bind=True, name=TaskName.NARRATE.value, )
def narrate_book(self: Task, book_id: str) -> None:
    """Read the pages aloud (GPU, where a local VITS model runs)."""
    _run_stage(self, Stage.NARRATE, pipeline.narrate_stage, book_id)


@celery.task(bind=True, name=TaskName.RENDER.value, )
def render_pdf(self: Task, book_id: str, narrated: bool = False) -> None:
    """Build the PDF and the e-book (CPU); `narrated`: sent by the narrate task, which has read what it could."""
    _run_stage(self, Stage.RENDER, partial(pipeline.render_stage, narrated=narrated), book_id)


@celery.task(bind=True, name=TaskName.TRANSCRIBE.value)
def transcribe_audio(self: Task, transcription_id: str) -> None:
    """Turn one spoken hint into text and hints (GPU, where Whisper runs); its recording is deleted after."""
    ctx = context()
    retries = stage_retries(ctx.settings)
    try:
        pipeline.transcribe_stage(ctx, transcription_id)
    except Exception as exc:
        transient = is_transient(exc)
        if transient and retries.may_retry(self.request.retries):
            pipeline.release_transcription(ctx, transcription_id)  # the retry may run in another process
            raise self.retry(exc=exc, countdown=retries.delay(self.request.retries), max_retries=retries.max_retries) from exc
        TASK_FAILURES.labels(short_name(self.name)).inc()
        pipeline.fail_transcription(ctx, transcription_id, exc, transient)


@celery.task(name=TaskName.RECONCILE.value)
def reconcile() -> list[str]:
    """Re-enqueue books whose work was lost."""
    return sweep(context())


@celery.task(bind=True, name=TaskName.EMAIL.value)
def send_email(self: Task, request_id: str, outcome: list[str | None] | None = None) -> None:
    """Mail a finished book once: the request is claimed before sending and never sent twice.

    `outcome` ([status, error]) is how an earlier try of this task ended, when only writing it down
    failed (the database blinked): this try writes it down and sends nothing.
    """
    ctx = context()
    retries = email_retries(ctx.settings)
    if outcome is not None:
        _record(self, ctx, request_id, EmailStatus(outcome[0]), outcome[1])
        return
    with ctx.sessions.begin() as session:
        request = claim_email(session, int(request_id), ctx.worker_id)
        if request is None:
            return
        book = request.book
        title, filename = book.display_title, book.file_stem
        to, pdf_name, pdf_bytes = request.to_address, book.pdf_name, book.pdf_bytes or 0
        # Too large to attach: a share link to the book's page instead, which the owner can end.
        link = mail_share_link(session, ctx.settings, book.id) if pdf_bytes > ctx.settings.TALES_EMAIL_ATTACH_MAX_BYTES else None
        epub_name, epub_bytes = book.epub_name, book.epub_bytes or 0
        message_id = request.message_id
        attempts = request.attempts
        sender_name, note, account = request.sender_name, request.note, book.user.email
    try:
        with ExitStack() as files:
            pdf_path = files.enter_context(ctx.storage.local_copy(pdf_name))
            fits = epub_name and mailer.epub_fits(ctx.settings, pdf_bytes, epub_bytes)
            epub_path = files.enter_context(ctx.storage.local_copy(epub_name)) if fits else None
            outgoing = mailer.Outgoing(message_id=message_id, to=to, title=title, pdf_path=pdf_path, pdf_bytes=pdf_bytes,
                                       link=link, epub_path=epub_path, epub_bytes=epub_bytes, filename=filename,
                                       sender_name=sender_name, note=note, account=account)
            message = mailer.build_message(ctx.settings, outgoing)
        mailer.send(ctx.settings, message)
    except ValueError:  # a header the email package refuses: sending again cannot help
        log.exception("mail request %s could not be written", request_id)
        _record(self, ctx, request_id, EmailStatus.FAILED, "the mail could not be written (a title or name it refused)")
        TASK_FAILURES.labels(short_name(self.name)).inc()
        return
    except Exception as exc:
        if isinstance(exc, smtplib.SMTPException | OSError | RuntimeError):
            error = mailer.describe_failure(exc)  # whose problem it is first: the book page tells the parent from it
        else:  # the store (S3) or the database failed before the mail went; its text (SQL, URLs) stays in the log
            log.exception("mail request %s failed before it was sent", request_id)
            error = f"{type(exc).__name__}; the worker's log has the details"
        # No SMTP server configured, or a 5xx answer (bad address): waiting will not help.
        final = not retries.may_retry(attempts - 1) or isinstance(exc, RuntimeError) or mailer.is_permanent(exc)
        _record(self, ctx, request_id, EmailStatus.FAILED if final else EmailStatus.PENDING, error)
        if final:
            TASK_FAILURES.labels(short_name(self.name)).inc()
        if not final:
            raise self.retry(exc=exc, countdown=retries.delay(attempts - 1), max_retries=retries.max_retries) from exc
        return
    _record(self, ctx, request_id, EmailStatus.SENT)


def _record(task: Task, ctx: pipeline.Context, request_id: str, status: EmailStatus, error: str | None = None) -> None:
    """Write down how a send ended; when the database fails, a retry of the task writes it (and sends nothing).

    Without this the request would stay `sending` under a live worker, which no reconcile takes back.
    A request that is no longer `sending` (the reconciler took it back meanwhile) is left as it is.
    """
    retries = email_retries(ctx.settings)
    try:
        _finish_email(ctx, request_id, status, error)
    except Exception as exc:
        if not retries.may_retry(task.request.retries):
            log.error("mail request %s ended %s but that could not be recorded", request_id, status.value, exc_info=True)
            raise
        log.warning("mail request %s ended %s; recording it failed, trying again", request_id, status.value, exc_info=True)
        raise task.retry(kwargs={"outcome": [status.value, error]}, exc=exc, countdown=retries.delay(task.request.retries),
                         max_retries=retries.max_retries) from exc


def _finish_email(ctx: pipeline.Context, request_id: str, status: EmailStatus, error: str | None = None) -> None:
    """Record how a send ended; nothing to record when the account (and with it the request) was deleted meanwhile."""
    with ctx.sessions.begin() as session:
        lock_book_of(session, int(request_id))  # book first, then the request (shared.lifecycle.claim_email)
        request = session.get(EmailRequest, int(request_id), populate_existing=True)
        if request is None:
            log.info("mail request %s was deleted with its account during the send", request_id)
            return
        if request.status is not EmailStatus.SENDING:
            log.warning("mail request %s ended %s but is %s now; left as it is", request_id, status.value, request.status.value)
            return
        finish_email(request, status, error)
