"""Book operations shared by the JSON API and the pages: create, annotate, generate, edit."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import TYPE_CHECKING

import redis
from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.jobs import TaskName, enqueue_after_commit
from shared.lifecycle import WrongState, claim_or_refuse, require, set_progress, to_rendering, undrawn_pages
from shared.models import Book, EmailRequest, Scene, User, utcnow
from shared.status import ACTIVE, BookStatus, EmailStatus, Stage
from shared.storage import Storage
from shared.styles import available_styles
from shared.vocabulary import STATUS_LABELS
from web.db import current_settings, get_session
from web.errors import ApiError, BrokerDown
from web.images import DecodeSlots
from web.schemas import BookRequest, SceneAnnotation

if TYPE_CHECKING:
    from web.uploads import Upload


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
NO_BOOK = "찾는 책이 없어요. 책 주소(id)를 확인해 주세요."
# Pages past this are empty for anyone; a larger number would only overflow the query's OFFSET.
MAX_PAGE = 100_000


def page_number(value: int | None) -> int:
    """A ?page= value as a page that exists or could: 1 up to MAX_PAGE."""
    return min(max(value or 1, 1), MAX_PAGE)


def owned_book(user: User, book_id: str) -> Book:
    """The caller's book, or 404: someone else's book does not exist for them."""
    if not BOOK_ID.fullmatch(book_id):  # ids are generated hex: anything else is no book, and never reaches SQL
        raise ApiError(404, "not_found", NO_BOOK)
    book = get_session().scalar(select(Book).where(Book.id == book_id, Book.user_id == user.id))
    if book is None:
        raise ApiError(404, "not_found", NO_BOOK)
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
    raise ApiError(404, "not_found", f"이 책에는 {index}쪽이 없어요. 1쪽부터 {len(book.scenes)}쪽까지 있어요.")


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
    refuse_over_quota(active_books(user), config)


def refuse_over_quota(active: int, config: Settings) -> None:
    if active >= config.TALES_MAX_ACTIVE_BOOKS:
        raise ApiError(
            429, "too_many_books_in_progress",
            f"만들고 있는 책이 벌써 {active}권이에요. 한 번에 {config.TALES_MAX_ACTIVE_BOOKS}권까지 만들 수 있으니 하나가 끝난 뒤 다시 해 주세요.",
        )


def create_book(user: User, request_: BookRequest, uploads: list[Upload]) -> Book:
    """Store the photos and rows, commit, then enqueue captioning."""
    config = current_settings()
    check_scene_count(request_, len(uploads))
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


def check_scene_count(request_: BookRequest, photos: int) -> None:
    if request_.scenes is not None and len(request_.scenes) != photos:
        raise ApiError(400, "scene_count", f"사진은 {photos}장인데 장면 힌트는 {len(request_.scenes)}개예요. 사진마다 힌트를 하나씩 보내 주세요.",
                       "book.scenes")


def check_style(style: str, config: Settings) -> None:
    """400 naming book.style unless this server can draw `style` (shared.styles.available_styles)."""
    offered = [choice.id for choice in available_styles(config)]
    if style not in offered:
        raise ApiError(400, "unknown_style", f"이 서버는 '{style}' 스타일로 그릴 수 없어요. 다음 중에서 골라 주세요: {', '.join(offered)}",
                       "book.style")


def _refuse(exc: WrongState) -> ApiError:
    return ApiError(409, "wrong_state", state_message(exc.current))


def state_message(current: BookStatus) -> str:
    """Why a book cannot do that now, naming its state as the pages do."""
    return f"책이 지금 ‘{STATUS_LABELS[current]}’ 상태라서 할 수 없어요. 페이지를 새로 고쳐 상태를 확인해 주세요."


def put_annotations(book: Book, scenes: list[SceneAnnotation]) -> None:
    """Store the hints for every scene of a book that waits for them."""
    try:
        require(book, [BookStatus.AWAITING_ANNOTATIONS, BookStatus.FAILED])
    except WrongState as exc:
        raise _refuse(exc) from None
    if len(scenes) != len(book.scenes):
        raise ApiError(400, "scene_count", f"이 책은 {len(book.scenes)}장면이에요. 장면 힌트도 {len(book.scenes)}개를 보내 주세요.", "scenes")
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
        raise ApiError(409, "annotations_missing", "장면마다 힌트(주인공 이름, 주인공이 하는 일, 이야기 분류)를 먼저 보내 주세요(PUT …/scenes).")
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
        raise ApiError(409, "nothing_to_undo", f"{index}쪽에는 되돌릴 이전 글이 없어요. 이미 되돌렸거나 글을 직접 고친 뒤예요.")
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
        raise ApiError(409, "rendering", "지금 책을 그리고 있어요. 다 되면 제목을 바꿔 주세요.", "title")
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
        raise ApiError(404, "not_found", f"{index}쪽에는 {choice}번 다른 글이 없어요(다른 글 {len(offered)}개).", "alternative")
    picked = offered[choice]
    if shown is not None and shown != text_digest(picked):
        raise ApiError(409, "alternatives_changed", f"{index}쪽의 다른 글 목록이 그사이 바뀌었어요. 다시 보고 골라 주세요.", "alternative")
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
