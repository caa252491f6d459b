"""The write stage: every missing paragraph in one writer call, the book planned as a whole."""
from __future__ import annotations

import logging

from shared.config import Settings
from shared.jobs import TaskName
from shared.lifecycle import (
    add_note,
    claim,
    fail,
    set_progress,
    to_rendering,
)
from shared.status import BookStatus, Stage
from worker.ml import presence, story
from worker.ml.writer import SceneInput, TemplateWriter, Writer, get_writer, make_plan
from worker.pipeline.context import Context, load_book, take_book

log = logging.getLogger(__name__)


def write_stage(ctx: Context, book_id: str) -> None:
    """Write every paragraph still missing, all scenes in one writer call; then render."""
    with ctx.sessions.begin() as session:
        book = take_book(ctx, session, book_id, [BookStatus.WRITING], BookStatus.WRITING, TaskName.WRITE)
        if book is None:
            return
        if not book.has_annotations:
            fail(book, "장면 힌트가 없어 쓸 수 없어요 (annotations are missing; PUT the scenes first).")
            return
        inputs = [
            SceneInput(
                index=scene.index,
                fields=dict(scene.annotations or {}),
                caption=scene.caption,
                caption_lang=scene.caption_lang,
                neighbours={other.index: other.text for other in book.scenes if other.text},
                others={other.index: dict(other.annotations or {}) for other in book.scenes if other.index != scene.index},
                # A page rewritten: every text it has shown or offered (its last among them), never given again.
                shown=tuple(scene.shown_texts or ()) + ((scene.previous_text,) if scene.previous_text else ()),
                rewrites=scene.rewrites or 0,
            )
            for scene in book.scenes
            if scene.text is None
        ]
        # Counted over the pages written this time: a one-page rewrite is "0 / 1", as the web set it.
        set_progress(book, Stage.WRITE, 0, len(inputs))
        title, age = book.shown_title, book.age

    if inputs:
        writer, fallback = _writer(ctx.settings, inputs)
        # The plan (names, arc, connecting words, title) sees the whole book, pages already written included.
        draft = story.write_book(writer, inputs, make_plan(inputs, title=title, age=age))
        with ctx.sessions.begin() as session:
            book = load_book(session, book_id)
            if book is None or book.status is not BookStatus.WRITING:
                return
            by_index = {scene.index: scene for scene in book.scenes}
            for position, (scene_input, text, source) in enumerate(zip(inputs, draft.texts, draft.sources, strict=True)):
                scene = by_index[scene_input.index]
                if scene.text is None:
                    _store(scene, scene_input, text, source, draft.others(position), scene_input.index in draft.stale)
            if book.shown_title is None:
                book.generated_title = draft.title
            for note in draft.notes:
                add_note(book, note)
            if fallback:
                add_note(book, fallback)
            elif writer.name == "template":
                add_note(book, "모델 없이 규칙 기반 문장으로 썼어요 (offline template writer).")
            test_writer = getattr(writer, "test_model", None)
            if test_writer:
                add_note(book, f"시험용 모델로 쓴 글이라 이야기가 맞지 않을 수 있어요 (written by a test model: {test_writer}).")

    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.WRITING], BookStatus.RENDERING)
        if book is None:
            return
        stage, task, total = to_rendering(book, ctx.settings)
        set_progress(book, stage, 0, total)
        ctx.enqueue(session, task, book_id)


def _store(scene, given: SceneInput, text: str, source: str, alternatives: list[str], stale: bool) -> None:
    """A page's new text, with the alternatives offered beside it; a rewrite with nothing new keeps the text it had."""
    if stale and not text and given.shown:
        text = given.shown[-1]
    if stale and scene.previous_text is not None:
        # Nothing new to give: the page keeps its text (the same text is nothing to undo) and says so.
        scene.text, scene.previous_text, scene.nothing_new = scene.previous_text, None, True
        if scene.text_source is None:
            scene.text_source = source
        return
    scene.text, scene.text_source, scene.nothing_new = text, source, False
    if given.rewriting:
        scene.alternatives = alternatives
    scene.shown_texts = list(dict.fromkeys([*(scene.shown_texts or []), *given.shown, text, *alternatives]))


def _writer(settings: Settings, inputs: list[SceneInput]) -> tuple[Writer, str | None]:
    """The writer TALES_WRITER names, or the template writer and the note saying why when its model is absent.

    Only a model that is not there falls back (worker/ml/presence.py): one that is there but cannot
    be loaded, or fails while writing, still fails the book with the setting to fix.
    """
    if settings.TALES_WRITER == "kot5":
        gone = presence.missing(settings, "kot5")
        if gone is not None:
            log.warning("writing with the template writer: %s", gone.detail)
            return TemplateWriter(), gone.note
        uncaptioned = [scene.index for scene in inputs if not (scene.caption or "").strip()]
        blip = presence.missing(settings, "blip") if uncaptioned else None
        if blip is not None:
            # The captions are missing because the captioning model is: KoT5 cannot write without them.
            log.warning("writing with the template writer (no captions for KoT5): %s", blip.detail)
            return TemplateWriter(), (f"사진 설명 모델이 아직 없어 이야기 모델 대신 규칙 기반 문장으로 썼어요 "
                                      f"(the kot5 writer needs captions; {blip.detail}).")
    return get_writer(settings), None
