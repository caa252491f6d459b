"""Small builders shared by the tests."""
from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from talesrunner import samples

# The checkout the tests run from; child processes start here so they import this tree's code.
REPO = Path(__file__).resolve().parent.parent


def jpeg(width: int = 64, height: int = 48, color=(200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG")
    return buffer.getvalue()


def scene(name: str = "토끼", i_action: str = "깡충깡충 뛰다", **extra: str) -> dict[str, str]:
    return {"name": name, "i_action": i_action, "classification": "자연탐구", **extra}


def book_form(images: list[bytes], book: dict | None = None) -> dict:
    """A multipart body for POST /api/v1/books."""
    data: dict = {"images": [(io.BytesIO(image), f"photo{i}.jpg") for i, image in enumerate(images)]}
    if book is not None:
        data["book"] = json.dumps(book, ensure_ascii=False)
    return data


def sample_form(with_scenes: bool = True) -> dict:
    photos = [data for _, data in samples.sample_photos()]
    return book_form(photos, {"title": samples.TITLE, "scenes": samples.SCENES} if with_scenes else {"title": samples.TITLE})


def camera_jpeg(width: int = 4000, height: int = 3000, seed: int = 0) -> bytes:
    """A JPEG that compresses like a phone photo (smooth shapes plus sensor-like grain): ~3 MB at 12 MP."""
    import random

    rng = random.Random(seed)
    small = Image.new("RGB", (16, 12))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(16 * 12)])
    picture = small.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(picture, grain, 0.18).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()
