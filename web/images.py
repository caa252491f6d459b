"""Upload checks: the content is sniffed by Pillow, never trusted by name or header."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

# Formats a phone or camera produces that Pillow reads here, and the extension we store them under.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


class ImageRejected(ValueError):
    """An upload that is not an image we accept; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    extension: str
    width: int
    height: int


def sniff_image(data: bytes, *, filename: str, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check one uploaded file and return what it is, or raise ImageRejected."""
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
                image.verify()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(f"{filename}: the image is too large to process") from None
    except Exception:
        raise ImageRejected(f"{filename}: not a readable image (JPEG, PNG, WEBP, GIF, BMP or TIFF)") from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected(f"{filename}: {fmt or 'this'} format is not accepted; use JPEG, PNG or WEBP")
    return ImageInfo(format=fmt, extension=ALLOWED_FORMATS[fmt], width=width, height=height)
