"""The pipeline stages as plain functions over book ids, testable without Celery.

Each stage loads the book, claims it with a compare-and-set on its status, does its work,
writes results and progress, and names the next task. Running a stage twice is harmless:
the second run finds nothing left to do or loses the claim.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings
from shared.jobs import TaskName
from shared.lifecycle import add_note, claim, fail, move, set_progress
from shared.models import Book, EmailRequest, utcnow
from shared.status import ACTIVE, BookStatus, Stage
from shared.storage import Storage
from worker.book import pdf
from worker.ml import keywords
from worker.ml.captioner import Caption, get_captioner
from worker.ml.translator import get_translator
from worker.ml.writer import SceneInput, get_writer

log = logging.getLogger(__name__)

Enqueue = Callable[[Session, TaskName, str], None]


@dataclass
class Context:
    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    enqueue: Enqueue  # must send only after the session commits


def _load(session: Session, book_id: str) -> Book | None:
    return session.get(Book, book_id, populate_existing=True)


def _open_rgb(path) -> Image.Image:
    with Image.open(path) as image:
        image.draft("RGB", (1024, 1024))  # captioners look at ~384 px; skip decoding full size
        return ImageOps.exif_transpose(image).convert("RGB")


def caption_stage(ctx: Context, book_id: str) -> None:
    """Caption every photo still without one, in one batch; then suggest or write."""
    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.QUEUED, BookStatus.CAPTIONING], BookStatus.CAPTIONING)
        if book is None:
            return
        todo = [scene for scene in book.scenes if scene.caption_source is None]
        set_progress(book, Stage.CAPTION, len(book.scenes) - len(todo), len(book.scenes))
        paths = [(scene.id, ctx.storage.path(scene.image_name)) for scene in todo]

    if paths:
        captioner = get_captioner(ctx.settings)
        images = [_open_rgb(path) for _, path in paths]
        captions = captioner.caption(images)
        captions, untranslated = _to_korean(ctx.settings, captions)
        with ctx.sessions.begin() as session:
            book = _load(session, book_id)
            if book is None or book.status is not BookStatus.CAPTIONING:
                return
            by_id = {scene.id: scene for scene in book.scenes}
            for (scene_id, _), caption in zip(paths, captions, strict=True):
                scene = by_id[scene_id]
                scene.caption, scene.caption_lang, scene.caption_source = caption.text, caption.lang, caption.source
            set_progress(book, Stage.CAPTION, len(book.scenes), len(book.scenes))
            if captioner.name == "none":
                add_note(book, "사진 설명 없이 힌트만으로 썼어요 (captioning is off: TALES_CAPTIONER=none).")
            elif untranslated:
                add_note(book, f"번역을 쓸 수 없어 사진 설명을 영어로 두었어요 (captions kept in English: {untranslated}).")
            test_captioner = getattr(captioner, "test_model", None)
            if test_captioner:
                add_note(book, f"시험용 모델이 만든 사진 설명이에요 (captions by a test model: {test_captioner}).")

    with ctx.sessions.begin() as session:
        book = _load(session, book_id)
        if book is None or book.status is not BookStatus.CAPTIONING:
            return
        if book.has_annotations:
            move(book, BookStatus.WRITING)
            set_progress(book, Stage.WRITE, 0, len(book.scenes))
            ctx.enqueue(session, TaskName.WRITE, book_id)
        else:
            set_progress(book, Stage.SUGGEST, 0, len(book.scenes))
            ctx.enqueue(session, TaskName.SUGGEST, book_id)


def _to_korean(settings: Settings, captions: list[Caption]) -> tuple[list[Caption], str | None]:
    """Translate English captions to Korean; on no translator or a failed one, keep English and say why."""
    english = [i for i, caption in enumerate(captions) if caption.lang == "en" and caption.text]
    if not english:
        return captions, None
    try:
        translator = get_translator(settings)
        if translator is None:
            return captions, "translation is off: TALES_TRANSLATOR=none"
        korean = translator.translate([captions[i].text or "" for i in english])
    except Exception as exc:
        # A caption in English still makes a book; failing the whole book over it would not help the user.
        log.exception("translation failed; keeping English captions")
        return captions, f"translation failed: {exc}"
    translated = list(captions)
    for i, text in zip(english, korean, strict=True):
        translated[i] = Caption(text=text, lang="ko", source=f"{captions[i].source}+{translator.name}")
    return translated, None


def suggest_stage(ctx: Context, book_id: str) -> None:
    """Offer 배경/행동/감정 keywords per scene, then wait for the user's annotations."""
    with ctx.sessions.begin() as session:
        book = _load(session, book_id)
        if book is None or book.status is not BookStatus.CAPTIONING:
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


def write_stage(ctx: Context, book_id: str) -> None:
    """Write every paragraph still missing, all scenes in one writer call; then render."""
    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.WRITING], BookStatus.WRITING)
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
            )
            for scene in book.scenes
            if scene.text is None
        ]
        set_progress(book, Stage.WRITE, len(book.scenes) - len(inputs), len(book.scenes))

    if inputs:
        writer = get_writer(ctx.settings)
        texts = writer.write(inputs)
        with ctx.sessions.begin() as session:
            book = _load(session, book_id)
            if book is None or book.status is not BookStatus.WRITING:
                return
            by_index = {scene.index: scene for scene in book.scenes}
            for scene_input, text in zip(inputs, texts, strict=True):
                scene = by_index[scene_input.index]
                if scene.text is None:
                    scene.text, scene.text_source = text, writer.name
            if writer.name == "template":
                add_note(book, "모델 없이 규칙 기반 문장으로 썼어요 (offline template writer).")
            test_writer = getattr(writer, "test_model", None)
            if test_writer:
                add_note(book, f"시험용 모델로 쓴 글이라 이야기가 맞지 않을 수 있어요 (written by a test model: {test_writer}).")

    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.WRITING], BookStatus.RENDERING)
        if book is None:
            return
        set_progress(book, Stage.RENDER, 0, len(book.scenes))
        ctx.enqueue(session, TaskName.RENDER, book_id)


def render_stage(ctx: Context, book_id: str) -> None:
    """Build the PDF into a temporary file, move it into place, and finish the book."""
    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.RENDERING], BookStatus.RENDERING)
        if book is None:
            return
        missing = [scene.index for scene in book.scenes if not scene.text]
        if missing:
            fail(book, f"scenes {missing} have no text to print")
            return
        first = book.scenes[0].annotations or {}
        spec = pdf.BookSpec(
            title=book.title or default_title(first.get("name")),
            protagonist=first.get("name", ""),
            # The date the family sees on the cover is their local day, not UTC's.
            made_on=book.created_at.replace(tzinfo=UTC).astimezone(ZoneInfo(ctx.settings.TALES_TIMEZONE)).date(),
            pages=[
                pdf.Page(index=scene.index, image_path=ctx.storage.path(scene.image_name), text=scene.text or "")
                for scene in book.scenes
            ],
        )
        pdf_name = ctx.storage.pdf_name(book_id)

    tmp = ctx.storage.temp_path_for(pdf_name)
    try:
        pdf.render_book(
            spec,
            tmp,
            ctx.storage.print_dir(book_id),
            font_path=ctx.settings.TALES_FONT,
            page_size=ctx.settings.TALES_PAGE_SIZE,
        )
        size = tmp.stat().st_size
        tmp.replace(ctx.storage.path(pdf_name))
    finally:
        tmp.unlink(missing_ok=True)

    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.RENDERING], BookStatus.DONE)
        if book is None:
            return
        book.pdf_name, book.pdf_bytes = pdf_name, size
        set_progress(book, Stage.RENDER, len(book.scenes), len(book.scenes))
        if book.email_when_done and not book.emails:
            request = EmailRequest(book_id=book.id, to_address=book.user.email)
            session.add(request)
            session.flush()
            ctx.enqueue(session, TaskName.EMAIL, str(request.id))


def default_title(protagonist: str | None) -> str:
    """A title when the user gave none."""
    return f"{protagonist}의 이야기" if protagonist else "우리의 그림책"


def fail_book(ctx: Context, book_id: str, reason: str) -> None:
    """Mark a book failed with the reason, unless it already finished."""
    with ctx.sessions.begin() as session:
        book = _load(session, book_id)
        if book is not None and book.status not in (BookStatus.DONE, BookStatus.AWAITING_ANNOTATIONS):
            fail(book, reason)


# Which task picks up a book that sits in each running state.
RESUME: dict[BookStatus, TaskName] = {
    BookStatus.QUEUED: TaskName.CAPTION,
    BookStatus.CAPTIONING: TaskName.CAPTION,
    BookStatus.WRITING: TaskName.WRITE,
    BookStatus.RENDERING: TaskName.RENDER,
}


def reconcile(ctx: Context, stale_after: timedelta) -> list[str]:
    """Enqueue again every book whose work looks lost (worker killed, broker emptied)."""
    cutoff = utcnow() - stale_after
    resent: list[str] = []
    with ctx.sessions.begin() as session:
        books = session.scalars(
            select(Book).where(Book.status.in_(list(ACTIVE)), Book.updated_at <= cutoff).with_for_update(skip_locked=True)
        ).all()
        for book in books:
            book.updated_at = utcnow()  # so the next sweep waits a full period again
            ctx.enqueue(session, RESUME[book.status], book.id)
            resent.append(book.id)
        pending = session.scalars(
            select(EmailRequest).where(EmailRequest.status == "pending", EmailRequest.created_at <= cutoff)
        ).all()
        for request in pending:
            ctx.enqueue(session, TaskName.EMAIL, str(request.id))
    if resent:
        log.warning("reconciler re-enqueued %d book(s): %s", len(resent), ", ".join(resent))
    return resent
