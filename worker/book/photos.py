"""Photos prepared for print: upright, flattened, scaled to the size drawn, re-encoded as JPEG, cached.

A phone photo is 12 MP or more; a picture-book page needs about 180 dpi at the size the photo is
drawn, which on A5 is well under 1 MP. Embedding the original would make a 40 MB book, so every
photo goes through `print_copy`, which writes a small JPEG into the book's print folder. The name
of that copy is derived from the source file and the target pixel box, so a rebuild after a text
edit finds it and never decodes the original again, and a page-size change gets fresh copies.

When the copy must be cut to the frame's shape, the cut keeps the subject: the faces OpenCV finds
(faces.py), else the middle. Where that subject ended up in the copy (its `focus`) is written into
the JPEG's comment, so a page that shows only part of the copy can centre on it, even on a rebuild
that reads nothing but the copy's header.
"""
from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

from shared.decoding import load_reduced
from worker.book import faces

log = logging.getLogger(__name__)

PRINT_DPI = 180  # middle of the 150-200 dpi that looks sharp on paper from a home or photo printer
JPEG_QUALITY = 85
# Filling a frame may cut away at most this share of the photo; beyond it the whole photo is shown.
# 1.0 always fills (a full-bleed page).
MAX_CROP = 0.2
FILL = 1.0
# Bump when the way copies are made changes, so old cached copies are not reused.
# 2: crops keep the detected faces (else the middle) and the copy records its focus.
_CACHE_VERSION = "2"
_FOCUS_TAG = "talesrunner-focus"
_FULL = (0.0, 0.0, 1.0, 1.0)
# EXIF orientations that swap width and height (5-8 include a quarter turn).
_QUARTER_TURNS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class PrintPhoto:
    """A print-ready JPEG and its pixel size."""

    path: Path
    size: tuple[int, int]
    reused: bool
    # The subject's centre in the copy (fractions of its width and height, from the top left).
    focus: tuple[float, float] = (0.5, 0.5)


def pixels_for(points: float, dpi: int = PRINT_DPI) -> int:
    """Pixels needed to print `points` (1/72 inch) at `dpi`."""
    return max(1, round(points / 72 * dpi))


def print_copy(source: Path, cache_dir: Path, box: tuple[int, int], max_crop: float = MAX_CROP) -> PrintPhoto:
    """The photo upright, fitted into `box` pixels (filled when a crop of at most `max_crop` does it).

    A crop keeps the faces in the photo (or its middle); `FILL` always crops to the box's shape.
    The copy is cached in `cache_dir` under a name made from the source file (name, size and
    modification time), the box and the crop, so asking again costs one stat and one header read.
    """
    source = Path(source)
    target = cache_dir / _cache_name(source, box, max_crop)
    if target.is_file():
        try:
            with Image.open(target) as cached:
                return PrintPhoto(target, cached.size, reused=True, focus=_read_focus(cached))
        except OSError:
            # A copy that cannot be read (disk trouble) is made again rather than failing the book.
            log.warning("cached print copy %s is unreadable; making it again", target)
    image, focus = _decode_scaled(source, box, max_crop)
    _save_atomic(image, target, f"{_FOCUS_TAG} {focus[0]:.4f} {focus[1]:.4f}")
    return PrintPhoto(target, image.size, reused=False, focus=focus)


def upright_size(image: Image.Image) -> tuple[int, int]:
    """The size the photo is seen at, once its EXIF orientation is applied (header only, no decode)."""
    width, height = image.size
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)


def plan(
    size: tuple[int, int], box: tuple[int, int], max_crop: float, subject: faces.Box | None = None
) -> tuple[tuple[float, float, float, float], tuple[int, int]]:
    """Where to cut the photo (fractions of its width and height) and the output size in pixels.

    A photo whose shape is close to the box's is cropped to fill it, which keeps every page's
    frame the same; one that is far off (a portrait photo in a landscape frame) is shown whole.
    Photos smaller than the box are never enlarged here: the PDF scales them when drawing.
    The crop is centred on `subject` (a box in fractions, see faces.crop_around), else the middle.
    """
    width, height = size
    box_w, box_h = box
    photo_ratio, box_ratio = width / height, box_w / box_h
    if photo_ratio > box_ratio:  # wider than the frame: trim the sides
        keep = box_ratio / photo_ratio
        crop = faces.crop_around((keep, 1.0), subject)
    else:  # taller: trim top and bottom
        keep = photo_ratio / box_ratio
        crop = faces.crop_around((1.0, keep), subject)
    if 1 - keep <= max_crop:
        crop_w, crop_h = width * (crop[2] - crop[0]), height * (crop[3] - crop[1])
        scale = min(1.0, box_w / crop_w)
        return crop, (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
    scale = min(1.0, box_w / width, box_h / height)
    return _FULL, (max(1, round(width * scale)), max(1, round(height * scale)))


def _read_focus(image: Image.Image) -> tuple[float, float]:
    """The focus a copy was saved with (the middle for a copy without one)."""
    comment = image.info.get("comment", b"")
    parts = (comment.decode("ascii", "replace") if isinstance(comment, bytes) else str(comment)).split()
    if len(parts) == 3 and parts[0] == _FOCUS_TAG:
        try:
            return (min(1.0, max(0.0, float(parts[1]))), min(1.0, max(0.0, float(parts[2]))))
        except ValueError:
            pass
    return (0.5, 0.5)


def _cache_name(source: Path, box: tuple[int, int], max_crop: float) -> str:
    stat = source.stat()
    # Whether faces could be looked for changes where a crop falls: a copy cut around the middle
    # without OpenCV is made again once it is installed.
    subject = "faces" if max_crop > 0 and faces.available() else "middle"
    key = f"{_CACHE_VERSION}|{source.name}|{stat.st_size}|{stat.st_mtime_ns}|{box[0]}x{box[1]}|{max_crop}|{subject}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{source.stem}.{box[0]}x{box[1]}.{digest}.jpg"


def _decode_scaled(source: Path, box: tuple[int, int], max_crop: float) -> tuple[Image.Image, tuple[float, float]]:
    with Image.open(source) as image:
        icc = image.info.get("icc_profile")
        upright = upright_size(image)
        crop, out = plan(upright, box, max_crop)
        # Let the JPEG decoder scale by 1/2, 1/4 or 1/8 while decoding: the cheap part of the speed.
        # The size asked for is in stored orientation, before the EXIF turn.
        needed = (out[0] / (crop[2] - crop[0]), out[1] / (crop[3] - crop[1]))
        if upright != image.size:
            needed = (needed[1], needed[0])
        # Other formats are decoded in full and reduced at once, before any other copy is made.
        image = load_reduced(image, (math.ceil(needed[0]), math.ceil(needed[1])))
        image = ImageOps.exif_transpose(image)
    image = _flatten(image)
    subject = None
    if crop != _FULL or max_crop >= FILL:
        # Faces are looked for on the decoded (already reduced) picture; the window keeps its size.
        # A filled copy may be shown in part (a shorter page), so its focus is wanted even uncut.
        subject = faces.find_subject(image)
        if crop != _FULL:
            crop = faces.crop_around((crop[2] - crop[0], crop[3] - crop[1]), subject)
    w, h = image.size
    pixels = (crop[0] * w, crop[1] * h, crop[2] * w, crop[3] * h)
    image = image.resize(out, Image.Resampling.LANCZOS, box=pixels, reducing_gap=3.0)
    return _to_srgb(image, icc), faces.focus_in(crop, subject)


def _flatten(image: Image.Image) -> Image.Image:
    """One of RGB, L or CMYK: transparency laid on white paper, 16-bit and float scaled to 8-bit."""
    mode = image.mode
    if mode in ("RGB", "L", "CMYK") and "transparency" not in image.info:
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _to_8bit(image)
    if mode == "1":
        return image.convert("L")
    if mode in ("LA", "La") or (mode == "L" and "transparency" in image.info):
        grey = image.convert("LA")
        paper = Image.new("L", grey.size, 255)
        paper.paste(grey.getchannel("L"), mask=grey.getchannel("A"))
        return paper
    if mode in ("RGBA", "RGBa", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGB", rgba.size, _WHITE)
        paper.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return paper
    return image.convert("RGB")  # P without transparency, YCbCr, LAB, HSV


def _to_8bit(image: Image.Image) -> Image.Image:
    """Greyscale with more than 8 bits (16-bit PNG/TIFF, 32-bit int or float) as 8-bit L.

    Pillow's own convert("L") clips everything above 255 to white, so scale by the bit depth the
    values suggest: 16-bit, 12-bit (some camera and scanner files), 8-bit, or 0..1 floats.
    """
    if image.mode != "F":
        image = image.convert("I")
    low, high = image.getextrema()
    if image.mode == "F" and 0 <= low and high <= 1.0:
        full = 1.0
    elif high > 4095:
        full = 65535.0
    elif high > 255:
        full = 4095.0
    else:
        full = 255.0
    return image.point(lambda value: value * (255.0 / full)).convert("L")


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB (or L) in sRGB: the photo's embedded profile (Display P3 phones, CMYK print files) applied."""
    if icc and image.mode in ("RGB", "CMYK"):
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            # A broken or mismatched profile should cost colour accuracy, not the book.
            log.info("ignoring the photo's colour profile: %s", error)
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def _save_atomic(image: Image.Image, target: Path, comment: str = "") -> None:
    """Write the JPEG beside its final name, then rename, so a crash never leaves half a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Only what is passed here is written: nothing the source carried (a 64 KB comment does not fit
    # Pillow's JPEG writer beside `comment`; EXIF and the profile are applied already).
    image.info.clear()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, "JPEG", quality=JPEG_QUALITY, optimize=True, comment=comment)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
