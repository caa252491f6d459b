"""The render stage: the PDF and the read-along e-book into temporary files, moved into place, the book finished."""
from __future__ import annotations

import logging
from contextlib import ExitStack
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.audio import PageAudio
from shared.jobs import TaskName
from shared.lifecycle import (
    add_note,
    claim,
    fail,
    hand_on,
    set_progress,
    undrawn_pages,
    unread_pages,
)
from shared.models import Book, EmailRequest
from shared.status import BookStatus, Stage
from sqlalchemy.orm import Session
from worker.book import epub, pdf, photos
from worker.pipeline.context import Context, take_book

log = logging.getLogger(__name__)


def render_stage(ctx: Context, book_id: str, narrated: bool = False) -> None:
    """Build the PDF and the e-book (with the pages' audio) into temporary files, move them into place, finish.

    Pages to read aloud that the sender did not see (the web tier's TALES_NARRATOR is not the
    workers') go to the narrate task first, unless it sent this (`narrated`): so nothing loops.
    """
    with ctx.sessions.begin() as session:
        book = take_book(ctx, session, book_id, [BookStatus.RENDERING], BookStatus.RENDERING, TaskName.RENDER)
        if book is None:
            return
        undrawn = undrawn_pages(book)
        if undrawn:  # a sender that did not know the pages wait for pictures: drawing settles every page, so no loop
            hand_on(book)
            set_progress(book, Stage.DRAW, len(book.scenes) - len(undrawn), len(book.scenes))
            ctx.enqueue(session, TaskName.DRAW, book_id)
            return
        unread = [] if narrated else unread_pages(book, ctx.settings)
        if unread:
            hand_on(book)
            set_progress(book, Stage.NARRATE, 0, len(unread))
            ctx.enqueue(session, TaskName.NARRATE, book_id)
            return
        missing = [scene.index for scene in book.scenes if not scene.text]
        if missing:
            fail(book, f"scenes {missing} have no text to print")
            return
        first = book.scenes[0].annotations or {}
        title, age = book.display_title, book.age
        # The date the family sees on the cover is their local day, not UTC's.
        made_on = book.created_at.replace(tzinfo=UTC).astimezone(ZoneInfo(ctx.settings.TALES_TIMEZONE)).date()
        # Each page prints its drawing in the book's style, or its photo (`photo` books, pages set back, failed drawings).
        scenes = [(scene.index, scene.printed_picture, scene.text or "") for scene in book.scenes]
        dedication = book.dedication
        pdf_name, epub_name = ctx.storage.pdf_name(book_id), ctx.storage.epub_name(book_id)
        audio = {scene.index: scene.audio for scene in book.scenes}
        narrator_label = book.narrator_label if any(audio.values()) else None
        set_progress(book, Stage.RENDER, 0, len(book.scenes))

    # Temporary files old enough to be a killed render's (a thumbnail the web tier is writing now is younger).
    ctx.storage.remove_temp_files(book_id)
    tmp, tmp_epub = ctx.storage.temp_path_for(pdf_name), ctx.storage.temp_path_for(epub_name)
    epub_bytes: int | None = None
    try:
        # Local storage hands out the files themselves; S3 streams each photo to a temporary file
        # (disk, not memory) and syncs the print-copy cache down and back up around the build.
        with ExitStack() as files:
            print_dir = files.enter_context(ctx.storage.local_folder(ctx.storage.print_prefix(book_id)))
            photo_paths = {index: files.enter_context(ctx.storage.local_copy(name)) for index, name, _ in scenes}
            spec = pdf.BookSpec(
                title=title,
                protagonist=first.get("name", ""),
                age=age,
                made_on=made_on,
                pages=[pdf.Page(index=index, image_path=photo_paths[index], text=text) for index, _, text in scenes],
                dedication=dedication,
            )
            pdf.render_book(spec, tmp, print_dir, font_path=ctx.settings.TALES_FONT, page_size=ctx.settings.TALES_PAGE_SIZE)
            epub_bytes = _build_epub(ctx, files, book_id, spec, photo_paths, print_dir, audio, narrator_label, tmp_epub)
        size = tmp.stat().st_size
        ctx.storage.publish(tmp, pdf_name)
        if epub_bytes is not None:
            ctx.storage.publish(tmp_epub, epub_name)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_epub.unlink(missing_ok=True)

    with ctx.sessions.begin() as session:
        book = claim(session, book_id, [BookStatus.RENDERING], BookStatus.DONE)
        deleted = book is None and session.get(Book, book_id) is None
        if book is not None:
            book.epub_name, book.epub_bytes = (epub_name, epub_bytes) if epub_bytes is not None else (None, None)
            if epub_bytes is None:
                add_note(book, "전자책(EPUB)은 만들지 못했어요. PDF는 그대로 내려받을 수 있어요.")
            _finish(ctx, session, book, pdf_name, size)
    if deleted:  # deleted while it was being drawn: the PDF and print copies just made go too
        ctx.storage.delete_book(book_id)


# The long side of a photo in the e-book: sharp on a tablet, small enough to mail.
EPUB_PHOTO_PX = 1200


def _build_epub(ctx: Context, files: ExitStack, book_id: str, spec: pdf.BookSpec, photo_paths: dict[int, Path],
                print_dir: Path, audio: dict[int, PageAudio | None], narrator_label: str | None, out: Path) -> int | None:
    """The read-along e-book beside the PDF; its size, or None when it could not be made (the book still finishes)."""
    try:
        pages = []
        for page in spec.pages:
            photo = photos.print_copy(photo_paths[page.index], print_dir, (EPUB_PHOTO_PX, EPUB_PHOTO_PX), max_crop=0)
            narration = audio.get(page.index)
            audio_path = files.enter_context(ctx.storage.local_copy(narration.name)) if narration else None
            pages.append(epub.EpubPage(index=page.index, image_path=photo.path, text=page.text,
                                       audio_path=audio_path, audio=narration))
        epub.build_epub(
            epub.EpubSpec(title=spec.title, protagonist=spec.protagonist, made_on=spec.made_on, pages=pages,
                          book_id=book_id, narrator_label=narrator_label, age=spec.age, dedication=spec.dedication),
            out, font_path=ctx.settings.TALES_FONT,
        )
        return out.stat().st_size
    except Exception:
        log.exception("the e-book of book %s could not be built; the PDF goes out alone", book_id)
        return None


def _finish(ctx: Context, session: Session, book: Book, pdf_name: str, size: int) -> None:
    book.pdf_name, book.pdf_bytes = pdf_name, size
    set_progress(book, Stage.RENDER, len(book.scenes), len(book.scenes))
    book.lost_runs = 0
    if book.email_when_done and not book.emails:
        request = EmailRequest(book_id=book.id, to_address=book.user.email)
        session.add(request)
        session.flush()
        ctx.enqueue(session, TaskName.EMAIL, str(request.id))
