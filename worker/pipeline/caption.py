"""The caption stage (BLIP or the configured captioner, one batch per book, then translation) and the keyword suggestions."""
from __future__ import annotations

import logging

from shared.config import Settings
from shared.jobs import TaskName
from shared.lifecycle import (
    add_note,
    claim,
    hand_on,
    move,
    set_progress,
    undrawn_pages,
)
from shared.status import BookStatus, Stage
from worker.errors import StageError
from worker.ml import keywords, presence
from worker.ml.captioner import Caption, Captioner, NoCaptioner, get_captioner
from worker.ml.translator import get_translator
from worker.pipeline.context import Context, load_book, open_rgb, take_book

log = logging.getLogger(__name__)


def caption_stage(ctx: Context, book_id: str) -> None:
    """Caption every photo still without one, in one batch; then suggest or write."""
    with ctx.sessions.begin() as session:
        book = take_book(ctx, session, book_id, [BookStatus.QUEUED, BookStatus.CAPTIONING], BookStatus.CAPTIONING, TaskName.CAPTION)
        if book is None:
            return
        todo = [scene for scene in book.scenes if scene.caption_source is None]
        set_progress(book, Stage.CAPTION, len(book.scenes) - len(todo), len(book.scenes))
        paths = [(scene.id, scene.image_name) for scene in todo]

    if paths:
        captioner, fallback = _captioner(ctx.settings)
        images = [open_rgb(ctx.storage, name) for _, name in paths]  # one at a time: one full decode in memory at most
        captions = captioner.caption(images)
        english = [caption.text if caption.lang == "en" else None for caption in captions]
        captions, untranslated = _to_korean(ctx.settings, captions)
        with ctx.sessions.begin() as session:
            book = load_book(session, book_id)
            if book is None or book.status is not BookStatus.CAPTIONING:
                return
            by_id = {scene.id: scene for scene in book.scenes}
            for (scene_id, _), caption, words in zip(paths, captions, english, strict=True):
                scene = by_id[scene_id]
                scene.caption, scene.caption_lang, scene.caption_source = caption.text, caption.lang, caption.source
                scene.caption_en = words
            set_progress(book, Stage.CAPTION, len(book.scenes), len(book.scenes))
            if fallback:
                add_note(book, fallback)
            elif captioner.name == "none":
                add_note(book, "사진 설명 없이 힌트만으로 썼어요 (captioning is off: TALES_CAPTIONER=none).")
            elif untranslated:
                add_note(book, f"번역을 쓸 수 없어 사진 설명을 영어로 두었어요 (captions kept in English: {untranslated}).")
            test_captioner = getattr(captioner, "test_model", None)
            if test_captioner:
                add_note(book, f"시험용 모델이 만든 사진 설명이에요 (captions by a test model: {test_captioner}).")

    with ctx.sessions.begin() as session:
        book = load_book(session, book_id)
        if book is None or book.status is not BookStatus.CAPTIONING:
            return
        if book.has_annotations:
            move(book, BookStatus.WRITING)
            set_progress(book, Stage.WRITE, 0, len(book.scenes))
            ctx.enqueue(session, TaskName.WRITE, book_id)
            if undrawn_pages(book):  # drawn beside the writing; the render waits for both
                ctx.enqueue(session, TaskName.DRAW, book_id)
        else:
            set_progress(book, Stage.SUGGEST, 0, len(book.scenes))
            hand_on(book)  # still `captioning`: the suggest worker (often another process) claims it anew
            ctx.enqueue(session, TaskName.SUGGEST, book_id)


def _captioner(settings: Settings) -> tuple[Captioner, str | None]:
    """The captioner TALES_CAPTIONER names, or none and the note saying why when its model is absent
    (worker/ml/presence.py; a model that is there but cannot be loaded still fails the book)."""
    gone = presence.missing(settings, "blip")
    if gone is not None:
        log.warning("captioning nothing: %s", gone.detail)
        return NoCaptioner(), gone.note
    return get_captioner(settings), None


def _to_korean(settings: Settings, captions: list[Caption]) -> tuple[list[Caption], str | None]:
    """Translate English captions to Korean; on no translator or a failed one, keep English and say why."""
    english = [i for i, caption in enumerate(captions) if caption.lang == "en" and caption.text]
    if not english:
        return captions, None
    gone = presence.missing(settings, "translator")
    if gone is not None:  # not there at all: no traceback in the log, the fix in the note
        log.warning("keeping English captions: %s", gone.detail)
        return captions, gone.detail
    try:
        translator = get_translator(settings)
        if translator is None:
            return captions, "translation is off: TALES_TRANSLATOR=none"
        korean = translator.translate([captions[i].text or "" for i in english])
    except Exception as exc:
        # A caption in English still makes a book; failing the whole book over it would not help the user.
        log.exception("translation failed; keeping English captions")
        # A StageError is written for people (it names the setting to fix); anything else stays in the log.
        why = str(exc) if isinstance(exc, StageError) else f"{type(exc).__name__}; the worker's log has the details"
        return captions, f"translation failed: {why}"
    translated = list(captions)
    for i, text in zip(english, korean, strict=True):
        translated[i] = Caption(text=text, lang="ko", source=f"{captions[i].source}+{translator.name}")
    return translated, None


def suggest_stage(ctx: Context, book_id: str) -> None:
    """Offer 배경/행동/감정 keywords per scene, then wait for the user's annotations."""
    with ctx.sessions.begin() as session:
        book = take_book(ctx, session, book_id, [BookStatus.CAPTIONING], BookStatus.CAPTIONING, TaskName.SUGGEST)
        if book is None:
            return
        captions = [(scene.id, scene.caption, scene.caption_lang) for scene in book.scenes if scene.suggestions is None]
    suggester = keywords.get_suggester(ctx.settings)
    results = suggester.suggest([(caption, lang) for _, caption, lang in captions]) if captions else []
    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.CAPTIONING], BookStatus.AWAITING_ANNOTATIONS)
        if book is None:
            return
        by_id = {scene.id: scene for scene in book.scenes}
        for (scene_id, _, _), suggestion in zip(captions, results, strict=True):
            by_id[scene_id].suggestions = suggestion
        set_progress(book, Stage.SUGGEST, len(book.scenes), len(book.scenes))
