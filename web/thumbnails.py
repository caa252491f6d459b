"""Small JPEG copies of the uploaded photos for the pages; a phone should not load 12 MP originals."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from PIL import Image, ImageOps

from shared.models import Scene
from shared.storage import Storage

SIZES = (320, 480, 960)


def thumbnail(storage: Storage, scene: Scene, size: int) -> Path:
    """The photo of `scene` fitted into size x size, made once and kept beside the book's files."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}")
    folder = storage.book_dir(scene.book_id) / "thumbs"
    # Named after the stored photo, so a file left by a deleted scene is never served for a new one.
    target = folder / f"{Path(scene.image_name).stem}-{size}.jpg"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(storage.path(scene.image_name)) as image:
        image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a fraction of full size
        small = ImageOps.exif_transpose(image).convert("RGB")
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    tmp = folder / f".tmp-{secrets.token_hex(6)}-{target.name}"
    small.save(tmp, "JPEG", quality=82, optimize=True, progressive=True)
    os.replace(tmp, target)  # two requests racing both write whole files; the last rename wins
    return target
