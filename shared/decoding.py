"""How much memory a photo takes once decoded, and decoding it no larger than needed.

Pillow holds most decoded images at 4 bytes per pixel (RGB is stored as RGBX), so a 60 MP PNG
takes 240 MB however small its file is (an all-zero PNG compresses 1000:1). JPEG can shrink by
1/2, 1/4 or 1/8 while decoding (`draft`); PNG, WEBP, GIF, BMP and TIFF cannot, so they cost their
full size. A JPEG of several scans (progressive, or sequential with one scan per colour) cannot
shrink all of it: libjpeg keeps every DCT coefficient of the whole image, 2 bytes each, until the
last scan is in, whatever the draft size (a 7700x7700 progressive JPEG: 178 MB at 4:2:0, 356 MB at
4:4:4, beside its 59 MB of reduced pixels). The upload check refuses a photo whose cost is over the
budget, from its header, before anything is decoded (docs/architecture.md, "Memory").
"""
from __future__ import annotations

import ctypes
import math
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps

from shared.image_files import jpeg_coefficient_bytes

# HEIC/HEIF (iPhones' default) opens like any other format, upright: pillow-heif applies the
# file's rotation and mirroring while decoding and reports EXIF orientation 1.
pillow_heif.register_heif_opener()

# Formats whose decoder scales while decoding.
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
# The largest box any derivative needs: print copies (at most ~1200 px at 180 dpi) and
# 960 px thumbnails decoded at twice their size. Nothing is ever decoded larger than this needs.
WORK_SIDE = 2048
BYTES_PER_PIXEL = 4


def draft_scale(size: tuple[int, int], box: tuple[int, int]) -> int:
    """The factor Pillow's JPEG draft picks for `box`: the largest of 8, 4, 2, 1 that keeps the box covered."""
    fits = min(size[0] // max(box[0], 1), size[1] // max(box[1], 1))
    return next((d for d in (8, 4, 2, 1) if fits >= d), 1)


def decode_bytes(fmt: str, size: tuple[int, int], side: int = WORK_SIDE, head: bytes = b"") -> int:
    """Bytes decoding the photo takes when opened for a `side` x `side` derivative.

    `head` is the start of the file (through its first scan header): a JPEG of several scans
    costs its whole-image coefficients on top of the pixels.
    """
    width, height = size
    coefficients = 0
    if fmt in DRAFT_FORMATS:
        scale = draft_scale(size, (side, side))
        width, height = math.ceil(width / scale), math.ceil(height / scale)
        coefficients = jpeg_coefficient_bytes(head)
    return width * height * BYTES_PER_PIXEL + coefficients


def load_reduced(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """Decode an opened image at the smallest size that still covers `box` (any format).

    JPEG shrinks while decoding; other formats are decoded in full and reduced at once by an
    integer factor, so the full-size pixels are dropped before any further copy is made.
    """
    if image.format in DRAFT_FORMATS:
        image.draft(None, box)
    image.load()
    factor = min(image.width // max(box[0], 1), image.height // max(box[1], 1))
    if factor >= 2:
        try:
            reduced = image.reduce(factor)
        except ValueError:  # modes reduce() does not take (P, 1): keep the full image
            return image
        reduced.info = dict(image.info)
        image.close()  # frees the full-size pixels now, not when the caller's `with` ends
        return reduced
    return image


# Captioners look at about 384 px; a 1024 px copy leaves room for any of them.
CAPTION_SIDE = 1024


def open_for_captioning(path: Path) -> Image.Image:
    """A photo as the captioners see it: decoded reduced, turned upright (EXIF), RGB, at most 1024 px."""
    return open_upright(path, CAPTION_SIDE)


def open_upright(path: Path, side: int) -> Image.Image:
    """A photo decoded reduced, turned upright (EXIF), RGB, at most `side` px on its long side."""
    with Image.open(path) as image:
        small = ImageOps.exif_transpose(load_reduced(image, (side, side))).convert("RGB")
    small.info.clear()  # pixels only: a copy saved from it must not carry the photo's comment or EXIF
    small.thumbnail((side, side))
    return small


def check_decodes(path_or_file: Path | object) -> None:
    """Decode the whole file (JPEG at a reduced size); raises OSError for a truncated or corrupt one."""
    with Image.open(path_or_file) as image:
        if image.format in DRAFT_FORMATS:
            image.draft("RGB", (WORK_SIDE, WORK_SIDE))
        image.load()


# glibc's mallopt parameter for the size from which an allocation gets its own mapping.
_M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 4 * 2**20


def return_large_blocks_to_the_os() -> bool:
    """Have every allocation of 4 MiB or more mapped on its own, so freeing it gives it back at once.

    Decoded photos are allocated in 16 MiB blocks (Pillow's arena). glibc raises its mmap threshold
    after the first such block is freed, and later blocks come from the allocating thread's heap,
    which keeps them resident once freed: a threaded web process then holds every thread's largest
    decode at the same time, and the decode slots no longer bound its memory. A fixed threshold
    keeps the bound. Returns False where the C library is not glibc (nothing to change there).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))
    except (OSError, AttributeError):
        return False
