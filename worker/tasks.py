"""Celery tasks: thin wrappers that call a pipeline stage with a book id."""
from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache

from celery import Task
from celery.signals import worker_process_init, worker_ready
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared.config import get_settings
from shared.db import session_factory
from shared.jobs import TaskName, enqueue_after_commit, send_now
from shared.lifecycle import claim_email, email_retries, finish_email, stage_retries
from shared.links import book_link
from shared.models import EmailRequest
from shared.status import EmailStatus, Stage
from shared.storage import open_storage
from shared.vocabulary import STAGE_LABELS, STAGE_OPERATOR_NAMES, default_title
from worker import celery, mailer, pipeline
from worker.errors import StageError
from worker.metrics import STAGE_SECONDS, TASK_FAILURES, short_name

log = logging.getLogger(__name__)

# Faults worth trying again: the database or broker blinked, a server timed out.
TRANSIENT = (OperationalError, ConnectionError, TimeoutError)


@lru_cache(maxsize=1)
def context() -> pipeline.Context:
    settings = get_settings()

    def enqueue(session: Session, task: TaskName, book_id: str) -> None:
        enqueue_after_commit(session, celery, task, book_id)

    return pipeline.Context(
        settings=settings,
        sessions=session_factory(settings.DATABASE_URL),
        storage=open_storage(settings),
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


def _run_stage(task: Task, name: Stage, stage: Callable[[pipeline.Context, str], None], book_id: str) -> None:
    ctx = context()
    retries = stage_retries(ctx.settings)
    label = f"{STAGE_LABELS[name]} ({STAGE_OPERATOR_NAMES[name]})"
    started, outcome = time.perf_counter(), "failed"
    try:
        stage(ctx, book_id)
        outcome = "ok"
    except TRANSIENT as exc:
        if retries.may_retry(task.request.retries):
            outcome = "retry"
            delay = retries.delay(task.request.retries)
            raise task.retry(exc=exc, countdown=delay, max_retries=retries.max_retries) from exc
        pipeline.fail_book(ctx, book_id, f"{label} failed after {retries.max_retries} retries: {exc}")
    except StageError as exc:
        pipeline.fail_book(ctx, book_id, f"{label}: {exc}")
    except Exception as exc:
        log.exception("%s failed for book %s", name.value, book_id)
        pipeline.fail_book(ctx, book_id, f"{label} failed: {type(exc).__name__}: {exc}")
    finally:
        STAGE_SECONDS.labels(name.value, outcome).observe(time.perf_counter() - started)
        if outcome == "failed":
            TASK_FAILURES.labels(short_name(task.name)).inc()


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


@celery.task(bind=True, name=TaskName.RENDER.value, )
def render_pdf(self: Task, book_id: str) -> None:
    """Build the PDF (CPU)."""
    _run_stage(self, Stage.RENDER, pipeline.render_stage, book_id)


@celery.task(name=TaskName.RECONCILE.value)
def reconcile() -> list[str]:
    """Re-enqueue books whose work was lost."""
    ctx = context()
    return pipeline.reconcile(ctx, timedelta(seconds=ctx.settings.TALES_STALE_AFTER_S))


@celery.task(bind=True, name=TaskName.EMAIL.value)
def send_email(self: Task, request_id: str) -> None:
    """Mail a finished book once: the request is claimed before sending and never sent twice."""
    ctx = context()
    with ctx.sessions.begin() as session:
        request = claim_email(session, int(request_id))
        if request is None:
            return
        book = request.book
        title = book.shown_title or default_title((book.scenes[0].annotations or {}).get("name"))
        to, pdf_name, pdf_bytes, link = request.to_address, book.pdf_name, book.pdf_bytes or 0, book_link(ctx.settings, book.id)
        attempts = request.attempts
    retries = email_retries(ctx.settings)
    try:
        with ctx.storage.local_copy(pdf_name) as pdf_path:
            outgoing = mailer.Outgoing(to=to, title=title, pdf_path=pdf_path, pdf_bytes=pdf_bytes, link=link)
            message = mailer.build_message(ctx.settings, outgoing)
        mailer.send(ctx.settings, message)
    except (smtplib.SMTPException, OSError, RuntimeError) as exc:
        # No SMTP server configured, or a 5xx answer (bad address): waiting will not help.
        final = not retries.may_retry(attempts - 1) or isinstance(exc, RuntimeError) or mailer.is_permanent(exc)
        with ctx.sessions.begin() as session:
            request = session.get(EmailRequest, int(request_id))
            finish_email(request, EmailStatus.FAILED if final else EmailStatus.PENDING, f"{type(exc).__name__}: {exc}")
        if final:
            TASK_FAILURES.labels(short_name(self.name)).inc()
        if not final:
            raise self.retry(exc=exc, countdown=retries.delay(attempts - 1), max_retries=retries.max_retries) from exc
        return
    with ctx.sessions.begin() as session:
        finish_email(session.get(EmailRequest, int(request_id)), EmailStatus.SENT)
