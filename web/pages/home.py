"""Pages: the front page, my books (paginated), and the new-book form."""
from __future__ import annotations

import io
from urllib.parse import urlsplit

from flask import Blueprint, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from PIL import Image
from sqlalchemy.exc import DBAPIError

from shared.audio import text_spans
from shared.lifecycle import note_for_parents
from shared.safety import find_unsafe
from shared.styles import PHOTO, available_styles
from shared.vocabulary import AGE_BANDS
from web import books_service as service
from web import transcriptions_service
from web.api.books import audio_url
from web.auth import current_user, login_required
from web.db import current_settings
from web.errors import KOREAN, ApiError, korean, page_asks_json
from web.messages import unsafe_message
from web.pages import forms, labels
from web.pages.forms import error_summary, read_scenes
from web.schemas import BookRequest
from web.uploads import read_uploads

bp = Blueprint("home", __name__)


@bp.record_once
def _vocabulary(state) -> None:
    # Jinja globals, not context: imported macros (books/_fields.html) see them too.
    state.app.jinja_env.globals.update(forms.template_globals(), **labels.template_globals())
    state.app.jinja_env.filters["local_time"] = labels.local_time
    state.app.jinja_env.filters["file_size"] = labels.file_size
    state.app.jinja_env.filters["for_parents"] = note_for_parents
    state.app.jinja_env.filters["parent_reason"] = labels.parent_reason
    state.app.jinja_env.globals["audio_url"] = audio_url
    state.app.jinja_env.globals["text_spans"] = text_spans


@bp.app_context_processor
def _signed_in() -> dict:
    try:
        return {"user": current_user()}
    except DBAPIError:  # an error page while the database is away: shown as to a visitor
        return {"user": None}


@bp.get("/")
def index():
    """The front page for visitors; signed-in users go to their books."""
    if current_user() is not None:
        return redirect(url_for("home.my_books"))
    return render_template("index.html")


@bp.get("/books")
@login_required
def my_books():
    """My books with their status, newest first, a page at a time."""
    per_page = current_settings().TALES_BOOKS_PER_PAGE
    page = service.page_number(request.args.get("page", 1, type=int))
    books, total = service.books_page(current_user(), page, per_page)
    pages = max((total + per_page - 1) // per_page, 1)
    if page > pages:
        return redirect(url_for("home.my_books", page=pages))
    return render_template("books/list.html", books=books, page=page, pages=pages, total=total)


def _new_book_form(problems: list[str], status: int, form: dict | None = None, errors: dict | None = None):
    config = current_settings()
    return render_template(
        "books/new.html", problems=problems, form=form or {}, errors=errors or {},
        max_images=config.TALES_MAX_IMAGES, max_mb=config.TALES_MAX_IMAGE_BYTES // 2**20,  # MB as the refusals count them (MiB)
        # Hints after the captions help only when photos are captioned: without captions every
        # photo would get the same generic keywords, so the page does not offer the choice.
        captions_on=config.TALES_CAPTIONER != "none",
        styles=available_styles(config), illustrator=config.TALES_ILLUSTRATOR,
        illustrator_host=urlsplit(config.OPENAI_BASE_URL or "https://api.openai.com").hostname,
        **transcriptions_service.page_flags(),  # the record buttons: offered only where a transcriber is set
    ), status


def _refusal(problems: list[str], status: int, form: dict, fields: dict[str, str], code: str = "invalid"):
    """The form again (HTML), or for the page's script its problems keyed by form field name (JSON)."""
    if not page_asks_json():
        if status == 400:  # browsers never refill a file input, so the message says to pick the photos again
            problems = [*problems, "사진을 다시 골라 주세요 (보안 때문에 브라우저가 고른 사진을 기억하지 못해요)."]
        return _new_book_form(problems, status, form, {k: v for k, v in fields.items()
                                                       if k in ("title", "age", "style", "dedication", *forms.BOOK_DEFAULTS.values())})
    return jsonify(error={"code": code, "message": problems[0]}, problems=problems, fields=fields), status


# The style previews are drawn from a small copy the page makes of the first photo: at most this many
# pixels a side and bytes, so a preview costs the web process a few milliseconds and little memory.
PREVIEW_SIDE = 320
PREVIEW_MAX_BYTES = 512 * 1024


@bp.post("/books/new/preview")
@login_required
def style_preview():
    """The first photo (a small copy made by the page) drawn in one style, for the style picker."""
    from shared.drawing import draw_page  # OpenCV: loaded by the first preview, not by every web process start

    style = request.form.get("style", "")
    if style == PHOTO or style not in {choice.id for choice in available_styles(current_settings())}:
        raise ApiError(400, "unknown_style", "choose one of the styles this server draws", "style")
    upload = request.files.get("photo")
    data = upload.read(PREVIEW_MAX_BYTES + 1) if upload else b""
    if not data or len(data) > PREVIEW_MAX_BYTES:
        raise ApiError(400, "invalid_preview", f"send a small JPEG or PNG of at most {PREVIEW_SIDE} px as `photo`", "photo")
    try:
        with service.decode_slot(), Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG") or max(image.size) > PREVIEW_SIDE:
                raise ApiError(400, "invalid_preview", f"send a small JPEG or PNG of at most {PREVIEW_SIDE} px as `photo`", "photo")
            picture = image.convert("RGB")
    except (OSError, Image.DecompressionBombError):
        raise ApiError(400, "invalid_preview", "the preview photo cannot be read", "photo") from None
    buffer = io.BytesIO()
    draw_page(picture, style, seed=0).save(buffer, "JPEG", quality=85)
    response = make_response(buffer.getvalue())
    response.mimetype = "image/jpeg"
    response.cache_control.no_store = True  # the family's photo: kept nowhere
    return response


@bp.get("/books/new/check")
@login_required
def check_new_book():
    """Whether a new book would be taken now, and the photo limits, before the page uploads anything."""
    config, user = current_settings(), current_user()
    active = service.active_books(user)
    refused = active >= config.TALES_MAX_ACTIVE_BOOKS
    return jsonify(
        can_create=not refused, active_books=active, max_active_books=config.TALES_MAX_ACTIVE_BOOKS,
        message=KOREAN["too_many_books_in_progress"] if refused else None,
        max_images=config.TALES_MAX_IMAGES, max_image_bytes=config.TALES_MAX_IMAGE_BYTES,
        csrf_token=generate_csrf(),  # a fresh token for a page whose token went stale
    )


def _form_problems(form, count: int) -> tuple[list | None, list[str], dict[str, str]]:
    """The scene annotations (None when hints come later or are wrong), the problems, and them by field."""
    later = form.get("hints") == "later"
    annotations, scene_forms = (None, []) if later else read_scenes(form, count)
    fields: dict[str, str] = {}
    if len(form.get("title", "").strip()) > 200:
        fields["title"] = "제목은 200자까지 쓸 수 있어요."
    elif find_unsafe(form.get("title")):
        fields["title"] = unsafe_message("책 제목")
    age = form.get("age", "").strip()
    if age and age not in AGE_BANDS:
        fields["age"] = "읽을 나이를 목록에서 골라 주세요."
    if form.get("style", PHOTO) not in {style.id for style in available_styles(current_settings())}:
        fields["style"] = "그림 스타일을 목록에서 골라 주세요."
    dedication = form.get("dedication", "").strip()
    if len(dedication) > 100:
        fields["dedication"] = "받는 사람은 100자까지 쓸 수 있어요."
    elif find_unsafe(dedication):
        fields["dedication"] = unsafe_message("받는 사람")
    problems = [*fields.values(), *error_summary(scene_forms)]
    for position, scene in enumerate(scene_forms):
        fields.update({forms.field_name(position, name): message for name, message in scene.errors.items()})
    return annotations, problems, fields


@bp.route("/books/new", methods=["GET", "POST"])
@login_required
def new_book():
    """Pick photos in story order, write hints now or after the captions arrive, and submit."""
    if request.method == "GET":
        return _new_book_form([], 200)
    form = forms.typed(request.form)
    files = [f for f in request.files.getlist("images") if f and f.filename]
    annotations, problems, fields = _form_problems(form, len(files))
    book_hints, hint_problems = forms.read_book_hints(form)
    problems += list(hint_problems.values())  # said once here, whichever scenes took the value too
    fields.update(hint_problems)
    age = form.get("age", "").strip() or None
    keep = {"title": form.get("title", ""), "age": age or "", "email_when_done": bool(form.get("email_when_done")),
            "style": form.get("style", PHOTO), "dedication": form.get("dedication", ""),
            "hints": form.get("hints", "now"), **{key: form.get(key, "") for key in forms.BOOK_DEFAULTS.values()}}
    code = "invalid"
    try:  # a parent at the limit of books in progress costs no photo decoding
        service.refuse_over_quota(service.active_books(current_user()), current_settings())
    except ApiError as exc:
        return _refusal([korean(exc)], exc.status, keep, {}, exc.code)
    try:
        uploads = read_uploads(files, current_settings())
    except ApiError as exc:
        problems.insert(0, korean(exc))
        fields.setdefault("images", korean(exc))
        if exc.field and exc.field.startswith("images["):  # one photo: the page shows why on that photo's row
            fields[exc.field] = exc.message
        code = exc.code
    if problems:
        return _refusal(problems, 400, keep, fields, code)
    book_request = BookRequest(title=keep["title"].strip() or None, age=age, scenes=annotations,
                               book_hints=book_hints, email_when_done=keep["email_when_done"],
                               style=keep["style"], dedication=keep["dedication"].strip() or None)
    try:
        book = service.create_book(current_user(), book_request, uploads)
    except ApiError as exc:
        return _refusal([korean(exc)], exc.status, keep, {"images": korean(exc)} if exc.field else {}, exc.code)
    flash("사진을 받았어요. 그림책을 만드는 동안 이 페이지에서 진행 상황을 볼 수 있어요.", "success")
    location = url_for("books.show", book_id=book.id)
    if page_asks_json():
        return jsonify(id=book.id, location=location), 201
    return redirect(location, code=303)
