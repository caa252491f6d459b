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

from shared.decoding import DRAFT_FORMATS, check_decodes, decode_bytes
from shared.image_files import jpeg_coefficient_bytes, jpeg_without_metadata, png_without_metadata

# Formats a phone or camera produces that Pillow reads here, and the extension we store them under.
# HEIF is what iPhones save by default (pillow-heif, registered in shared.decoding).
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg",
                   "HEIF": "heic"}
# The Content-Type each is served with: an MPO (a camera's JPEG with a second frame) is a JPEG to
# browsers, which know no image/mpo; pillow-heif's HEIF is the iPhone's HEIC.
MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
               "BMP": "image/bmp", "TIFF": "image/tiff", "HEIF": "image/heic"}
MB = 2**20
EXIF_ORIENTATION = 0x0112


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


def without_metadata(data: bytes, info: ImageInfo) -> tuple[bytes, str]:
    """The upload as it is stored, and its format: a JPEG or PNG without its metadata, not re-encoded.

    Comments, GPS position, camera data, XMP and text chunks go (shared/image_files.py); the EXIF
    orientation and the colour profile stay, so every copy is still turned and coloured right.
    An MPO keeps its first frame, a plain JPEG.
    """
    if info.format in ("JPEG", "MPO"):
        with Image.open(io.BytesIO(data)) as image:  # the header again: sniff_image's was spent on verify()
            orientation = _orientation(image)
        return jpeg_without_metadata(data, orientation), "JPEG"
    if info.format == "PNG":
        return png_without_metadata(data), info.format
    return data, info.format


def sniff_image(
    data: bytes, *, filename: str, max_bytes: int, max_pixels: int, max_decode_bytes: int,
    decode_slot: ContextManager | None = None,
) -> ImageInfo:
    """Check one uploaded file and return what it is, or raise ImageRejected.

    The header gives the format and size: the pixel count and the memory the decoded photo would
    take (with a multi-scan JPEG's whole-image coefficients) are checked before any pixel is
    decoded. Then the whole file is decoded (JPEG at a reduced size), inside `decode_slot`, so a
    truncated or corrupt file is refused here, not in the worker.
    """
    if not data:
        raise ImageRejected(f"{filename}: 빈 파일이에요. 사진을 다시 골라 주세요.")
    if len(data) > max_bytes:
        raise ImageRejected(f"{filename}: 사진 한 장은 {max_bytes / MB:.0f}MB까지 올릴 수 있는데 이 사진은 {len(data) / MB:.1f}MB예요. "
                            "더 작게 저장해 주세요.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageRejected(
                        f"{filename}: {width}x{height} 크기예요. {max_pixels / 1e6:.0f}백만 화소(megapixels)보다 작은 사진을 골라 주세요."
                    )
                cost = decode_bytes(fmt, (width, height), head=data)
                if cost > max_decode_bytes and fmt in DRAFT_FORMATS and jpeg_coefficient_bytes(data):
                    raise ImageRejected(
                        f"{filename}: {width}x{height} 크기의 점진적(progressive) JPEG 파일은 열기에 너무 커요. "
                        "일반 JPEG로 다시 저장하거나 더 작게 줄여 주세요."
                    )
                if cost > max_decode_bytes:
                    raise ImageRejected(
                        f"{filename}: {width}x{height} 크기의 {fmt or '이미지'} 파일은 열기에 너무 커요. JPEG로 저장하거나 더 작게 줄여 주세요."
                    )
                image.verify()
            if fmt in ALLOWED_FORMATS:
                with decode_slot or contextlib.nullcontext():
                    check_decodes(io.BytesIO(data))
    except (ImageRejected, DecodeBusy):  # a busy server is a 503 to come back, not a broken photo
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(f"{filename}: 사진이 너무 커서 열 수 없어요. 더 작게 줄여 주세요.") from None
    except Exception:
        raise ImageRejected(f"{filename}: 사진을 열 수 없어요. 파일이 깨졌거나 사진이 아닌 것 같아요. "
                            "휴대폰이나 카메라로 찍은 사진(JPEG, HEIC, PNG 등)을 골라 주세요.") from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected(f"{filename}: {fmt or '이'} 형식은 받을 수 없어요. JPEG, HEIC, PNG, WEBP 사진을 골라 주세요.")
    return ImageInfo(format=fmt, extension=ALLOWED_FORMATS[fmt], width=width, height=height)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation; 1 where the EXIF is missing or unreadable (the photo is then taken as it is stored)."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block costs the turn, not the photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
