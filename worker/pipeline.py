"""The pipeline stages as plain functions over book ids, testable without Celery.

Each stage loads the book, claims it with a compare-and-set on its status, does its work,
writes results and progress, and names the next task. Running a stage twice is harmless:
the second run finds nothing left to do or loses the claim.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.audio import PageAudio
from shared.config import Settings
from shared.decoding import open_for_captioning
from shared.jobs import TaskName
from shared.leases import is_gone
from shared.lifecycle import (
    add_note,
    claim,
    count_lost_run,
    drop_notes,
    fail,
    finish_email,
    hand_on,
    move,
    set_progress,
    take,
    to_rendering,
    unread_pages,
)
from shared.models import Book, DeadLetter, EmailRequest, utcnow
from shared.status import ACTIVE, BookStatus, EmailStatus, Stage
from shared.storage import Storage
from worker.audio.narrators import get_narrator
from worker.book import epub, pdf, photos
from worker.errors import StageError
from worker.ml import keywords, story
from worker.ml.captioner import Caption, get_captioner
from worker.ml.translator import get_translator
from worker.ml.writer import SceneInput, get_writer, make_plan

log = logging.getLogger(__name__)

Enqueue = Callable[..., None]  # (session, task, book or request id, *more arguments)


@dataclass
class Context:
    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    enqueue: Enqueue  # must send only after the session commits
    worker_id: str | None = None  # this process in `workers` (shared/leases.py); None: leases off


def _load(session: Session, book_id: str) -> Book | None:
    # Row lock first: every transaction that touches a book and its scenes locks the book row
    # before any scene row, as the web tier's delete does, so the two cannot deadlock.
    return session.get(Book, book_id, populate_existing=True, with_for_update=True)


def _take(ctx: Context, session: Session, book_id: str, allowed: list[BookStatus], target: BookStatus, task: TaskName) -> Book | None:
    """A stage's first claim: the book for this process, or None (finished, elsewhere, or poison)."""
    return take(
        session, book_id, allowed, target, holder=ctx.worker_id,
        gone=lambda worker_id: is_gone(session, worker_id, ctx.settings),
        max_lost=_max_lost(ctx, task), task=task.value,
    )


def _max_lost(ctx: Context, task: TaskName) -> int:
    """Worker deaths that make a book poison. Never for narration: the book goes on without its audio
    (narrate_stage gives up reading after TALES_MAX_LOST_RUNS deaths)."""
    return NEVER if task is TaskName.NARRATE else ctx.settings.TALES_MAX_LOST_RUNS


NEVER = 2**31 - 1


def _open_rgb(storage: Storage, name: str) -> Image.Image:
    """One photo, decoded no larger than captioners need (~384 px); its full-size pixels are dropped at once."""
    # One photo at a time on disk (a temporary copy when the store is S3).
    with storage.local_copy(name) as path:
        return open_for_captioning(path)


def caption_stage(ctx: Context, book_id: str) -> None:
    """Caption every photo still without one, in one batch; then suggest or write."""
    with ctx.sessions.begin() as session:
        book = _take(ctx, session, book_id, [BookStatus.QUEUED, BookStatus.CAPTIONING], BookStatus.CAPTIONING, TaskName.CAPTION)
        if book is None:
            return
        todo = [scene for scene in book.scenes if scene.caption_source is None]
        set_progress(book, Stage.CAPTION, len(book.scenes) - len(todo), len(book.scenes))
        paths = [(scene.id, scene.image_name) for scene in todo]

    if paths:
        captioner = get_captioner(ctx.settings)
        images = [_open_rgb(ctx.storage, name) for _, name in paths]  # one at a time: one full decode in memory at most
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
            hand_on(book)  # still `captioning`: the suggest worker (often another process) claims it anew
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
        book = _take(ctx, session, book_id, [BookStatus.CAPTIONING], BookStatus.CAPTIONING, TaskName.SUGGEST)
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


def write_stage(ctx: Context, book_id: str) -> None:
    """Write every paragraph still missing, all scenes in one writer call; then render."""
    with ctx.sessions.begin() as session:
        book = _take(ctx, session, book_id, [BookStatus.WRITING], BookStatus.WRITING, TaskName.WRITE)
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
        # Counted over the pages written this time: a one-page rewrite is "0 / 1", as the web set it.
        set_progress(book, Stage.WRITE, 0, len(inputs))
        title, age = book.shown_title, book.age

    if inputs:
        writer = get_writer(ctx.settings)
        # The plan (names, arc, connecting words, title) sees the whole book, pages already written included.
        draft = story.write_book(writer, inputs, make_plan(inputs, title=title, age=age))
        with ctx.sessions.begin() as session:
            book = _load(session, book_id)
            if book is None or book.status is not BookStatus.WRITING:
                return
            by_index = {scene.index: scene for scene in book.scenes}
            for scene_input, text, source in zip(inputs, draft.texts, draft.sources, strict=True):
                scene = by_index[scene_input.index]
                if scene.text is None:
                    scene.text, scene.text_source = text, source
            if book.shown_title is None:
                book.generated_title = draft.title
            for note in draft.notes:
                add_note(book, note)
            if writer.name == "template":
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


def narrate_stage(ctx: Context, book_id: str) -> None:
    """Read aloud, in one narrator call, every page whose audio does not read its text now; then render.

    The book stays `rendering` (stage `narrate`). A failed narration is a note: the render task
    comes next either way and draws the book with the audio there is.
    """
    with ctx.sessions.begin() as session:
        book = _take(ctx, session, book_id, [BookStatus.RENDERING], BookStatus.RENDERING, TaskName.NARRATE)
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


def render_stage(ctx: Context, book_id: str, narrated: bool = False) -> None:
    """Build the PDF and the e-book (with the pages' audio) into temporary files, move them into place, finish.

    Pages to read aloud that the sender did not see (the web tier's TALES_NARRATOR is not the
    workers') go to the narrate task first, unless it sent this (`narrated`): so nothing loops.
    """
    with ctx.sessions.begin() as session:
        book = _take(ctx, session, book_id, [BookStatus.RENDERING], BookStatus.RENDERING, TaskName.RENDER)
        if book is None:
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
        scenes = [(scene.index, scene.image_name, scene.text or "") for scene in book.scenes]
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
                          book_id=book_id, narrator_label=narrator_label),
            out, font_path=ctx.settings.TALES_FONT,
        )
        return out.stat().st_size
    except Exception:
        log.exception("the e-book of book %s could not be built; the PDF goes out alone", book_id)
        return None


# The note a failed narration leaves (its reason follows); a narration that succeeds later takes it away.
NARRATION_FAILED = "읽어 주기 소리는 만들지 못했어요"


def _narrate(ctx: Context, book_id: str, unread: list[tuple[int, str]], started: datetime) -> None:
    """Read aloud the pages whose audio does not read their text now; a failure is a note, never the book's end."""
    try:
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
        log.exception("narration of book %s failed; the book goes on without it", book_id)
        why = str(exc) if isinstance(exc, StageError) else "예상하지 못한 문제가 생겼어요"
        with ctx.sessions.begin() as session:
            book = _load(session, book_id)
            if book is not None:
                add_note(book, f"{NARRATION_FAILED}: {why}")
        return
    with ctx.sessions.begin() as session:
        book = _load(session, book_id)
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


def _finish(ctx: Context, session: Session, book: Book, pdf_name: str, size: int) -> None:
    book.pdf_name, book.pdf_bytes = pdf_name, size
    set_progress(book, Stage.RENDER, len(book.scenes), len(book.scenes))
    book.lost_runs = 0
    if book.email_when_done and not book.emails:
        request = EmailRequest(book_id=book.id, to_address=book.user.email)
        session.add(request)
        session.flush()
        ctx.enqueue(session, TaskName.EMAIL, str(request.id))


def fail_book(ctx: Context, book_id: str, reason: str) -> None:
    """Mark a book failed with the reason, unless it already finished."""
    with ctx.sessions.begin() as session:
        book = _load(session, book_id)
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
    """The task that picks a running book up again: `rendering` is narrated first while its stage says so.

    A `captioning` book whose captions are done (stage `suggest`) goes on with the suggest task.
    """
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
    old = sorted(book_id for book_id, newest in ctx.storage.stored_books() if newest <= cutoff and book_id.isalnum())
    kept: set[str] = set()
    with ctx.sessions() as session:
        for start in range(0, len(old), 500):
            kept.update(session.scalars(select(Book.id).where(Book.id.in_(old[start:start + 500]))))
    removed = [book_id for book_id in old if book_id not in kept]
    for book_id in removed:
        ctx.storage.delete_book(book_id)
        log.info("removed the files of book %s, which has no row", book_id)
    ctx.storage.remove_stale_scratch()
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
                task = resume_task(book)
                if count_lost_run(session, book, _max_lost(ctx, task), task.value):
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
    if resent:
        log.warning("reconciler re-enqueued %d book(s): %s", len(resent), ", ".join(resent))
    return resent


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
