"""Small JPEG copies of the uploaded photos for the pages; a phone should not load 12 MP originals.

Made once per photo and size and kept beside the book's files; made under the web process's
decoding slots (`web.images.DecodeSlots`), one request per copy, so parallel requests cannot make
a web process decode without bound.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from PIL import Image, ImageOps

from shared.decoding import load_reduced
from shared.models import Scene
from shared.storage import Storage
from web.images import DecodeSlots

SIZES = (320, 480, 960)


def thumbnail(storage: Storage, scene: Scene, size: int, slots: DecodeSlots) -> Path:
    """The photo of `scene` fitted into size x size, made once and kept beside the book's files."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}")
    folder = storage.book_dir(scene.book_id) / "thumbs"
    # Named after the stored photo, so a file left by a deleted scene is never served for a new one.
    target = folder / f"{Path(scene.image_name).stem}-{size}.jpg"
    if target.is_file():
        return target
    with slots.only_one(str(target)):
        if target.is_file():  # made while this request waited
            return target
        with slots.slot(), Image.open(storage.path(scene.image_name)) as image:
            reduced = load_reduced(image, (size * 2, size * 2))
            small = ImageOps.exif_transpose(reduced).convert("RGB")
            del reduced
        small.thumbnail((size, size), Image.Resampling.LANCZOS)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{secrets.token_hex(6)}-{target.name}"
        try:
            small.save(tmp, "JPEG", quality=82, optimize=True, progressive=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target
