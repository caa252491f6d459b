"""The narrate stage: the pages read aloud in one narrator call; a failure is a note, never the book's end."""
from __future__ import annotations

import logging
from datetime import datetime

from shared.jobs import TaskName
from shared.lifecycle import (
    add_note,
    claim,
    drop_notes,
    set_progress,
    unread_pages,
)
from shared.models import utcnow
from shared.status import BookStatus, Stage
from worker.audio.narrators import get_narrator
from worker.ml import presence
from worker.pipeline.context import Context, load_book, reason_for_parents, take_book

log = logging.getLogger(__name__)


def narrate_stage(ctx: Context, book_id: str) -> None:
    """Read aloud, in one narrator call, every page whose audio does not read its text now; then render.

    The book stays `rendering` (stage `narrate`). A failed narration is a note: the render task
    comes next either way and draws the book with the audio there is.
    """
    with ctx.sessions.begin() as session:
        book = take_book(ctx, session, book_id, [BookStatus.RENDERING], BookStatus.RENDERING, TaskName.NARRATE)
        if book is None:
            return
        pages = set(unread_pages(book, ctx.settings))
        unread = [(scene.index, scene.text or "") for scene in book.scenes if scene.index in pages]
        if unread and book.lost_runs >= ctx.settings.TALES_MAX_LOST_RUNS:
            # Reading this book stopped its worker again and again (a model out of memory): the book goes on without it.
            log.error("narrating book %s stopped its worker %d times; the book goes on without audio", book_id, book.lost_runs)
            add_note(book, f"{NARRATION_FAILED}: 소리를 만드는 동안 작업이 {book.lost_runs}번 멈췄어요")
            unread = []
        set_progress(book, Stage.NARRATE, 0, len(unread))
        started = utcnow()

    if unread:
        _narrate(ctx, book_id, unread, started)
    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.RENDERING], BookStatus.RENDERING)  # the handoff clears the holder and count
        if book is None:
            return
        set_progress(book, Stage.RENDER, 0, len(book.scenes))
        ctx.enqueue(session, TaskName.RENDER, book_id, True)


# The note a failed narration leaves (its reason follows); a narration that succeeds later takes it away.
NARRATION_FAILED = "읽어 주기 소리는 만들지 못했어요"


def _narrate(ctx: Context, book_id: str, unread: list[tuple[int, str]], started: datetime) -> None:
    """Read aloud the pages whose audio does not read their text now; a failure is a note, never the book's end."""
    try:
        presence.require(ctx.settings, "mms")  # no model there: a note with the fix, the book goes on without audio
        narrator = get_narrator(ctx.settings)
        if narrator is None:
            return
        narrations = narrator.narrate([text for _, text in unread])
        stored = []
        for (index, text), narration in zip(unread, narrations, strict=True):
            name = ctx.storage.audio_name(book_id, index, text, narration.data)
            ctx.storage.write_bytes(name, narration.data)
            stored.append((index, text, name, narration))
    except Exception as exc:
        why = reason_for_parents(exc, f"book {book_id} goes on without audio")
        with ctx.sessions.begin() as session:
            book = load_book(session, book_id)
            if book is not None:
                add_note(book, f"{NARRATION_FAILED}: {why}")
        return
    with ctx.sessions.begin() as session:
        book = load_book(session, book_id)
        if book is None or book.status is not BookStatus.RENDERING:
            return
        book.narrator_label = narrator.label
        drop_notes(book, NARRATION_FAILED)
        by_index = {scene.index: scene for scene in book.scenes}
        for index, text, name, narration in stored:
            scene = by_index.get(index)
            if scene is None or scene.text != text:
                continue  # the text changed while it was read: this audio does not read it
            scene.audio_name, scene.audio_text, scene.audio_duration = name, text, narration.duration
            scene.audio_sentences = [[s.text, s.start, s.end] for s in narration.sentences]
        set_progress(book, Stage.NARRATE, len(stored), len(stored))
        kept = {scene.audio_name for scene in book.scenes if scene.audio_name}
    # The files no page names any more that were there before this narration began: the ones just
    # replaced, and any a narration killed before it recorded them left behind (a model reads the
    # same text differently, so under another name). Newer ones may be another run's, not yet recorded.
    for name, written in ctx.storage.files_under(ctx.storage.audio_prefix(book_id)):
        if name not in kept and written < started:
            ctx.storage.remove(name)
