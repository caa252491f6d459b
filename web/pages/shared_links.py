"""Shared books: the read-only page a share link opens, its files, and the owner's forms that make and end links.

Whoever holds a link `/s/<token>` sees the book without an account: pictures, text, read-aloud
audio, the PDF and e-book, and nothing that changes it or names its owner. Every answer there is
kept out of search engines, shared caches and other sites' Referer headers, and rate-limited per
client address. The older signed `/shared/<token>.pdf` links that mails carried keep working until
they expire (TALES_LINK_MAX_AGE_S).
"""
from __future__ import annotations

import logging
from pathlib import PurePosixPath

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from limits import parse_many
from PIL import Image

from shared.links import LinkExpired, LinkInvalid, read_book_token
from shared.models import Book, Scene
from shared.status import BookStatus
from web import books_service as service
from web import links_service as links
from web.auth import current_user, login_required
from web.db import current_settings, get_session
from web.downloads import book_download, send_stored
from web.errors import ApiError, error_page
from web.thumbnails import SIZES
from web.thumbnails import thumbnail as make_thumbnail

log = logging.getLogger(__name__)
bp = Blueprint("shared_links", __name__)

# The views anyone may call with a link; the owner's forms below need a login instead.
PUBLIC = frozenset({"book", "pdf", "epub", "picture", "audio", "download"})
GONE = "이 공유 링크는 끊겼거나 없는 주소예요. 책을 보내 준 분께 새 링크를 부탁해 주세요."
# How wide a page's picture is shown (style.css: one column on a phone, two from 720px in a 960px frame).
PAGE_PICTURE_SIZES = "(min-width: 960px) 448px, (min-width: 720px) calc(50vw - 34px), calc(100vw - 34px)"


@bp.record_once
def _template_helpers(state) -> None:
    state.app.jinja_env.globals.update(
        share_links=links.live_links, share_url=links.link_url, share_until=links.open_until,
        share_day_choices=day_choices, picture_srcset=picture_srcset, PAGE_PICTURE_SIZES=PAGE_PICTURE_SIZES,
        shared_audio_url=shared_audio_url,
    )


def shared_audio_url(token: str, scene: Scene) -> str:
    """A page's audio through a link, named by the stored file as the owner's is (a page read again: a new address)."""
    return url_for("shared_links.audio", token=token, index=scene.index, v=PurePosixPath(scene.audio.name).stem)


def picture_srcset(scene: Scene, endpoint: str, **values) -> str:
    """Every stored size of the page's picture with its width, so a browser takes what its screen needs (2x: twice).

    A copy fits the picture into size x size and is never enlarged, so sizes past the picture's own add nothing.
    """
    candidates: dict[int, str] = {}
    for size in SIZES:
        scale = min(1.0, size / max(scene.width, scene.height, 1))
        width = max(1, round(scene.width * scale))
        url = url_for(endpoint, index=scene.index, size=size, v=scene.picture_version, **values)
        candidates.setdefault(width, f"{url} {width}w")
    return ", ".join(candidates.values())


def day_choices() -> list[tuple[int, str, bool]]:
    """The periods the book page offers for a new link: (days, label with its last day, chosen by default)."""
    default, longest = links.day_bounds()
    choices = sorted({days for days in (7, 30, 90, 365) if days <= longest} | {default})
    return [(days, f"{'1년' if days == 365 else f'{days}일'} ({links.last_day(links.closing_time(days))}까지)", days == default)
            for days in choices]


# The page and files a link opens

@bp.before_request
def _rate_limit():
    """Count every request a link makes against the client address's allowance."""
    if request.endpoint is None or request.endpoint.removeprefix("shared_links.") not in PUBLIC:
        return None
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    limiter = current_app.extensions["talesrunner.limiter"]
    try:
        # Every window counts the request (a list, not a generator that all() would cut short).
        allowed = all([limiter.limiter.hit(item, "shared-link", get_remote_address())
                       for item in parse_many(current_settings().TALES_RATELIMIT_SHARED)])
    except Exception:  # noqa: BLE001 - Redis away: let people in, as the other limits do (RATELIMIT_SWALLOW_ERRORS)
        log.warning("the shared-link rate limit could not be checked", exc_info=True)
        return None
    if not allowed:
        return error_page(429)
    return None


@bp.after_request
def _private(response):
    """Keep what a link shows out of search engines, shared caches and other sites' Referer."""
    view = (request.endpoint or "").removeprefix("shared_links.")
    if view in PUBLIC:
        # The token is in the address: whoever sees it can open the book.
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        response.headers["Referrer-Policy"] = "no-referrer"
        # The page and the files are kept nowhere; a picture or a page's audio (versioned addresses) only
        # by the visitor's own browser for a while, so the page does not fetch them again on every layout.
        kept = view in ("picture", "audio") and response.status_code in (200, 206)
        response.headers["Cache-Control"] = "private, max-age=3600" if kept else "private, no-store"
    return response


@bp.errorhandler(links.LinkGone)
def _gone(_exc: links.LinkGone):
    """A link never made, ended, or whose book was deleted: 404, in the visitor's words."""
    return error_page(404, GONE)


@bp.errorhandler(links.LinkClosed)
def _closed(exc: links.LinkClosed):
    """A link past its period: 410, saying until when it was open."""
    return error_page(410, f"이 공유 링크는 {links.last_day(exc.link.expires_at)}까지 열려 있었어요. "
                           "책을 보내 준 분께 새 링크를 부탁해 주세요.")


def _shared_book(token: str) -> Book:
    """The book a live link opens; LinkGone (404) or LinkClosed (410) otherwise."""
    return links.open_link(token).book


@bp.get("/s/<token>")
def book(token: str):
    """The shared book, read-only: pictures, text, read-aloud and downloads; no login."""
    shared = _shared_book(token)
    return render_template("books/shared.html", book=shared, token=token)


@bp.get("/s/<token>/pdf")
def pdf(token: str):
    """The shared book's PDF, named after its title."""
    return _file(_shared_book(token), "pdf")


@bp.get("/s/<token>/epub")
def epub(token: str):
    """The shared book's read-along e-book (EPUB 3), named after its title."""
    return _file(_shared_book(token), "epub")


def _file(shared: Book, extension: str):
    name, mimetype = (shared.pdf_name, "application/pdf") if extension == "pdf" else (shared.epub_name, "application/epub+zip")
    not_ready = error_page(409, "책을 고쳐서 다시 만들고 있어요. 잠시 후 다시 열어 주세요.")
    if not name:
        return not_ready
    try:
        return send_stored(service.storage(), name, mimetype, download_name=book_download(shared, extension), allow_redirect=True)
    except FileNotFoundError:
        return not_ready


@bp.get("/s/<token>/pages/<int:index>/picture-<int:size>.jpg")
def picture(token: str, index: int, size: int):
    """One page's picture as printed (drawn, or the photo), shrunk to a stored size."""
    if size not in SIZES:
        abort(404)
    scene = service.scene_of(_shared_book(token), index)
    try:
        name = make_thumbnail(service.storage(), scene, size, service.decode_slots())
        return send_stored(service.storage(), name, "image/jpeg")
    except FileNotFoundError:
        abort(404)
    except (OSError, ValueError, Image.DecompressionBombError):
        log.exception("could not make a thumbnail of %s", scene.printed_picture)
        abort(404)


@bp.get("/s/<token>/pages/<int:index>/audio")
def audio(token: str, index: int):
    """One page read aloud (MP3), with byte ranges for phones' players."""
    page_audio = service.scene_of(_shared_book(token), index).audio
    if page_audio is None:
        abort(404)
    try:
        return send_stored(service.storage(), page_audio.name, page_audio.media_type, ranges=True)
    except FileNotFoundError:
        abort(404)


@bp.get("/shared/<token>.pdf")
def download(token: str):
    """The PDF named by a signed link from a mail (before share links); no login, as the link itself is the permission."""
    try:
        book_id = read_book_token(current_settings(), token)
    except LinkExpired:
        return error_page(410)
    except LinkInvalid:
        return error_page(404, "이 내려받기 링크는 올바르지 않아요. 메일에 있는 주소 전체를 그대로 열어 주세요.")
    shared = get_session().get(Book, book_id)
    if shared is None:
        return error_page(404, "이 그림책은 지워졌어요.")
    if shared.status is not BookStatus.DONE:
        # Being rebuilt after an edit: the link keeps working once the new PDF is in place.
        return error_page(409, "그림책을 고쳐서 다시 만들고 있어요. 잠시 후 다시 열어 주세요.")
    return _file(shared, "pdf")


# The owner's forms on the book page (the API twins are in web/api/links.py)

def _back(book_id: str, message: str, category: str):
    flash(message, f"{category}:share")
    return redirect(url_for("books.show", book_id=book_id, _anchor="share"), code=303)


@bp.post("/books/<book_id>/links")
@login_required
def make(book_id: str):
    """Make a link from the book page's form; the page lists it with its period."""
    owned = service.owned_book(current_user(), book_id)
    try:
        link = links.make_link(owned, request.form.get("days", type=int))
    except ApiError as exc:
        return _back(owned.id, exc.message, "error")  # links_service words every refusal for parents
    return _back(owned.id, f"공유 링크를 만들었어요. {links.open_until(link.expires_at)}. 복사해서 보내 주세요.", "success")


@bp.post("/books/<book_id>/links/<link_id>/delete")
@login_required
def revoke(book_id: str, link_id: str):
    """End a link from the book page's form: the address stops opening the book at once."""
    owned = service.owned_book(current_user(), book_id)
    try:
        links.revoke_link(owned, link_id)
    except ApiError as exc:
        return _back(owned.id, exc.message, "error")  # links_service words every refusal for parents
    return _back(owned.id, "링크를 끊었어요. 이제 그 주소로는 책을 볼 수 없어요.", "success")
