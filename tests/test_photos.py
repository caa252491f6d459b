"""Photos made ready for print: upright, flattened onto white, scaled, re-encoded, cached."""
from __future__ import annotations

import io
import os

import pytest
from PIL import Image, JpegImagePlugin

from shared import synthetic
from worker.book import photos

BOX = (822, 694)  # the A5 scene frame at 180 dpi


def _save(path, image: Image.Image, fmt: str, **options) -> os.PathLike:
    image.save(path, fmt, **options)
    return path


def _near(colour, expected, tolerance=40) -> bool:
    colour = (colour,) * 3 if isinstance(colour, int) else colour
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(tmp_path, orientation):
    source = tmp_path / "phone.jpg"
    source.write_bytes(synthetic.phone_jpeg(800, 600, seed=orientation, orientation=orientation))
    copy = photos.print_copy(source, tmp_path / "print", BOX)
    with Image.open(copy.path) as image:
        assert image.width > image.height  # the upright picture is landscape, whatever was stored
        assert "exif" not in image.info or image.getexif().get(0x0112, 1) == 1  # no second turn by a viewer
        # The red disc was drawn at the top left of the upright picture.
        assert _near(image.getpixel((int(image.width * 0.12), int(image.height * 0.15))), synthetic.MARK)
        assert not _near(image.getpixel((int(image.width * 0.88), int(image.height * 0.85))), synthetic.MARK)


def test_a_12_megapixel_photo_is_decoded_in_draft_mode_and_scaled_to_the_box(tmp_path, monkeypatch):
    source = tmp_path / "big.jpg"
    source.write_bytes(synthetic.phone_jpeg(4000, 3000, seed=1, orientation=6))  # stored 3000 wide, 4000 high
    drafted: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    copy = photos.print_copy(source, tmp_path / "print", BOX)
    # The decoder scaled by 1/4 while decoding: 12 MP never sat in memory.
    assert drafted and drafted[-1][0] * drafted[-1][1] <= 4000 * 3000 // 16
    assert copy.size == BOX  # 4:3 is within the allowed trim of the frame's shape, so it fills it
    assert copy.path.stat().st_size < 400_000
    with Image.open(copy.path) as image:
        assert image.format == "JPEG" and image.mode == "RGB"


def test_shape_close_to_the_frame_is_trimmed_to_fill_it_far_off_is_shown_whole():
    crop, size = photos.plan((4000, 3000), BOX, photos.MAX_CROP)
    assert size == BOX and crop[1] == 0 and 0 < crop[0] < 0.1
    crop, size = photos.plan((3000, 4000), BOX, photos.MAX_CROP)  # portrait in a landscape frame
    assert crop == (0.0, 0.0, 1.0, 1.0)
    assert size[1] == BOX[1] and abs(size[0] / size[1] - 0.75) < 0.01
    crop, size = photos.plan((6000, 1000), BOX, photos.MAX_CROP)  # panorama: whole, full width
    assert crop == (0.0, 0.0, 1.0, 1.0) and size == (BOX[0], 137)


def test_a_small_photo_is_never_enlarged(tmp_path):
    source = _save(tmp_path / "small.png", Image.new("RGB", (200, 150), (10, 120, 200)), "PNG")
    copy = photos.print_copy(source, tmp_path / "print", BOX)
    assert copy.size[0] <= 200 and copy.size[1] <= 150


def _transparent_rgba() -> Image.Image:
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))  # fully transparent black...
    image.paste((200, 30, 30, 255), (0, 0, 200, 300))  # ...with an opaque red left half
    return image


def _palette_with_transparent_index() -> Image.Image:
    image = _transparent_rgba().convert("P")
    image.info["transparency"] = image.getpixel((380, 150))  # GIF keeps one transparent index
    return image


@pytest.mark.parametrize(
    ("name", "make", "fmt", "left", "right"),
    [
        ("rgba.png", _transparent_rgba, "PNG", (200, 30, 30), (255, 255, 255)),
        ("la.png", lambda: _transparent_rgba().convert("LA"), "PNG", (83, 83, 83), (255, 255, 255)),
        ("palette.png", lambda: _transparent_rgba().convert("P"), "PNG", (200, 30, 30), (255, 255, 255)),
        ("palette.gif", _palette_with_transparent_index, "GIF", (200, 30, 30), (255, 255, 255)),
        ("cmyk.jpg", lambda: Image.new("CMYK", (400, 300), (0, 0, 0, 0)).convert("RGB").convert("CMYK"), "JPEG",
         (255, 255, 255), (255, 255, 255)),
        ("grey.jpg", lambda: Image.linear_gradient("L").rotate(90).resize((400, 300)), "JPEG", (0, 0, 0), (255, 255, 255)),
        ("bilevel.png", lambda: Image.new("1", (400, 300), 1), "PNG", (255, 255, 255), (255, 255, 255)),
        ("webp.webp", lambda: Image.new("RGB", (400, 300), (30, 160, 60)), "WEBP", (30, 160, 60), (30, 160, 60)),
    ],
)
def test_modes_and_transparency_are_flattened_onto_white(tmp_path, name, make, fmt, left, right):
    source = _save(tmp_path / name, make(), fmt)
    copy = photos.print_copy(source, tmp_path / "print", (400, 300), max_crop=0)
    with Image.open(copy.path) as image:
        assert image.format == "JPEG" and image.mode in ("RGB", "L")
        assert _near(image.getpixel((20, 150)), left), image.getpixel((20, 150))
        assert _near(image.getpixel((380, 150)), right), image.getpixel((380, 150))


def test_cmyk_colours_survive(tmp_path):
    # Pure cyan ink on paper is a light blue-green on screen, not black or inverted.
    source = _save(tmp_path / "cyan.jpg", Image.new("CMYK", (300, 200), (255, 0, 0, 0)), "JPEG", quality=95)
    copy = photos.print_copy(source, tmp_path / "print", (300, 200))
    with Image.open(copy.path) as image:
        red, green, blue = image.convert("RGB").getpixel((150, 100))
        assert red < 60 and green > 180 and blue > 180


@pytest.mark.parametrize("peak", [65535, 4095])
def test_16_bit_greyscale_keeps_its_tones(tmp_path, peak):
    # A left-to-right ramp in 16-bit (or 12-bit in 16) must not come out clipped to white.
    ramp = Image.new("I;16", (512, 64))
    ramp.putdata([x * peak // 511 for _ in range(64) for x in range(512)])
    source = _save(tmp_path / "ramp.png", ramp, "PNG")
    with Image.open(source) as check:
        assert check.mode.startswith("I")  # really stored with 16 bits
    copy = photos.print_copy(source, tmp_path / "print", (512, 64))
    with Image.open(copy.path) as image:
        assert image.getpixel((5, 32)) < 20
        assert 100 < image.getpixel((256, 32)) < 155
        assert image.getpixel((506, 32)) > 235


def test_a_broken_colour_profile_does_not_fail_the_photo(tmp_path):
    source = _save(tmp_path / "icc.jpg", Image.new("RGB", (300, 200), (40, 90, 200)), "JPEG", icc_profile=b"not a profile")
    copy = photos.print_copy(source, tmp_path / "print", (300, 200))
    with Image.open(copy.path) as image:
        assert _near(image.getpixel((150, 100)), (40, 90, 200))


def test_second_request_reuses_the_cached_copy_without_decoding(tmp_path, monkeypatch):
    source = tmp_path / "phone.jpg"
    source.write_bytes(synthetic.phone_jpeg(1600, 1200, seed=3, orientation=6))
    first = photos.print_copy(source, tmp_path / "print", BOX)
    stamp = first.path.stat().st_mtime_ns

    def no_decoding(*_args, **_kwargs):
        raise AssertionError("the original was decoded again")

    monkeypatch.setattr(photos, "_decode_scaled", no_decoding)
    second = photos.print_copy(source, tmp_path / "print", BOX)
    assert second.reused and not first.reused
    assert (second.path, second.size) == (first.path, first.size)
    assert second.path.stat().st_mtime_ns == stamp


def test_cache_is_keyed_by_target_size_and_by_the_source_file(tmp_path):
    source = tmp_path / "phone.jpg"
    source.write_bytes(synthetic.phone_jpeg(1600, 1200, seed=4))
    a5 = photos.print_copy(source, tmp_path / "print", BOX)
    square = photos.print_copy(source, tmp_path / "print", (1162, 737))
    assert a5.path != square.path and square.size != a5.size and not square.reused
    # The same stored name with new content (size and mtime change) is not served the stale copy.
    source.write_bytes(synthetic.phone_jpeg(1600, 1200, seed=5))
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10_000_000))
    renewed = photos.print_copy(source, tmp_path / "print", BOX)
    assert renewed.path != a5.path and not renewed.reused


def test_an_unreadable_cached_copy_is_made_again(tmp_path):
    source = tmp_path / "phone.jpg"
    source.write_bytes(synthetic.phone_jpeg(800, 600, seed=6))
    first = photos.print_copy(source, tmp_path / "print", BOX)
    first.path.write_bytes(b"truncated")
    again = photos.print_copy(source, tmp_path / "print", BOX)
    assert not again.reused
    with Image.open(io.BytesIO(again.path.read_bytes())) as image:
        image.load()
        assert image.size == again.size


def test_no_temporary_files_are_left_behind(tmp_path):
    source = tmp_path / "phone.jpg"
    source.write_bytes(synthetic.phone_jpeg(800, 600, seed=7))
    photos.print_copy(source, tmp_path / "print", BOX)
    assert [p.name for p in (tmp_path / "print").iterdir() if p.name.startswith(".tmp-")] == []
