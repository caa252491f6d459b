"""Phone photos: HEIC is accepted, kept upright and printed upright by a real worker; HEIC and MPO are served as browsers know them."""
from __future__ import annotations

import io
import subprocess

import pillow_heif
import pytest
from PIL import Image

from tests.helpers import book_form, scene
from tests.web_helpers import wait_for

RED, BLUE = (220, 30, 30), (30, 30, 220)


def upright_heic() -> bytes:
    """A portrait photo (red above blue) stored turned on its side, with EXIF orientation 6, as phones store them."""
    upright = Image.new("RGB", (300, 400), RED)
    upright.paste(BLUE, (0, 200, 300, 400))
    stored = upright.rotate(90, expand=True)  # what the sensor saw: landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to show"
    buffer = io.BytesIO()
    pillow_heif.from_pillow(stored).save(buffer, quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def _red_above_blue(image: Image.Image) -> bool:
    image = image.convert("RGB")
    top, bottom = image.getpixel((image.width // 2, image.height // 5)), image.getpixel((image.width // 2, image.height * 4 // 5))
    return top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]


def test_a_heic_upload_is_accepted_and_opens_upright(client, api):
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([upright_heic()], {"scenes": [scene()]}))
    assert created.status_code == 202, created.json
    book = client.get(created.json["url"], headers=headers).json
    thumb = client.get(book["scenes"][0]["image_url"], headers=headers)
    assert thumb.status_code == 200
    with Image.open(io.BytesIO(thumb.data)) as image:
        assert image.format == "HEIF" and image.size == (300, 400) and _red_above_blue(image)


def mpo() -> bytes:
    """A camera's MPO: a JPEG with a second frame after it."""
    first, second = Image.new("RGB", (320, 240), RED), Image.new("RGB", (320, 240), BLUE)
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    return buffer.getvalue()


# An MPO is stored as its first frame, a plain JPEG (web/images.py without_metadata); a HEIC as sent.
@pytest.mark.parametrize(("photo", "stored_as", "media_type"), [(mpo, "JPEG", "image/jpeg"), (upright_heic, "HEIF", "image/heic")])
def test_a_phone_photo_is_served_with_the_media_type_browsers_know(client, api, photo, stored_as, media_type):
    headers = api.user()
    data = photo()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([data], {"scenes": [scene()]}))
    assert created.status_code == 202, created.json
    book = client.get(created.json["url"], headers=headers).json
    image = client.get(book["scenes"][0]["image_url"], headers=headers)
    assert image.status_code == 200 and image.mimetype == media_type
    assert image.data == data if stored_as == "HEIF" else data.startswith(image.data[:2]) and len(image.data) < len(data)
    with Image.open(io.BytesIO(image.data)) as opened:
        assert opened.format == stored_as


@pytest.mark.e2e
def test_a_heic_photo_is_printed_upright_by_a_real_worker(client, api, worker_process, tmp_path):
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([upright_heic()], {"scenes": [scene()]}))
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    (tmp_path / "book.pdf").write_bytes(client.get(book["pdf_url"], headers=headers).data)
    subprocess.run(["pdfimages", "-png", str(tmp_path / "book.pdf"), str(tmp_path / "img")], check=True)
    photos = [Image.open(path) for path in sorted(tmp_path.glob("img-*.png"))]
    photos = [image for image in photos if min(image.size) > 100]  # the picture of the cover, page and ending
    # Each is cut to its box on the page (docs/pictures.md, "The page design"): red stays above blue in every one.
    assert photos and all(_red_above_blue(image) for image in photos)
