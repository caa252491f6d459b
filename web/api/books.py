"""Books: create from photos, poll, annotate, generate, edit, download, email, delete."""
from __future__ import annotations

from pathlib import PurePosixPath

from flask import jsonify, request, url_for
from pydantic import ValidationError

from shared.mail_text import SENDER_REFUSED, SENDER_RULE
from shared.models import Book
from shared.status import BookStatus
from web import books_service as service
from web import uploads
from web.accounts_service import check_mail_allowed
from web.api.blueprint import api
from web.api.users import json_body
from web.auth import current_user, token_required
from web.db import current_settings
from web.downloads import book_download, send_stored
from web.images import MEDIA_TYPES
from web.errors import ApiError
from web.poll import poll
from web.schemas import AlternativeChoice, BookUpdate, EmailBook, ScenesUpdate, TextEdit


def book_json(book: Book, detail: bool = True) -> dict:
    """The public view of a book."""
    data = {
        "id": book.id,
        "title": book.display_title,
        # true when the writer named the book because the user gave no title
        "title_generated": book.title is None and book.generated_title is not None,
        "age": book.age,
        # how the pages look (GET /api/v1/styles); `photo` keeps the photos as taken
        "style": book.style,
        "dedication": book.dedication,
        # the main character and company given once for the book (hints that come later start from them)
        "book_hints": book.hint_defaults,
        "status": book.status.value,
        "stage": book.stage,
        "progress": {"done": book.progress_done, "total": book.progress_total},
        "error": book.error,
        "notes": list(book.notes or []),
        "email_when_done": book.email_when_done,
        "created_at": book.created_at.isoformat() + "Z",
        "updated_at": book.updated_at.isoformat() + "Z",
        "url": url_for("api.get_book", book_id=book.id),
    }
    if book.pdf_name:  # finished once: while it is made again (an edit), the last files stay downloadable
        data["pdf_url"] = url_for("api.get_pdf", book_id=book.id)
        if book.epub_name:
            data["epub_url"] = url_for("api.get_epub", book_id=book.id)
    # false while a finished book is made again: pdf_url/epub_url are then the previous version
    data["files_current"] = book.status is BookStatus.DONE and book.pdf_name is not None
    data["narrator"] = book.narrator_label if any(scene.audio for scene in book.scenes) else None
    if detail:
        data["scenes"] = [
            {
                "index": scene.index,
                "image_url": url_for("api.get_image", book_id=book.id, index=scene.index),
                **_picture_json(book, scene),
                "caption": scene.caption,
                "caption_lang": scene.caption_lang,
                "caption_source": scene.caption_source,
                "suggestions": scene.suggestions,
                "annotations": scene.annotations,
                "text": scene.text,
                "text_source": scene.text_source,
                # the text the last rewrite replaced: POST .../undo puts it back
                "previous_text": scene.previous_text,
                # after a regenerate: the writer's other candidates; POST .../choose {"alternative": i} puts one on the page
                "alternatives": list(scene.alternatives or []),
                # true when the last regenerate found no text the page had not shown: the page kept its text
                "nothing_new": scene.nothing_new,
                **_audio_json(book, scene),
            }
            for scene in book.scenes
        ]
        data["emails"] = [
            {"to": e.to_address, "sender_name": e.sender_name, "note": e.note, "status": e.status.value,
             "attempts": e.attempts, "error": e.last_error}
            for e in book.emails
        ]
    return data


@api.post("/books")
@token_required
def create_book():
    """Upload 1-10 photos (in order) and optional hints; starts captioning."""
    book_request = uploads.parse_book_request(request.form.get("book"))
    files = request.files.getlist("images")
    uploads.check_before_decoding(current_user(), book_request, files, current_settings())  # no pixels spent on a refusal
    photos = uploads.read_uploads(files, current_settings())
    book = service.create_book(current_user(), book_request, photos)
    response = jsonify(book_json(book))
    response.headers["Location"] = url_for("api.get_book", book_id=book.id)
    return response, 202


@api.get("/books")
@token_required
def list_books():
    """The caller's books, newest first, paginated (?page=1&per_page=20)."""
    page = service.page_number(request.args.get("page", 1, type=int))
    per_page = min(max(request.args.get("per_page", 20, type=int) or 20, 1), 100)
    books, total = service.books_page(current_user(), page, per_page)
    return jsonify(books=[book_json(b, detail=False) for b in books], page=page, per_page=per_page, total=total)


@api.get("/books/<book_id>")
def get_book(book_id: str):
    """Status, progress, captions, suggestions and paragraphs of one book (ETag: 304 when unchanged)."""
    return poll(book_id, book_json)


@api.put("/books/<book_id>/scenes")
@token_required
def put_scenes(book_id: str):
    """Give the hints for every scene of a book waiting for them."""
    book = service.owned_book(current_user(), book_id)
    update = ScenesUpdate.model_validate(json_body())
    service.put_annotations(book, update.scenes)
    return jsonify(book_json(book))


@api.post("/books/<book_id>/generate")
@token_required
def generate(book_id: str):
    """Start writing once the annotations are in."""
    book = service.owned_book(current_user(), book_id)
    service.start_writing(book)
    return jsonify(book_json(book)), 202


@api.patch("/books/<book_id>")
@token_required
def update_book(book_id: str):
    """Rename the book; a finished book's PDF and e-book are rebuilt with the new title."""
    book = service.owned_book(current_user(), book_id)
    service.rename(book, BookUpdate.model_validate(json_body()).title)
    return jsonify(book_json(book)), 202


@api.patch("/books/<book_id>/scenes/<int:index>")
@token_required
def edit_scene(book_id: str, index: int):
    """Replace one paragraph; the PDF is rebuilt."""
    book = service.owned_book(current_user(), book_id)
    edit = TextEdit.model_validate(json_body())
    service.edit_text(book, index, edit.text)
    return jsonify(book_json(book)), 202


@api.post("/books/<book_id>/scenes/<int:index>/regenerate")
@token_required
def regenerate(book_id: str, index: int):
    """Write one scene again; the PDF is rebuilt."""
    book = service.owned_book(current_user(), book_id)
    service.regenerate_scene(book, index)
    return jsonify(book_json(book)), 202


@api.post("/books/<book_id>/scenes/<int:index>/choose")
@token_required
def choose(book_id: str, index: int):
    """Put one of the rewrite's alternatives on the page (the text it replaces kept for undo); the PDF is rebuilt."""
    book = service.owned_book(current_user(), book_id)
    service.choose_alternative(book, index, AlternativeChoice.model_validate(json_body()).alternative)
    return jsonify(book_json(book)), 202


@api.post("/books/<book_id>/scenes/<int:index>/undo")
@token_required
def undo(book_id: str, index: int):
    """Put back the text the last rewrite of a scene replaced; the PDF is rebuilt."""
    book = service.owned_book(current_user(), book_id)
    service.undo_rewrite(book, index)
    return jsonify(book_json(book)), 202


@api.post("/books/<book_id>/retry")
@token_required
def retry(book_id: str):
    """Start a failed book again, keeping finished work."""
    book = service.owned_book(current_user(), book_id)
    service.retry_book(book)
    return jsonify(book_json(book)), 202


@api.post("/books/<book_id>/email")
@token_required
def email(book_id: str):
    """Mail the finished book to the caller or to `to`, from `sender_name` with `note` (both optional).

    Someone else's address needs a confirmed account (403 email_not_confirmed) and counts towards
    TALES_MAIL_PER_DAY (429 mail_limit).
    """
    book = service.owned_book(current_user(), book_id)
    try:
        body = EmailBook.model_validate(json_body(optional=True))
    except ValidationError as exc:
        if exc.errors()[0].get("type") == SENDER_REFUSED:  # the rule in full: what a name may not hold
            raise ApiError(400, "not_a_name", SENDER_RULE, "sender_name") from None
        raise
    to = str(body.to or current_user().email)
    check_mail_allowed(current_user(), to)
    service.request_email(book, to, body.sender_name, body.note)
    return jsonify(book_json(book)), 202


@api.get("/books/<book_id>/pdf")
@token_required
def get_pdf(book_id: str):
    """Download the book's PDF: the last finished one, also while an edit makes it again."""
    book = service.owned_book(current_user(), book_id)
    return _book_file(book, book.pdf_name, "application/pdf", "pdf", "PDF는")


@api.get("/books/<book_id>/epub")
@token_required
def get_epub(book_id: str):
    """Download the read-along e-book (EPUB 3, fixed layout; media overlays when the pages are narrated)."""
    book = service.owned_book(current_user(), book_id)
    return _book_file(book, book.epub_name, "application/epub+zip", "epub", "전자책(EPUB)은")


def _book_file(book: Book, name: str | None, mimetype: str, extension: str, what: str):
    # The name is set when a book first finishes and the file is replaced in one move (storage
    # publish), so while an edit remakes it the stored file is the previous, whole version.
    if not name:
        raise ApiError(409, "not_ready", f"{what} 아직 준비되지 않았어요. {service.state_message(book.status)}")
    try:
        return send_stored(service.storage(), name, mimetype, download_name=book_download(book, extension), allow_redirect=True)
    except FileNotFoundError:
        raise ApiError(409, "not_ready", f"{what} 다시 만들고 있어요. 잠시 후 다시 해 주세요.") from None


@api.get("/books/<book_id>/scenes/<int:index>/audio")
@token_required
def get_audio(book_id: str, index: int):
    """One page read aloud (MP3); its sentence timings are in the book's JSON."""
    book = service.owned_book(current_user(), book_id)
    audio = service.scene_of(book, index).audio
    if audio is None:
        raise ApiError(404, "not_found", f"{index}쪽에는 읽어 주는 소리가 없어요.")
    # The URL names the stored file (audio_url's `v`, a hash of the audio), so the browser may keep
    # what it fetched. A tab opened before the page was read again asks with an old `v`: it gets the
    # audio there is now, never kept, or the old URL would hold new audio when the old comes back.
    current = request.args.get("v") == PurePosixPath(audio.name).stem
    try:
        response = send_stored(service.storage(), audio.name, audio.media_type, max_age=86400 if current else 0,
                               ranges=True)
    except FileNotFoundError:
        raise ApiError(404, "not_found", f"{index}쪽의 읽어 주는 소리가 더는 저장되어 있지 않아요.") from None
    response.cache_control.public, response.cache_control.private = False, True  # a family's voice: no shared caches
    if not current:
        response.cache_control.no_store, response.cache_control.max_age = True, None
    return response


def audio_url(book: Book, index: int, audio) -> str:
    """The page's audio, versioned by the stored file (a page read again gets a new URL)."""
    # The stored name is new whenever the page is read again (Storage.audio_name hashes the audio).
    return url_for("api.get_audio", book_id=book.id, index=index, v=PurePosixPath(audio.name).stem)


def picture_url(book: Book, scene) -> str:
    """The page's picture as printed (web/api/pictures.py), versioned by the stored file (a redraw gets a new URL)."""
    return url_for("api.get_picture", book_id=book.id, index=scene.index, v=scene.picture_version)


def _picture_json(book: Book, scene) -> dict:
    return {
        # the page as printed: its drawing, or its photo (`photo` books, a page set back, a failed drawing)
        "picture_url": picture_url(book, scene),
        "picture": {
            "drawn": scene.printed_picture != scene.image_name,
            "waiting": scene.needs_picture,
            "use_photo": scene.use_photo,
            "source": scene.picture_source,
            "redraws": scene.redraws,
        },
    }


def _audio_json(book: Book, scene) -> dict:
    audio = scene.audio
    if audio is None:
        return {}
    return {
        "audio_url": audio_url(book, scene.index, audio),
        "audio_duration": audio.duration,
        "sentences": [{"text": s.text, "start": s.start, "end": s.end} for s in audio.sentences],
    }


@api.get("/books/<book_id>/scenes/<int:index>/image")
@token_required
def get_image(book_id: str, index: int):
    """The uploaded photo of one scene."""
    book = service.owned_book(current_user(), book_id)
    scene = service.scene_of(book, index)
    mimetype = MEDIA_TYPES.get(scene.image_format, "application/octet-stream")
    try:
        response = send_stored(service.storage(), scene.image_name, mimetype, max_age=3600)
    except FileNotFoundError:
        raise ApiError(404, "not_found", f"{index}쪽의 사진이 더는 저장되어 있지 않아요.") from None
    response.cache_control.public, response.cache_control.private = False, True  # the user's photos: no shared caches
    return response


@api.delete("/books/<book_id>")
@token_required
def delete_book(book_id: str):
    """Remove the book's rows and files."""
    service.delete_book(service.owned_book(current_user(), book_id))
    return "", 204
