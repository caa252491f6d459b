"""What every stage is given (settings, sessions, storage, the enqueue function) and how a stage claims its book."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image
from shared.config import Settings
from shared.decoding import open_for_captioning
from shared.jobs import TaskName
from shared.leases import is_gone
from shared.lifecycle import take
from shared.models import Book
from shared.status import BookStatus
from shared.storage import Storage
from worker.errors import StageError
from worker.ml import presence
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

Enqueue = Callable[..., None]  # (session, task, book or request id, *more arguments)


@dataclass
class Context:
    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    enqueue: Enqueue  # must send only after the session commits
    worker_id: str | None = None  # this process in `workers` (shared/leases.py); None: leases off


def load_book(session: Session, book_id: str) -> Book | None:
    # Row lock first: every transaction that touches a book and its scenes locks the book row
    # before any scene row, as the web tier's delete does, so the two cannot deadlock.
    return session.get(Book, book_id, populate_existing=True, with_for_update=True)


def take_book(ctx: Context, session: Session, book_id: str, allowed: list[BookStatus], target: BookStatus, task: TaskName) -> Book | None:
    """A stage's first claim: the book for this process, or None (finished, elsewhere, or poison)."""
    return take(
        session, book_id, allowed, target, holder=ctx.worker_id,
        gone=lambda worker_id: is_gone(session, worker_id, ctx.settings),
        max_lost=max_lost(ctx, task), task=task.value,
    )


def max_lost(ctx: Context, task: TaskName) -> int:
    """Worker deaths that make a book poison. Never for narration or drawing: the book goes on without
    its audio or with its photos (those stages give up after TALES_MAX_LOST_RUNS deaths)."""
    return NEVER if task in (TaskName.NARRATE, TaskName.DRAW) else ctx.settings.TALES_MAX_LOST_RUNS


NEVER = 2**31 - 1


def open_rgb(storage: Storage, name: str) -> Image.Image:
    """One photo, decoded no larger than captioners need (~384 px); its full-size pixels are dropped at once."""
    # One photo at a time on disk (a temporary copy when the store is S3).
    with storage.local_copy(name) as path:
        return open_for_captioning(path)


def reason_for_parents(exc: Exception, outcome: str) -> str:
    """Log why a drawing or narration failed (a missing model in one line, anything else with its
    traceback) and return what the book's note tells parents: a StageError's words, else a plain sentence."""
    if isinstance(exc, presence.ModelMissing):
        log.warning("%s: %s", outcome, exc.missing.detail)
    else:
        log.exception("%s: the stage failed", outcome)
    return str(exc) if isinstance(exc, StageError) else "예상하지 못한 문제가 생겼어요"
