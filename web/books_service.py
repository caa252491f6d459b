"""Book operations shared by the JSON API and the pages: create, annotate, generate, edit."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

import redis
from flask import current_app
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from shared.config import Settings
from shared.jobs import TaskName, enqueue_after_commit
from shared.lifecycle import WrongState, claim_or_refuse, require, set_progress, to_rendering, undrawn_pages
from shared.models import Book, EmailRequest, Scene, User, utcnow
from shared.status import ACTIVE, BookStatus, EmailStatus, Stage
from shared.storage import Storage
from shared.styles import available_styles
from web.db import current_settings, get_session
from web.errors import ApiError, BrokerDown
from web.images import DecodeSlots, ImageRejected, sniff_image
from web.schemas import BookRequest, JsonRefused, SceneAnnotation, describe_error, error_code, parse_json


def storage() -> Storage:
    return current_app.extensions["talesrunner.storage"]


def decode_slots() -> DecodeSlots:
    """The process's few photo-decoding slots (upload checks, thumbnails): they bound web memory."""
    return current_app.extensions["talesrunner.decode_slots"]


def decode_slot():
    return decode_slots().slot()


def enqueue(task: TaskName, *args: str) -> None:
    """Send `task` once the request's transaction commits; 503 now (nothing committed) if the broker is down."""
    require_broker()
    enqueue_after_commit(get_session(), current_app.extensions["talesrunner.celery"], task, *args)


def require_broker() -> None:
    """Refuse before committing when Redis does not answer: the work would wait for the reconciler."""
    try:
        current_app.extensions["talesrunner.redis"].ping()
    except (redis.RedisError, OSError) as exc:
        raise BrokerDown(f"{type(exc).__name__}: {exc}") from None


BOOK_ID = re.compile(r"[0-9a-f]{32}")
# Pages past this are empty for anyone; a larger number would only overflow the query's OFFSET.
MAX_PAGE = 100_000


def page_number(value: int | None) -> int:
    """A ?page= value as a page that exists or could: 1 up to MAX_PAGE."""
    return min(max(value or 1, 1), MAX_PAGE)


def owned_book(user: User, book_id: str) -> Book:
    """The caller's book, or 404: someone else's book does not exist for them."""
    if not BOOK_ID.fullmatch(book_id):  # ids are generated hex: anything else is no book, and never reaches SQL
        raise ApiError(404, "not_found", "no such book")
    book = get_session().scalar(select(Book).where(Book.id == book_id, Book.user_id == user.id))
    if book is None:
        raise ApiError(404, "not_found", "no such book")
    return book


def books_page(user: User, page: int, per_page: int) -> tuple[list[Book], int]:
    """One page of the user's books, newest first, and how many books the user has in all."""
    db = get_session()
    mine = select(Book).where(Book.user_id == user.id)
    total = db.scalar(select(func.count()).select_from(mine.subquery()))
    books = db.scalars(mine.order_by(Book.created_at.desc(), Book.id).offset((page - 1) * per_page).limit(per_page)).all()
    return list(books), total


def scene_of(book: Book, index: int) -> Scene:
    for scene in book.scenes:
        if scene.index == index:
            return scene
    raise ApiError(404, "not_found", f"this book has no scene {index} (scenes are 1..{len(book.scenes)})")


def parse_book_request(raw: str | None) -> BookRequest:
    """The `book` form field: JSON text, optional."""
    if raw is None or not raw.strip():
        return BookRequest()
    if "\ufffd" in raw:  # the form parser put it where bytes were not UTF-8
        raise ApiError(400, "invalid_json", "the 'book' field is not valid UTF-8", "book")
    config = current_settings()
    try:
        data = parse_json(raw, max_bytes=config.TALES_MAX_JSON_BYTES, max_depth=config.TALES_MAX_JSON_DEPTH)
    except JsonRefused as exc:
        raise ApiError(400, "invalid_json", f"the 'book' field is refused: {exc}", "book") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the 'book' field must be a JSON object", "book")
    try:
        return BookRequest.model_validate(data)
    except ValidationError as exc:
        message, field = describe_error(exc)
        raise ApiError(400, error_code(exc), f"book.{message}", f"book.{field}" if field else "book") from None


@dataclass(frozen=True)
class Upload:
    data: bytes
    extension: str
    format: str
    width: int
    height: int


def read_uploads(files: list[FileStorage], config: Settings) -> list[Upload]:
    """Check the uploaded photos: 1..N files, each a real image within the limits."""
    files = [f for f in files if f and (f.filename or f.content_length)]
    if not files:
        raise ApiError(400, "no_images", "add 1 to 10 photos in the 'images' field, in story order", "images")
    if len(files) > config.TALES_MAX_IMAGES:
        raise ApiError(400, "too_many_images", f"at most {config.TALES_MAX_IMAGES} photos per book; got {len(files)}", "images")
    uploads = []
    for position, file in enumerate(files, start=1):
        data = file.read(config.TALES_MAX_IMAGE_BYTES + 1)
        label = f"{position}번째 사진" + (f"({file.filename})" if file.filename else "")
        try:
            info = sniff_image(data, filename=label, max_bytes=config.TALES_MAX_IMAGE_BYTES, max_pixels=config.TALES_MAX_IMAGE_PIXELS,
                               max_decode_bytes=config.TALES_MAX_DECODE_MB * 2**20, decode_slot=decode_slot())
        except ImageRejected as exc:
            raise ApiError(400, "bad_image", str(exc), f"images[{position - 1}]") from None
        uploads.append(Upload(data, info.extension, info.format, info.width, info.height))
    return uploads


def active_books(user: User) -> int:
    """How many of the user's books are being made (count towards TALES_MAX_ACTIVE_BOOKS)."""
    return get_session().scalar(
        select(func.count()).select_from(Book).where(Book.user_id == user.id, Book.status.in_(list(ACTIVE)))
    )


def check_quota(user: User, config: Settings) -> None:
    """Refuse a new book past TALES_MAX_ACTIVE_BOOKS in progress.

    The user's row is locked until the new book commits, so simultaneous submissions of one user
    are counted one after the other and the limit holds exactly.
    """
    get_session().execute(select(User.id).where(User.id == user.id).with_for_update())
    active = active_books(user)
    if active >= config.TALES_MAX_ACTIVE_BOOKS:
        raise ApiError(
            429, "too_many_books_in_progress",
            f"you already have {active} books being made; wait for one to finish (limit {config.TALES_MAX_ACTIVE_BOOKS})",
        )


def create_book(user: User, request_: BookRequest, uploads: list[Upload]) -> Book:
    """Store the photos and rows, commit, then enqueue captioning."""
    config = current_settings()
    if request_.scenes is not None and len(request_.scenes) != len(uploads):
        raise ApiError(400, "scene_count", f"{len(request_.scenes)} scene annotations for {len(uploads)} photos: give one per photo", "book.scenes")
    check_style(request_.style, config)
    check_quota(user, config)
    db = get_session()
    book = Book(user_id=user.id, title=request_.title or None, age=request_.age, email_when_done=request_.email_when_done,
                style=request_.style, dedication=request_.dedication or None,
                hint_defaults=(request_.book_hints.as_fields() or None) if request_.book_hints else None,
                status=BookStatus.QUEUED)
    db.add(book)
    db.flush()
    saved: list[str] = []
    try:
        for position, upload in enumerate(uploads, start=1):
            name = storage().save_photo(book.id, upload.data, upload.extension)
            saved.append(name)
            annotations = request_.scenes[position - 1].as_fields() if request_.scenes else None
            db.add(Scene(book_id=book.id, index=position, image_name=name, image_format=upload.format,
                         width=upload.width, height=upload.height, annotations=annotations))
        set_progress(book, Stage.CAPTION, 0, len(uploads))
        enqueue(TaskName.CAPTION, book.id)
        db.commit()
    except BaseException:
        db.rollback()
        storage().delete_book(book.id)
        raise
    return book


def check_style(style: str, config: Settings) -> None:
    """400 naming book.style unless this server can draw `style` (shared.styles.available_styles)."""
    offered = [choice.id for choice in available_styles(config)]
    if style not in offered:
        raise ApiError(400, "unknown_style", f"this server cannot draw the style '{style}'; choose one of: {', '.join(offered)}",
                       "book.style")


def _refuse(exc: WrongState) -> ApiError:
    return ApiError(409, "wrong_state", str(exc))


def put_annotations(book: Book, scenes: list[SceneAnnotation]) -> None:
    """Store the hints for every scene of a book that waits for them."""
    try:
        require(book, [BookStatus.AWAITING_ANNOTATIONS, BookStatus.FAILED])
    except WrongState as exc:
        raise _refuse(exc) from None
    if len(scenes) != len(book.scenes):
        raise ApiError(400, "scene_count", f"this book has {len(book.scenes)} scenes; send exactly that many annotations", "scenes")
    for scene, annotation in zip(book.scenes, scenes, strict=True):
        scene.annotations = annotation.as_fields()
        scene.text = None
        # New hints, a new page: what the old hints' rewrites showed no longer matters.
        scene.alternatives, scene.shown_texts, scene.previous_text, scene.rewrites = None, None, None, 0
    book.generated_title = None  # new hints, new story: the writer names it again
    get_session().commit()


def start_writing(book: Book) -> None:
    """Move an annotated book to writing and enqueue the writer."""
    if book.status is BookStatus.AWAITING_ANNOTATIONS and not book.has_annotations:
        raise ApiError(409, "annotations_missing", "PUT the scene annotations first (name, i_action, classification per scene)")
    advance(book, [BookStatus.AWAITING_ANNOTATIONS], BookStatus.WRITING, Stage.WRITE, TaskName.WRITE)


def edit_text(book: Book, index: int, text: str) -> None:
    """Replace one paragraph and rebuild the PDF; a rewrite it replaces can no longer be undone.

    The book's row is claimed (locked) before the scene changes: the one lock order, book then
    scenes, as the workers and delete_book take them. An edit refused because the book is being
    made again, whose page already holds `text` as the parent's own (a second tap of the same
    form, the first taken), is that edit: nothing more is done and nothing refused.
    """
    scene = scene_of(book, index)
    try:
        claim_book(book, [BookStatus.DONE], BookStatus.RENDERING)
    except ApiError:
        get_session().refresh(scene, ["text", "text_source"])
        if scene.text == text and scene.text_source == "user" and book.status in ACTIVE:
            return
        raise
    scene.text, scene.text_source, scene.previous_text = text, "user", None
    start_stage(book, *to_rendering(book, current_settings()))


def undo_rewrite(book: Book, index: int) -> None:
    """Put back the text the last rewrite of page `index` replaced, as an edit, and rebuild the PDF."""
    scene = scene_of(book, index)
    if scene.previous_text is None:
        raise ApiError(409, "nothing_to_undo", f"page {index} has no earlier text to go back to")
    edit_text(book, index, scene.previous_text)


def rename(book: Book, title: str) -> None:
    """Give the book the parent's own title; a finished book's PDF and e-book are made again with it.

    The status is read under the book's row lock, so drawing cannot start between the check and
    the new title (a stage's claim waits for this request, then reads the title it set).
    """
    db = get_session()
    db.refresh(book, ["status", "title"], with_for_update=True)
    status = book.status
    if title == book.display_title:
        return
    if status is BookStatus.RENDERING:  # the PDF being drawn has read the old title already
        raise ApiError(409, "rendering", "the book is being drawn now; rename it once it is done", "title")
    book.title = title  # rolled back with the request if the claim is refused
    if status is BookStatus.DONE:
        advance(book, [BookStatus.DONE], BookStatus.RENDERING, *to_rendering(book, current_settings()))
    else:  # still being made (or failed): the render that comes uses it
        db.commit()


def regenerate_scene(book: Book, index: int) -> None:
    """Write one scene again, then rebuild the PDF (the book's row claimed first, then the scene changed)."""
    scene = scene_of(book, index)
    claim_book(book, [BookStatus.DONE], BookStatus.WRITING)
    # Every text the page has shown or offered: the writer gives none of them again.
    scene.shown_texts = list(dict.fromkeys([*(scene.shown_texts or []), *(scene.alternatives or []),
                                            *([scene.text] if scene.text else [])]))
    # Kept for "이전 글로 되돌리기"; a second rewrite keeps the text it replaces, the newest one. The
    # source stays until the new text comes: a rewrite with nothing new keeps the page as it was.
    scene.previous_text, scene.text, scene.nothing_new = scene.text, None, False
    scene.rewrites = (scene.rewrites or 0) + 1
    # The writer counts the pages it writes this time (worker/pipeline/write.py): one here.
    start_stage(book, Stage.WRITE, TaskName.WRITE, total=sum(1 for s in book.scenes if s.text is None))


def choose_alternative(book: Book, index: int, choice: int, shown: str | None = None) -> None:
    """Put one of the rewrite's other texts on page `index` (one tap), the text it replaces kept for undo.

    The text taken off the page joins the alternatives, so the parent can go back and forth; `shown`
    is what the page showed as that alternative (its digest), refused when the list has changed since.
    """
    scene = scene_of(book, index)
    offered = list(scene.alternatives or [])
    if not 0 <= choice < len(offered):
        raise ApiError(404, "not_found", f"page {index} has no alternative {choice} (it has {len(offered)})", "alternative")
    picked = offered[choice]
    if shown is not None and shown != text_digest(picked):
        raise ApiError(409, "alternatives_changed", f"page {index}'s alternatives changed; look at them again", "alternative")
    claim_book(book, [BookStatus.DONE], BookStatus.RENDERING)
    current = scene.text
    scene.alternatives = [text for text in offered if text != picked] + ([current] if current and current not in offered else [])
    scene.previous_text, scene.text = current, picked
    if scene.text_source == "user":
        scene.text_source = current_settings().TALES_WRITER  # the alternatives are the writer's, not the parent's
    scene.nothing_new = False
    start_stage(book, *to_rendering(book, current_settings()))


def text_digest(text: str | None) -> str:
    """A short hash of a text, for a form to say which text it showed (an edit, an alternative)."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:16]


def retry_book(book: Book) -> None:
    """Start a failed book again; finished work (captions, paragraphs) is kept, the worker deaths counted are not.

    The claim (no holder) sets `lost_runs` back to 0: a poison book retried gets its full count again.
    """
    advance(book, [BookStatus.FAILED], BookStatus.QUEUED, Stage.CAPTION, TaskName.CAPTION)


# A second identical mail request within this many seconds, the first not sent yet, is the first
# one again (a double tap, a resent form), not a second mail.
EMAIL_REPEAT_S = 60


def request_email(book: Book, to: str, sender_name: str | None = None, note: str | None = None) -> EmailRequest:
    """Queue one mail of a finished book, from `sender_name` with `note` above it (both optional).

    The book's row is locked first, so two identical requests at once are looked at one after the
    other: the second finds the first (same address, sender and note, under EMAIL_REPEAT_S old,
    pending or sending) and answers with it instead of queueing another mail.
    """
    db = get_session()
    db.refresh(book, ["status"], with_for_update=True)
    try:
        require(book, [BookStatus.DONE])
    except WrongState as exc:
        raise _refuse(exc) from None
    sender_name, note = sender_name or None, note or None
    same = db.scalar(
        select(EmailRequest).where(
            EmailRequest.book_id == book.id, EmailRequest.to_address == to,
            EmailRequest.sender_name.is_(None) if sender_name is None else EmailRequest.sender_name == sender_name,
            EmailRequest.note.is_(None) if note is None else EmailRequest.note == note,
            EmailRequest.status.in_([EmailStatus.PENDING, EmailStatus.SENDING]),
            EmailRequest.created_at >= utcnow() - timedelta(seconds=EMAIL_REPEAT_S),
        ).order_by(EmailRequest.id.desc()).limit(1)
    )
    if same is not None:
        db.commit()
        return same
    email = EmailRequest(book_id=book.id, to_address=to, sender_name=sender_name, note=note)
    db.add(email)
    db.flush()
    enqueue(TaskName.EMAIL, str(email.id))
    db.commit()
    return email


def delete_book(book: Book) -> None:
    """Remove the book's rows and files.

    The book's row is locked first and its scenes and mails go by the database's ON DELETE CASCADE,
    so the delete takes locks in the workers' order (book, then scenes) and cannot deadlock with a
    stage. A stage still drawing the PDF finds the book gone and removes what it wrote.
    """
    db = get_session()
    book_id = book.id
    delete_book_rows(db, book_id)
    db.commit()
    db.expunge_all()
    storage().delete_book(book_id)


def delete_book_rows(db: Session, book_id: str) -> None:
    """Lock the book's row, then delete it (scenes and mails by ON DELETE CASCADE); the caller commits."""
    db.execute(select(Book.id).where(Book.id == book_id).with_for_update())
    db.execute(delete(Book).where(Book.id == book_id).execution_options(synchronize_session=False))


def advance(book: Book, allowed: list[BookStatus], target: BookStatus, stage: Stage, task: TaskName,
             total: int | None = None) -> None:
    """Claim the move (compare-and-set, as the workers do), commit, then enqueue the task."""
    claim_book(book, allowed, target)
    start_stage(book, stage, task, total)


def claim_book(book: Book, allowed: list[BookStatus], target: BookStatus) -> None:
    """Move the book (its row locked until the request commits), or 409 naming what it is now."""
    try:
        claim_or_refuse(get_session(), book, allowed, target)
    except WrongState as exc:
        raise _refuse(exc) from None


def start_stage(book: Book, stage: Stage, task: TaskName, total: int | None = None) -> None:
    """After a claim: progress at 0 of `total` (every page unless told), commit, then enqueue the task."""
    set_progress(book, stage, 0, len(book.scenes) if total is None else total)
    enqueue(task, book.id)
    if book.status is BookStatus.WRITING and undrawn_pages(book):
        enqueue(TaskName.DRAW, book.id)  # drawn beside the writing, as after captioning; the render waits for both
    get_session().commit()
