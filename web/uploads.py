"""A new book's request before anything is stored: its `book` JSON, the refusals that need no pixels, the photos checked.

The order matters for memory: every refusal that can be made without decoding (photo count, hints'
count, style, the books-in-progress limit) is made before the first photo is decoded.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from pydantic import ValidationError
from werkzeug.datastructures import FileStorage

from shared.config import Settings
from shared.models import User
from web.books_service import active_books, check_scene_count, check_style, decode_slot, refuse_over_quota
from web.db import current_settings
from web.errors import ApiError
from web.images import ImageRejected, sniff_image, without_metadata
from web.messages import validation_problem
from web.schemas import BookRequest, JsonRefused, parse_json


def parse_book_request(raw: str | None) -> BookRequest:
    """The `book` form field: JSON text, optional."""
    if raw is None or not raw.strip():
        return BookRequest()
    if "\ufffd" in raw:  # the form parser put it where bytes were not UTF-8
        raise ApiError(400, "invalid_json", "book 칸이 UTF-8 글자가 아니에요. UTF-8 JSON으로 보내 주세요.", "book")
    config = current_settings()
    try:
        data = parse_json(raw, max_bytes=config.TALES_MAX_JSON_BYTES, max_depth=config.TALES_MAX_JSON_DEPTH)
    except JsonRefused as exc:
        current_app.logger.info("book field refused: %s", exc)
        raise ApiError(400, "invalid_json", f"book 칸을 JSON으로 읽을 수 없어요. {config.TALES_MAX_JSON_BYTES // 1024}KB까지, "
                                            f"{config.TALES_MAX_JSON_DEPTH}단계까지 겹친 JSON 객체를 보내 주세요.", "book") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "book 칸에는 JSON 객체({ … })를 보내 주세요.", "book")
    try:
        return BookRequest.model_validate(data)
    except ValidationError as exc:
        problem = validation_problem(exc, prefix="book")
        raise ApiError(400, problem.code, problem.message, problem.field) from None


@dataclass(frozen=True)
class Upload:
    data: bytes
    extension: str
    format: str
    width: int
    height: int


def chosen_files(files: list[FileStorage]) -> list[FileStorage]:
    """The file parts that hold a photo (a form's empty file input sends one with no name)."""
    return [f for f in files if f and (f.filename or f.content_length)]


def check_before_decoding(user: User, request_: BookRequest | None, files: list[FileStorage], config: Settings) -> None:
    """Every refusal that needs no pixels, before any photo is decoded: photo count, scene count, style, quota.

    The quota is counted without the lock here (create_book counts it again under the lock), so a
    user at the limit costs the server no decoding at all.
    """
    count = len(chosen_files(files))
    check_photo_count(count, config)
    if request_ is not None:
        check_scene_count(request_, count)
        check_style(request_.style, config)
    refuse_over_quota(active_books(user), config)


def check_photo_count(count: int, config: Settings) -> None:
    if not count:
        raise ApiError(400, "no_images", f"이야기 순서대로 사진을 1장에서 {config.TALES_MAX_IMAGES}장까지 images 칸에 넣어 주세요.", "images")
    if count > config.TALES_MAX_IMAGES:
        raise ApiError(400, "too_many_images", f"사진은 한 책에 {config.TALES_MAX_IMAGES}장까지 넣을 수 있는데 {count}장을 보냈어요.", "images")


def read_uploads(files: list[FileStorage], config: Settings) -> list[Upload]:
    """Check the uploaded photos: 1..N files, each a real image within the limits."""
    files = chosen_files(files)
    check_photo_count(len(files), config)
    uploads = []
    for position, file in enumerate(files, start=1):
        data = file.read(config.TALES_MAX_IMAGE_BYTES + 1)
        label = f"{position}번째 사진" + (f"({file.filename})" if file.filename else "")
        try:
            info = sniff_image(data, filename=label, max_bytes=config.TALES_MAX_IMAGE_BYTES, max_pixels=config.TALES_MAX_IMAGE_PIXELS,
                               max_decode_bytes=config.TALES_MAX_DECODE_MB * 2**20, decode_slot=decode_slot())
        except ImageRejected as exc:
            raise ApiError(400, "bad_image", str(exc), f"images[{position - 1}]") from None
        stored, fmt = without_metadata(data, info)
        uploads.append(Upload(stored, info.extension, fmt, info.width, info.height))
    return uploads
