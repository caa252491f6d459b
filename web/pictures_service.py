"""A page's picture: drawn again with a new seed, or set back to its photo (docs/pictures.md)."""
from __future__ import annotations

from shared.lifecycle import to_rendering
from shared.models import Book
from shared.status import BookStatus
from shared.styles import PHOTO
from web.books_service import claim_book, scene_of, start_stage
from web.db import current_settings
from web.errors import ApiError


def _drawn_book(book: Book) -> None:
    if book.style == PHOTO:
        raise ApiError(409, "not_drawn", "this book keeps its photos as taken (style photo); nothing to draw")


def redraw(book: Book, index: int) -> None:
    """Draw page `index` again with a new seed, then rebuild the PDF and e-book (the book's row claimed first)."""
    _drawn_book(book)
    scene = scene_of(book, index)
    claim_book(book, [BookStatus.DONE], BookStatus.RENDERING)
    scene.redraws += 1  # the page's seed mixes this count in: a new picture, reproducible
    scene.picture_style, scene.use_photo = None, False
    start_stage(book, *to_rendering(book, current_settings()))


def choose_picture(book: Book, index: int, use_photo: bool) -> None:
    """Show page `index`'s photo, or its drawing again (drawn now if it has none), and rebuild the files."""
    _drawn_book(book)
    scene = scene_of(book, index)
    if scene.use_photo == use_photo:
        return
    claim_book(book, [BookStatus.DONE], BookStatus.RENDERING)
    scene.use_photo = use_photo
    start_stage(book, *to_rendering(book, current_settings()))
