"""Pictures: the styles this server draws, a page's picture as printed, redraw, back to the photo."""
from __future__ import annotations

from flask import jsonify

from shared.styles import available_styles
from web import books_service as service
from web import pictures_service
from web.api.blueprint import api
from web.api.books import book_json
from web.api.users import json_body
from web.auth import current_user, token_required
from web.db import current_settings
from web.downloads import send_stored
from web.errors import ApiError
from web.images import MEDIA_TYPES
from web.schemas import PictureChoice


@api.get("/styles")
def list_styles():
    """The picture styles this server can draw (`photo`, the photos as taken, always)."""
    styles = available_styles(current_settings())
    return jsonify(styles=[{"id": s.id, "label": s.label, "description": s.description} for s in styles])


@api.get("/books/<book_id>/scenes/<int:index>/picture")
@token_required
def get_picture(book_id: str, index: int):
    """The page's picture as printed: its drawing in the book's style, or its photo."""
    book = service.owned_book(current_user(), book_id)
    scene = service.scene_of(book, index)
    name = scene.printed_picture
    mimetype = "image/jpeg" if name != scene.image_name else MEDIA_TYPES.get(scene.image_format, "application/octet-stream")
    try:
        response = send_stored(service.storage(), name, mimetype, max_age=3600)
    except FileNotFoundError:
        raise ApiError(404, "not_found", f"{index}쪽의 그림이 더는 저장되어 있지 않아요.") from None
    response.cache_control.public, response.cache_control.private = False, True  # the family's pictures: no shared caches
    return response


@api.post("/books/<book_id>/scenes/<int:index>/redraw")
@token_required
def redraw(book_id: str, index: int):
    """Draw one page again with a new seed; the PDF and e-book are rebuilt."""
    book = service.owned_book(current_user(), book_id)
    pictures_service.redraw(book, index)
    return jsonify(book_json(book)), 202


@api.put("/books/<book_id>/scenes/<int:index>/picture")
@token_required
def choose_picture(book_id: str, index: int):
    """Show one page's photo (`use_photo: true`) or its drawing (`false`); the files are rebuilt."""
    book = service.owned_book(current_user(), book_id)
    choice = PictureChoice.model_validate(json_body())
    pictures_service.choose_picture(book, index, choice.use_photo)
    return jsonify(book_json(book)), 202
