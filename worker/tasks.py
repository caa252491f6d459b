"""Celery tasks: thin wrappers that call a pipeline stage with a book id."""
from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache

from celery import Task
from celery.signals import worker_process_init, worker_ready
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared.config import get_settings
from shared.db import session_factory
from shared.jobs import TaskName, enqueue_after_commit, send_now
from shared.links import book_link
from shared.models import EmailRequest, utcnow
from shared.storage import Storage
from worker import celery, mailer, pipeline
from worker.errors import StageError

log = logging.getLogger(__name__)

# Faults worth trying again: the database or broker blinked, a server timed out.
TRANSIENT = (OperationalError, ConnectionError, TimeoutError)
MAX_RETRIES = 5


@lru_cache(maxsize=1)
def context() -> pipeline.Context:
    settings = get_settings()

    def enqueue(session: Session, task: TaskName, book_id: str) -> None:
        enqueue_after_commit(session, celery, task, book_id)

    return pipeline.Context(
        settings=settings,
        sessions=session_factory(settings.DATABASE_URL),
        storage=Storage(settings.DATA_DIR),
        enqueue=enqueue,
    )


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # A forked child must not reuse the parent's database connections.
    session_factory.cache_clear()
    context.cache_clear()


@worker_ready.connect
def _reconcile_on_start(sender=None, **_kwargs) -> None:
    # Work lost while no worker ran (killed worker, emptied Redis) is picked up at once.
    try:
        send_now(celery, TaskName.RECONCILE)
    except Exception:
        log.exception("could not schedule the start-up reconcile")


STAGE_NAMES = {
    TaskName.CAPTION: "사진 설명 만들기 (captioning)",
    TaskName.SUGGEST: "키워드 추천 (keyword suggestions)",
    TaskName.WRITE: "이야기 쓰기 (writing)",
    TaskName.RENDER: "PDF 만들기 (rendering the PDF)",
}


def _run_stage(task: Task, name: TaskName, stage: Callable[[pipeline.Context, str], None], book_id: str) -> None:
    ctx = context()
    retries = ctx.settings.TALES_TASK_MAX_RETRIES
    try:
        stage(ctx, book_id)
    except TRANSIENT as exc:
        if task.request.retries < retries:
            delay = min(2 ** task.request.retries * ctx.settings.TALES_TASK_RETRY_BASE_S, 300)
            raise task.retry(exc=exc, countdown=delay, max_retries=retries) from exc
        pipeline.fail_book(ctx, book_id, f"{STAGE_NAMES[name]} failed after {retries} retries: {exc}")
    except StageError as exc:
        pipeline.fail_book(ctx, book_id, f"{STAGE_NAMES[name]}: {exc}")
    except Exception as exc:
        log.exception("%s failed for book %s", name.value, book_id)
        pipeline.fail_book(ctx, book_id, f"{STAGE_NAMES[name]} failed: {type(exc).__name__}: {exc}")


@celery.task(bind=True, name=TaskName.CAPTION.value, max_retries=MAX_RETRIES)
def caption_book(self: Task, book_id: str) -> None:
    """Caption a book's photos (GPU)."""
    _run_stage(self, TaskName.CAPTION, pipeline.caption_stage, book_id)


@celery.task(bind=True, name=TaskName.SUGGEST.value, max_retries=MAX_RETRIES)
def suggest_keywords(self: Task, book_id: str) -> None:
    """Suggest keywords per scene for the draft flow (CPU)."""
    _run_stage(self, TaskName.SUGGEST, pipeline.suggest_stage, book_id)


@celery.task(bind=True, name=TaskName.WRITE.value, max_retries=MAX_RETRIES)
def write_book(self: Task, book_id: str) -> None:
    """Write the paragraphs (GPU)."""
    _run_stage(self, TaskName.WRITE, pipeline.write_stage, book_id)


@celery.task(bind=True, name=TaskName.RENDER.value, max_retries=MAX_RETRIES)
def render_pdf(self: Task, book_id: str) -> None:
    """Build the PDF (CPU)."""
    _run_stage(self, TaskName.RENDER, pipeline.render_stage, book_id)


@celery.task(name=TaskName.RECONCILE.value)
def reconcile() -> list[str]:
    """Re-enqueue books whose work was lost."""
    ctx = context()
    return pipeline.reconcile(ctx, timedelta(seconds=ctx.settings.TALES_STALE_AFTER_S))


@celery.task(bind=True, name=TaskName.EMAIL.value, max_retries=MAX_RETRIES)
def send_email(self: Task, request_id: str) -> None:
    """Mail a finished book once: the request is claimed before sending and never sent twice."""
    ctx = context()
    with ctx.sessions.begin() as session:
        claimed = session.execute(
            update(EmailRequest)
            .where(EmailRequest.id == int(request_id), EmailRequest.status == "pending")
            .values(status="sending", attempts=EmailRequest.attempts + 1)
        ).rowcount
        if not claimed:
            return
        request = session.get(EmailRequest, int(request_id))
        book = request.book
        outgoing = mailer.Outgoing(
            to=request.to_address,
            title=book.title or pipeline.default_title((book.scenes[0].annotations or {}).get("name")),
            pdf_path=ctx.storage.path(book.pdf_name),
            pdf_bytes=book.pdf_bytes or 0,
            link=book_link(ctx.settings, book.id),
        )
        attempts = request.attempts
    try:
        mailer.send(ctx.settings, mailer.build_message(ctx.settings, outgoing))
    except (smtplib.SMTPException, OSError, RuntimeError) as exc:
        # No SMTP server configured, or a 5xx answer (bad address): waiting will not help.
        final = attempts > MAX_RETRIES or isinstance(exc, RuntimeError) or mailer.is_permanent(exc)
        with ctx.sessions.begin() as session:
            request = session.get(EmailRequest, int(request_id))
            request.status = "failed" if final else "pending"
            request.last_error = f"{type(exc).__name__}: {exc}"
        if not final:
            delay = min(ctx.settings.TALES_EMAIL_RETRY_BASE_S * 2 ** (attempts - 1), 600)
            raise self.retry(exc=exc, countdown=delay) from exc
        return
    with ctx.sessions.begin() as session:
        request = session.get(EmailRequest, int(request_id))
        request.status, request.sent_at, request.last_error = "sent", utcnow(), None
