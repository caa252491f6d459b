"""Small JPEG copies of the pages' pictures (photos and drawings); a phone should not load 12 MP originals.

Made once per photo and size and kept beside the book's files; made under the web process's
decoding slots (`web.images.DecodeSlots`), one request per copy, so parallel requests cannot make
a web process decode without bound.
"""
from __future__ import annotations

import io

from PIL import Image, ImageOps

from shared.decoding import load_reduced
from shared.models import Scene
from shared.storage import Storage
from web.images import DecodeSlots

SIZES = (320, 480, 960)


def thumbnail(storage: Storage, scene: Scene, size: int, slots: DecodeSlots) -> str:
    """The stored name of `scene`'s picture as printed (its drawing, or its photo) fitted into size x size,
    made once and kept beside the book's files (a drawing has a name of its own, so its own copies)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}")
    picture = scene.printed_picture
    name = storage.thumb_name(scene.book_id, picture, size)
    if storage.exists(name):
        return name
    with slots.only_one(name):
        if storage.exists(name):  # made while this request waited
            return name
        with slots.slot(), storage.local_copy(picture) as source, Image.open(source) as image:
            reduced = load_reduced(image, (size * 2, size * 2))
            small = ImageOps.exif_transpose(reduced).convert("RGB")
            small.info.clear()  # no metadata rides into the copy: a 64 KB comment breaks Pillow's JPEG writer
            del reduced
        small.thumbnail((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=82, optimize=True, progressive=True)
        storage.write_bytes(name, buffer.getvalue())
    return name
