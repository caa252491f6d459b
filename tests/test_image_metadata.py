"""Photos with huge or private metadata: stored without it (not re-encoded), and rendered whatever they carry.

The issue's photo: a 200x200 JPEG with a 64 KB comment was accepted, then every render failed with
Pillow's "broken data stream when writing image file": a copy inherited the comment, which does
not fit the writer's buffer.
"""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageCms

from shared.config import Settings
from shared.db import session_factory
from shared.image_files import jpeg_coefficient_bytes, jpeg_without_metadata, png_without_metadata
from shared.models import Book
from shared.status import BookStatus
from shared.storage import LocalStorage
from tests.helpers import book_form, scene
from tests.test_pipeline import Recorder, _book, _run_all
from web.thumbnails import thumbnail
from web.images import DecodeSlots
from worker import pipeline
from worker.book.photos import print_copy

COMMENT = 65533  # the most one JPEG comment segment holds
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_comment(data: bytes, size: int = COMMENT) -> bytes:
    """`data` (a JPEG) with a comment segment of `size` bytes after its start: Pillow itself cannot write one this big."""
    return data[:2] + b"\xff\xfe" + (size + 2).to_bytes(2, "big") + b"x" * size + data[2:]


def phone_photo(orientation: int = 6, **save) -> bytes:
    """A 300x200 JPEG as a phone saves it: EXIF with an orientation, a camera and a GPS position, an sRGB profile."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = (37.0, 33.0, 12.5)
    image = Image.new("RGB", (300, 200), (30, 160, 90))
    image.paste((220, 40, 40), (0, 0, 60, 60))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), icc_profile=SRGB, **save)
    return buffer.getvalue()


def same_pixels(a: bytes, b: bytes) -> bool:
    with Image.open(io.BytesIO(a)) as first, Image.open(io.BytesIO(b)) as second:
        return first.size == second.size and ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox() is None


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_loses_its_comment_gps_and_camera_but_keeps_pixels_orientation_and_profile(progressive):
    original = with_comment(phone_photo(progressive=progressive)) + b"trailing junk"
    stored = jpeg_without_metadata(original, orientation=6)
    assert len(stored) < len(original) - COMMENT
    assert same_pixels(original, stored)  # the same scans, byte for byte: nothing re-encoded
    with Image.open(io.BytesIO(stored)) as image:
        assert "comment" not in image.info and image.info["icc_profile"] == SRGB
        exif = image.getexif()
        assert dict(exif) == {0x0112: 6} and not exif.get_ifd(0x8825)
    assert stored.endswith(b"\xff\xd9")
    assert jpeg_coefficient_bytes(stored) == jpeg_coefficient_bytes(original)


def test_an_mpo_keeps_its_first_frame_as_a_plain_jpeg():
    frames = [Image.new("RGB", (120, 80), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "MPO", save_all=True, append_images=frames[1:])
    with Image.open(io.BytesIO(buffer.getvalue())) as mpo:
        assert mpo.format == "MPO" and mpo.n_frames == 2
    stored = jpeg_without_metadata(buffer.getvalue())
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and getattr(image, "n_frames", 1) == 1
        assert image.convert("RGB").getpixel((60, 40))[0] > 200


def test_a_png_loses_its_text_chunks_only():
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "x" * 200_000, zip=True)
    text.add_itxt("Description", "가" * 1000)
    buffer = io.BytesIO()
    Image.new("RGBA", (50, 40), (1, 2, 3, 128)).save(buffer, "PNG", pnginfo=text, icc_profile=SRGB)
    stored = png_without_metadata(buffer.getvalue())
    with Image.open(io.BytesIO(stored)) as image:
        assert "Comment" not in image.info and "Description" not in image.info and image.info["icc_profile"] == SRGB
        assert image.mode == "RGBA" and image.getpixel((0, 0)) == (1, 2, 3, 128)


def test_uploads_of_every_kind_are_accepted_and_a_png_is_stored_without_its_text(client, api):
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "x" * 100_000, zip=True)
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (9, 99, 199)).save(png, "PNG", pnginfo=text)
    webp = io.BytesIO()
    Image.new("RGB", (64, 48), (9, 99, 199)).save(webp, "WEBP", exif=Image.Exif().tobytes())
    photos = [png.getvalue(), webp.getvalue(), phone_photo(), with_comment(phone_photo(progressive=True))]
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form(photos))
    assert created.status_code == 202, created.json
    stored = [client.get(scene["image_url"], headers=headers).data for scene in client.get(created.json["url"], headers=headers).json["scenes"]]
    assert stored[1] == photos[1]  # WEBP as sent
    for sent, kept in zip(photos, stored, strict=True):
        assert same_pixels(sent, kept)
    with Image.open(io.BytesIO(stored[0])) as image:
        assert image.format == "PNG" and "Comment" not in image.info and len(stored[0]) < len(photos[0])
    with Image.open(io.BytesIO(stored[2])) as image:
        assert image.getexif().get(0x0112) == 6 and not image.getexif().get_ifd(0x8825)


def test_bytes_that_are_not_a_whole_jpeg_or_png_are_left_as_they_are():
    for data in (b"", b"\xff\xd8\xff\xe0\x00", b"GIF89a", b"\x89PNG\r\n\x1a\n\x00\x00"):
        assert jpeg_without_metadata(data) == data and png_without_metadata(data) == data


@pytest.fixture
def ctx(db, service_env) -> pipeline.Context:
    settings = Settings(**service_env)
    return pipeline.Context(settings=settings, sessions=session_factory(db), storage=LocalStorage(settings.DATA_DIR), enqueue=Recorder())


def test_the_issues_photo_is_accepted_stored_without_its_comment_and_made_into_a_book(client, api, ctx):
    photo = with_comment(phone_photo(orientation=1)[:])
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([photo], {"title": "긴 주석", "scenes": [scene()]}))
    assert created.status_code == 202, created.json
    book_id = created.json["id"]
    stored = client.get(f"/api/v1/books/{book_id}/scenes/1/image", headers=headers).data
    assert same_pixels(stored, photo) and len(stored) < len(photo) - COMMENT
    _run_all(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE, book.error
    assert client.get(f"/api/v1/books/{book_id}/pdf", headers=headers).status_code == 200


def test_a_photo_stored_with_a_huge_comment_still_renders_and_makes_thumbnails(client, api, ctx, tmp_path):
    """Photos stored before uploads were cleaned keep their comment: no copy the renderer or the web tier makes inherits it."""
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([phone_photo()], {"title": "예전 사진", "style": "photo", "scenes": [scene()]}))
    book_id = created.json["id"]
    with ctx.sessions() as session:
        stored = session.get(Book, book_id).scenes[0]
        raw = with_comment(phone_photo(orientation=6))  # turned: the e-book converts it rather than copying it
        ctx.storage.path(stored.image_name).write_bytes(raw)
        session.expunge(stored)
    _run_all(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE, book.error
    assert book.epub_name and ctx.storage.path(book.pdf_name).stat().st_size > 0
    copy = print_copy(ctx.storage.path(stored.image_name), tmp_path / "print", (180, 180))
    with Image.open(copy.path) as image:
        assert image.size[1] > image.size[0]  # turned upright by its EXIF
        assert len(image.info.get("comment", b"")) < 100
    small = thumbnail(ctx.storage, stored, 480, DecodeSlots(1))
    with Image.open(ctx.storage.path(small)) as image:
        assert image.size == (200, 300) and "comment" not in image.info  # upright, never enlarged
