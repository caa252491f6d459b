"""Made-up photos shaped like a phone's, for the PDF tests and benchmark.

A 12-megapixel JPEG with sensor-like noise (so it weighs what a phone photo weighs, 3-5 MB),
smooth colour gradients, a few bold shapes to recognise which way is up, and an EXIF
orientation tag with the pixels stored turned the way a phone held sideways stores them.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops, ImageDraw

# The transpose that stores an upright picture so that EXIF orientation `n` turns it upright again
# (the inverse of what ImageOps.exif_transpose applies).
_STORE_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
MARK = (220, 30, 30)  # the red disc drawn near the top-left corner of the upright picture


def upright_picture(width: int, height: int, seed: int = 0, texture: bool = False) -> Image.Image:
    """The picture as a person should see it: gradients, noise, and a red disc at the top left.

    With `texture`, colour speckles a few pixels wide cover it: fine detail that survives scaling
    down to print size, as foliage or gravel does, the worst case for the size of a book.
    """
    rng = np.random.default_rng(seed)
    # Gradients are smooth, so draw them small and let Pillow enlarge them (fast, in C).
    small = (max(2, width // 10), max(2, height // 10))
    x = np.linspace(0.0, 1.0, small[0], dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, small[1], dtype=np.float32)[:, None]
    tint = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
    channels = [
        (60 + 150 * tint[0] * x + 30 * y),
        (80 + 120 * tint[1] * (1 - y) + 20 * x),
        (90 + 140 * tint[2] * (x * y)),
    ]
    pixels = np.stack(np.broadcast_arrays(*channels), axis=-1)
    base = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").resize((width, height), Image.Resampling.BILINEAR)
    # Luminance noise at full size, what makes a phone JPEG weigh megabytes.
    grain = Image.fromarray(rng.integers(0, 24, size=(height, width), dtype=np.uint8), "L")
    picture = ImageChops.add(base, Image.merge("RGB", (grain, grain, grain)), offset=-12)
    if texture:
        cells = rng.integers(0, 160, size=(height // 6, width // 6, 3), dtype=np.uint8)
        speckle = Image.fromarray(cells, "RGB").resize((width, height), Image.Resampling.NEAREST)
        picture = ImageChops.add(picture, speckle, offset=-80)
    draw = ImageDraw.Draw(picture)
    side = min(width, height)
    draw.ellipse((side * 0.05, side * 0.05, side * 0.3, side * 0.3), fill=MARK)
    for _ in range(4):
        cx, cy = rng.uniform(0.35, 0.95) * width, rng.uniform(0.35, 0.95) * height
        r = rng.uniform(0.04, 0.12) * side
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(40, 200, 3)))
    return picture


def stored_as(picture: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera would store for `picture` along with EXIF `orientation`."""
    return picture.transpose(_STORE_AS[orientation]) if orientation in _STORE_AS else picture.copy()


def phone_jpeg(
    width: int = 4000, height: int = 3000, seed: int = 0, orientation: int = 1, quality: int = 90, texture: bool = False
) -> bytes:
    """A JPEG of an upright width x height picture, stored turned per EXIF `orientation`."""
    stored = stored_as(upright_picture(width, height, seed, texture), orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()
