"""Upload checks: the content is sniffed by Pillow, never trusted by name or header."""
from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ContextManager

from PIL import Image

from shared.decoding import check_decodes, decode_bytes

# Formats a phone or camera produces that Pillow reads here, and the extension we store them under.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


class ImageRejected(ValueError):
    """An upload that is not an image we accept; the message says why."""


class DecodeBusy(Exception):
    """Every decoding slot of this process stayed taken for the whole wait."""


class DecodeSlots:
    """At most `slots` photos decoded at once in this process, and one decode per derivative.

    Ten parallel requests for the same uncached thumbnail make it once; the other nine wait and
    are served the file it left. Each decode fits the per-photo budget, so a web process holds at
    most `slots` x TALES_MAX_DECODE_MB of pixels whatever its callers do.
    """

    def __init__(self, slots: int, wait_s: float = 60.0):
        self._slots = threading.BoundedSemaphore(slots)
        self._wait_s = wait_s
        self._keys: dict[str, list] = {}  # key -> [lock, users]
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._wait_s):
            raise DecodeBusy("every photo-decoding slot stayed busy")
        try:
            yield
        finally:
            self._slots.release()

    @contextlib.contextmanager
    def only_one(self, key: str) -> Iterator[None]:
        """Callers with the same key run one after the other (the second finds the first's file)."""
        with self._guard:
            entry = self._keys.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    self._keys.pop(key, None)


@dataclass(frozen=True)
class ImageInfo:
    format: str
    extension: str
    width: int
    height: int


def sniff_image(
    data: bytes, *, filename: str, max_bytes: int, max_pixels: int, max_decode_bytes: int,
    decode_slot: ContextManager | None = None,
) -> ImageInfo:
    """Check one uploaded file and return what it is, or raise ImageRejected.

    The header gives the format and size: the pixel count and the memory the decoded photo would
    take are checked before any pixel is decoded. Then the whole file is decoded (JPEG at a reduced
    size), inside `decode_slot`, so a truncated or corrupt file is refused here, not in the worker.
    """
    if not data:
        raise ImageRejected(f"{filename}: the file is empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"{filename}: {len(data) / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.0f} MB limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageRejected(
                        f"{filename}: {width}x{height} is more than {max_pixels / 1e6:.0f} megapixels"
                    )
                cost = decode_bytes(fmt, (width, height))
                if cost > max_decode_bytes:
                    raise ImageRejected(
                        f"{filename}: a {width}x{height} {fmt or 'image'} needs {cost / 2**20:.0f} MB of memory to open, "
                        f"more than the {max_decode_bytes / 2**20:.0f} MB limit; save it as JPEG or make it smaller"
                    )
                image.verify()
            if fmt in ALLOWED_FORMATS:
                with decode_slot or contextlib.nullcontext():
                    check_decodes(io.BytesIO(data))
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(f"{filename}: the image is too large to process") from None
    except Exception:
        raise ImageRejected(f"{filename}: not a readable image, or cut short (JPEG, PNG, WEBP, GIF, BMP or TIFF)") from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected(f"{filename}: {fmt or 'this'} format is not accepted; use JPEG, PNG or WEBP")
    return ImageInfo(format=fmt, extension=ALLOWED_FORMATS[fmt], width=width, height=height)
