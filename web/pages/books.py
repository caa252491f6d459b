"""The book page and its forms: hints, edit, regenerate, redraw, retry, email, delete."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, abort, flash, get_flashed_messages, redirect, render_template, request, session, url_for
from PIL import Image
from pydantic import ValidationError

from shared.mail_text import SENDER_RULE
from shared.models import Book, utcnow
from shared.status import ACTIVE, BookStatus
from web import books_service as service
from web import pictures_service
from web.accounts_service import check_mail_allowed
from web.auth import current_user, login_required
from web.db import current_settings
from web.downloads import send_stored
from web.errors import ApiError, error_page, korean
from web.pages.forms import SceneForm, error_summary, read_scenes, typed
from web.schemas import BookUpdate, EmailBook, TextEdit, one_line_break, without_controls
from web.thumbnails import SIZES
from web.thumbnails import thumbnail as make_thumbnail

log = logging.getLogger(__name__)
bp = Blueprint("books", __name__, url_prefix="/books/<book_id>")


def _mine(book_id: str) -> Book:
    return service.owned_book(current_user(), book_id)


def _back(book: Book, message: str, category: str = "success", anchor: str | None = None):
    # The message is shown beside the form it is about (`anchor`), where the page is scrolled to.
    flash(message, f"{category}:{anchor}" if anchor else category)
    # 303: after a form post the browser fetches the book page with GET, so reload does not resubmit.
    return redirect(url_for("books.show", book_id=book.id, _anchor=anchor), code=303)


@dataclass(frozen=True)
class KeptEdit:
    """A page edit the server refused: the parent's text goes back into that page's form, with why."""

    index: int
    text: str
    message: str


def _page(book: Book, scene_forms: list[SceneForm] | None = None, problems: list[str] | None = None, status: int = 200,
          kept: KeptEdit | None = None, mail: dict[str, str] | None = None):
    if scene_forms is None:
        # Hints not given yet start from the book's own (the main character typed once).
        scene_forms = [SceneForm(values=dict(scene.annotations or book.hint_defaults or {})) for scene in book.scenes]
    _settle_retry_flash(book)
    top, placed = _placed_flashes(book)
    # How long the book has not moved, by the server's clock: the script counts on from it with the
    # browser's, so a browser clock that is off does not matter.
    idle_s = max((utcnow() - book.updated_at).total_seconds(), 0.0)
    # With captioning off (TALES_CAPTIONER=none) no page waits for a photo's description.
    captions_on = current_settings().TALES_CAPTIONER != "none"
    return render_template("books/show.html", book=book, scene_forms=scene_forms, problems=problems or [], captions_on=captions_on,
                           slow_after=current_settings().TALES_SLOW_AFTER_S, idle_s=idle_s, kept=kept, mail=mail or {},
                           top_flashes=top, placed_flashes=placed), status


def _placed_flashes(book: Book) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    """The flashes for the top of the page, and those shown beside a form, by the form's anchor.

    A message about a form the page no longer has (an email refused because the book is being
    made again) goes to the top.
    """
    anchors = {"title-form"}
    if book.status is BookStatus.DONE:
        anchors.add("email-form")
    if book.pdf_name:  # the share section (web/pages/shared_links.py), shown once the book was finished
        anchors.add("share")
    if book.status is not BookStatus.AWAITING_ANNOTATIONS:
        anchors.update(f"scene-{scene.index}" for scene in book.scenes)
    top: list[tuple[str, str]] = []
    placed: dict[str, list[tuple[str, str]]] = {}
    for category, message in get_flashed_messages(with_categories=True):
        kind, _, anchor = category.partition(":")
        if anchor in anchors:
            placed.setdefault(anchor, []).append((kind, message))
        else:
            top.append((kind, message))
    return top, placed


RETRIED = "retried"  # the flash category "다시 시도하기" leaves; the page words it by the book's state


def _settle_retry_flash(book: Book) -> None:
    """Word the flash after "다시 시도하기" by what the book is doing now, so it agrees with the badge.

    A book that failed again before the page was shown would otherwise say "다시 시작했어요" in
    green above "멈춤" in red.
    """
    flashes = session.get("_flashes") or []
    if not any(category == RETRIED for category, _ in flashes):
        return
    if book.status is BookStatus.FAILED:
        settled = ("error", "다시 시도했지만 또 멈췄어요. 아래에서 멈춘 이유를 확인해 주세요.")
    elif book.status is BookStatus.DONE:
        settled = ("success", "다시 시도해서 그림책이 완성되었어요.")
    else:
        settled = ("success", "다시 시작했어요. 멈춘 곳부터 이어서 만들어요.")
    session["_flashes"] = [settled if category == RETRIED else (category, text) for category, text in flashes]


def _anchor() -> str | None:
    """The part of the book page the form being posted sits in, where its message is shown."""
    endpoint = (request.endpoint or "").removeprefix("books.")
    if endpoint in ("edit_text", "regenerate", "undo", "choose"):
        return f"scene-{request.view_args['index']}"
    return {"email": "email-form", "rename": "title-form"}.get(endpoint)


@bp.errorhandler(ApiError)
def _refused(exc: ApiError):
    # A button pressed on a page that is out of date (the book moved on): say so on the book page.
    if exc.status == 404 or request.method == "GET":
        return error_page(exc.status, korean(exc))
    anchor = _anchor()
    flash(korean(exc), f"error:{anchor}" if anchor else "error")
    return redirect(url_for("books.show", book_id=request.view_args["book_id"], _anchor=anchor), code=303)


@bp.get("")
@login_required
def show(book_id: str):
    """Progress while the book is made; the hint form while it waits; the pages when done."""
    return _page(_mine(book_id))


# The addresses the book page's forms post to. A refused edit answers at its form's address, so a
# reload there, or that address opened again, is a GET: it goes to the book page (the part of it
# the form is in), not to "405 할 수 없는 요청".
@bp.get("/scenes/<int:index>/<any(text, regenerate, choose, undo, redraw, picture):action>")
@login_required
def scene_form_address(book_id: str, index: int, action: str):
    """A scene form's address opened with GET: the book page at that scene."""
    return redirect(url_for("books.show", book_id=_mine(book_id).id, _anchor=f"scene-{index}"), code=303)


@bp.get("/<any(annotations, title, retry, email, delete):action>")
@login_required
def form_address(book_id: str, action: str):
    """A book form's address opened with GET: the book page (at the form, where it has one)."""
    anchor = {"title": "title-form", "email": "email-form"}.get(action)
    return redirect(url_for("books.show", book_id=_mine(book_id).id, _anchor=anchor), code=303)


@bp.get("/scenes/<int:index>/photo-<int:size>.jpg")
@login_required
def thumbnail(book_id: str, index: int, size: int):
    """A scene's photo, shrunk for the page."""
    if size not in SIZES:
        abort(404)
    scene = service.scene_of(_mine(book_id), index)
    try:
        name = make_thumbnail(service.storage(), scene, size, service.decode_slots())
        response = send_stored(service.storage(), name, "image/jpeg", max_age=86400)
    except FileNotFoundError:
        abort(404)
    except (OSError, ValueError, Image.DecompressionBombError):
        log.exception("could not make a thumbnail of %s", scene.image_name)
        raise ApiError(404, "unreadable_photo", "this photo cannot be read") from None
    response.cache_control.public, response.cache_control.private = False, True  # the user's photos: no shared caches
    return response


@bp.post("/annotations")
@login_required
def annotate(book_id: str):
    """Save every scene's hints and start writing."""
    book = _mine(book_id)
    annotations, scene_forms = read_scenes(typed(request.form), len(book.scenes))
    if annotations is None:
        return _page(book, scene_forms, error_summary(scene_forms), 400)
    try:
        service.put_annotations(book, annotations)
        service.start_writing(book)
    except ApiError as exc:
        return _page(book, scene_forms, [korean(exc)], exc.status)
    return _back(book, "힌트를 받았어요. 이제 이야기를 써요.")


@bp.post("/title")
@login_required
def rename(book_id: str):
    """The parent's own title; a finished book is made again with it."""
    book = _mine(book_id)
    try:
        update = BookUpdate(title=without_controls(request.form.get("title", "")))
    except ValidationError:
        return _back(book, "제목은 1자에서 200자 사이로, 한 줄로 적어 주세요.", "error", "title-form")
    service.rename(book, update.title)
    done = book.status is BookStatus.RENDERING  # was finished: made again with the new title
    return _back(book, f"제목을 ‘{update.title}’(으)로 바꿨어요." + (" PDF와 전자책을 다시 만들고 있어요." if done else ""),
                 anchor="title-form")


# What a refused page edit says beside the parent's text, which stays in the form.
EDIT_EMPTY = "{index}쪽 글이 비어 있어요. 책에 실을 글을 적어 주세요."
EDIT_TOO_LONG = "{index}쪽 글이 너무 길어요. {limit:,}자까지 쓸 수 있는데 지금 {length:,}자예요. {over:,}자를 줄여 주세요."
EDIT_UNREADABLE = "{index}쪽 글에 책에 실을 수 없는 글자가 있어요. 그 부분을 지우고 다시 적어 주세요."
EDIT_MAX = 2000  # TextEdit's max_length
EDIT_BUSY = "지금 책을 다시 만들고 있어요. 다 만들어지면 다시 눌러 주세요. 적은 글은 여기 그대로 있어요."
EDIT_STALE = ("{index}쪽 글이 이 페이지를 연 뒤에 다른 창이나 기기에서 먼저 바뀌었어요. 지금 글은 ‘{now}’예요. "
              "아래 글로 바꾸려면 다시 눌러 주세요.")


def text_digest(text: str | None) -> str:
    """What an edit form says it showed: a short hash of the page's text, to notice an edit made elsewhere meanwhile."""
    return service.text_digest(text)


@bp.record_once
def _text_digest_global(state) -> None:
    state.app.jinja_env.globals["text_digest"] = text_digest


@bp.post("/scenes/<int:index>/text")
@login_required
def edit_text(book_id: str, index: int):
    """Replace one paragraph with the user's words; the PDF is rebuilt.

    A refused edit answers with the book page itself (400, 409), the parent's text in that page's
    form and the reason beside it: a redirect would lose the text and scroll past the reason.
    """
    book = _mine(book_id)
    now = service.scene_of(book, index).text  # 404 for a page the book does not have
    submitted = without_controls(request.form.get("text", ""), lines=True)
    try:
        edit = TextEdit(text=submitted)
    except ValidationError:
        # Counted as the textarea counts (a line break is one character) and as TextEdit does (trimmed).
        length = len(one_line_break(submitted).strip())
        if not length:
            message = EDIT_EMPTY.format(index=index)
        elif length > EDIT_MAX:
            message = EDIT_TOO_LONG.format(index=index, limit=EDIT_MAX, length=length, over=length - EDIT_MAX)
        else:
            message = EDIT_UNREADABLE.format(index=index)
        return _page(book, status=400, kept=KeptEdit(index, submitted, message))
    shown = request.form.get("shown")
    if shown is not None and shown != text_digest(now) and edit.text != now:
        # Another tab or device changed this page after this form was shown: saving would erase its words.
        return _page(book, status=409, kept=KeptEdit(index, submitted, EDIT_STALE.format(index=index, now=now)))
    try:
        service.edit_text(book, index, edit.text)
    except ApiError as exc:
        message = EDIT_BUSY if exc.code == "wrong_state" and book.status in ACTIVE else korean(exc)
        return _page(book, status=exc.status, kept=KeptEdit(index, submitted, message))
    # Back to the page that was edited, not the top: the parent goes on reading where they were.
    return _back(book, f"{index}쪽 글을 고쳤어요. PDF를 다시 만들고 있어요.", anchor=f"scene-{index}")


@bp.post("/scenes/<int:index>/regenerate")
@login_required
def regenerate(book_id: str, index: int):
    """Write one scene again; the PDF is rebuilt."""
    book = _mine(book_id)
    service.regenerate_scene(book, index)
    return _back(book, f"{index}쪽 글을 새로 쓰고 있어요. 다른 글도 골라 볼 수 있고, 이전 글로 되돌릴 수도 있어요.",
                 anchor=f"scene-{index}")


@bp.post("/scenes/<int:index>/choose")
@login_required
def choose(book_id: str, index: int):
    """Put one of the rewrite's other texts on the page in one tap (the text it replaces can be put back)."""
    book = _mine(book_id)
    choice = request.form.get("alternative", type=int)
    if choice is None:
        raise ApiError(400, "invalid", "which alternative?", "alternative")
    service.choose_alternative(book, index, choice, request.form.get("shown"))
    return _back(book, f"{index}쪽을 고른 글로 바꿨어요. 마음이 바뀌면 이전 글로 되돌릴 수 있어요.", anchor=f"scene-{index}")


@bp.post("/scenes/<int:index>/undo")
@login_required
def undo(book_id: str, index: int):
    """Put back the text the last rewrite of a page replaced; the PDF is rebuilt."""
    book = _mine(book_id)
    service.undo_rewrite(book, index)
    return _back(book, f"{index}쪽을 이전 글로 되돌렸어요. PDF를 다시 만들고 있어요.", anchor=f"scene-{index}")


@bp.post("/scenes/<int:index>/redraw")
@login_required
def redraw(book_id: str, index: int):
    """Draw one page again with a new seed; the PDF is rebuilt."""
    book = _mine(book_id)
    pictures_service.redraw(book, index)
    return _back(book, f"{index}쪽 그림을 다시 그리고 있어요.", anchor=f"scene-{index}")


@bp.post("/scenes/<int:index>/picture")
@login_required
def choose_picture(book_id: str, index: int):
    """Show one page's photo, or its drawing again; the PDF is rebuilt."""
    book = _mine(book_id)
    use_photo = request.form.get("use_photo") == "1"
    pictures_service.choose_picture(book, index, use_photo)
    said = "사진으로 바꿨어요" if use_photo else "그림으로 되돌렸어요"
    return _back(book, f"{index}쪽을 {said}. PDF를 다시 만들고 있어요.", anchor=f"scene-{index}")


@bp.post("/retry")
@login_required
def retry(book_id: str):
    """Start a stopped book again from where it stopped."""
    book = _mine(book_id)
    service.retry_book(book)
    return _back(book, "다시 시작했어요.", RETRIED)


EMAIL_MESSAGES = {
    "to": "받는 사람의 이메일 주소를 확인해 주세요.",
    "sender_name": SENDER_RULE,
    "note": "함께 보낼 말은 500자까지, 특수 문자 없이 적어 주세요.",
}


@bp.post("/email")
@login_required
def email(book_id: str):
    """Mail the finished book to me or to someone else."""
    book = _mine(book_id)
    to = current_user().email if request.form.get("recipient", "me") == "me" else request.form.get("to", "").strip()
    try:
        mail = EmailBook(to=to, sender_name=request.form.get("sender_name") or None, note=request.form.get("note") or None)
    except ValidationError as exc:
        # The page again, with what was typed (the note may be long) and the reason beside the form.
        field = str(exc.errors()[0].get("loc", ("to",))[0])
        flash(EMAIL_MESSAGES.get(field, EMAIL_MESSAGES["to"]), "error:email-form")
        typed = {name: request.form.get(name, "") for name in ("recipient", "to", "sender_name", "note")}
        return _page(book, status=400, mail=typed)
    address = str(mail.to)
    try:
        check_mail_allowed(current_user(), address)  # someone else's address: a confirmed account, within the day's count
    except ApiError as exc:
        flash(exc.message, "error:email-form")
        typed = {name: request.form.get(name, "") for name in ("recipient", "to", "sender_name", "note")}
        return _page(book, status=exc.status, mail=typed)
    service.request_email(book, address, mail.sender_name, mail.note)  # the same request again within a minute: that one
    return _back(book, f"{address} 주소로 그림책을 보내고 있어요.", anchor="email-form")


@bp.post("/delete")
@login_required
def delete(book_id: str):
    """Delete the book, its photos and its PDF."""
    book = _mine(book_id)
    title = book.display_title
    service.delete_book(book)
    flash(f"‘{title}’ 책을 지웠어요.", "info")
    return redirect(url_for("home.my_books"), code=303)
