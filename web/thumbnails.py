"""Small JPEG copies of the uploaded photos for the pages; a phone should not load 12 MP originals."""
from __future__ import annotations

import io

from PIL import Image, ImageOps

from shared.models import Scene
from shared.storage import Storage

SIZES = (320, 480, 960)


def thumbnail(storage: Storage, scene: Scene, size: int) -> str:
    """The stored name of `scene`'s photo fitted into size x size, made once and kept beside the book's files."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}")
    name = storage.thumb_name(scene.book_id, scene.image_name, size)
    if storage.exists(name):
        return name
    with storage.local_copy(scene.image_name) as source, Image.open(source) as image:
        image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a fraction of full size
        small = ImageOps.exif_transpose(image).convert("RGB")
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=82, optimize=True, progressive=True)
    storage.write_bytes(name, buffer.getvalue())  # two requests racing both write whole files; the last wins
    return name
