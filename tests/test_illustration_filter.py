"""The offline `filter` illustrator (worker/illustration/filter.py): real drawings, same scene, same size.

Small pictures (about 400 px) so the whole file runs in a few seconds: a photo-like scene drawn
here (sky, sun, clouds, hills, a tree, a house, a child with a face, noisy grass) and, where
scikit-image ships it, a real photograph (its astronaut portrait).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from shared.styles import DRAWN, PHOTO, STYLES, Style
from worker.errors import StageError
from worker.illustration.base import PageToDraw
from worker.illustration.filter import FilterIllustrator


def scene(width: int = 400, height: int = 300, seed: int = 0) -> Image.Image:
    """A photo-like outdoor scene: shapes a drawing must keep, blurred a little, with grain and noise."""
    rng = np.random.default_rng(seed)
    s = width / 400
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = (1 - y) * np.array([90, 150, 230], np.float32) + y * np.array([200, 225, 250], np.float32)
    picture = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(picture)

    def disc(cx: float, cy: float, r: float, fill: tuple[int, int, int]) -> None:
        draw.ellipse(((cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s), fill=fill)

    disc(325, 45, 25, (255, 235, 150))  # the sun
    for cx, cy in ((80, 50), (200, 35)):  # clouds
        for dx, dy, r in ((0, 0, 18), (20, -8, 22), (42, 0, 17)):
            disc(cx + dx, cy + dy, r, (245, 248, 252))
    draw.ellipse((-100 * s, 150 * s, 250 * s, 300 * s), fill=(110, 160, 90))  # hills
    draw.ellipse((150 * s, 160 * s, 550 * s, 320 * s), fill=(95, 145, 80))
    draw.rectangle((0, 200 * s, width, height), fill=(120, 175, 70))  # grass
    draw.rectangle((250 * s, 140 * s, 340 * s, 215 * s), fill=(225, 200, 160))  # a house
    draw.polygon([(240 * s, 145 * s), (295 * s, 100 * s), (350 * s, 145 * s)], fill=(170, 60, 50))
    draw.rectangle((285 * s, 180 * s, 305 * s, 215 * s), fill=(110, 70, 40))
    draw.rectangle((52 * s, 130 * s, 68 * s, 230 * s), fill=(100, 70, 45))  # a tree
    for dx, dy, r in ((0, 0, 40), (-25, 20, 30), (25, 20, 30), (0, -30, 30)):
        disc(60 + dx, 110 + dy, r, (50, 120, 50))
    draw.rectangle((156 * s, 215 * s, 166 * s, 265 * s), fill=(50, 60, 110))  # a child: legs,
    draw.rectangle((174 * s, 215 * s, 184 * s, 265 * s), fill=(50, 60, 110))
    draw.rounded_rectangle((150 * s, 160 * s, 190 * s, 220 * s), radius=8 * s, fill=(240, 200, 40))  # jumper,
    disc(170, 136, 22, (240, 195, 165))  # face,
    draw.chord((147 * s, 108 * s, 193 * s, 150 * s), 180, 360, fill=(70, 45, 30))  # hair,
    disc(162.5, 135, 2.5, (30, 30, 30))  # eyes,
    disc(177.5, 135, 2.5, (30, 30, 30))
    draw.arc((162 * s, 138 * s, 178 * s, 152 * s), 20, 160, fill=(150, 50, 50), width=max(1, int(2 * s)))  # smile
    picture = picture.filter(ImageFilter.GaussianBlur(0.8 * s))
    pixels = np.asarray(picture).astype(np.float32)
    green = (pixels[..., 1] > pixels[..., 0] + 30) & (pixels[..., 1] > pixels[..., 2] + 30)
    pixels += (green * rng.normal(0, 18, (height, width)))[..., None]  # blades of grass
    pixels += rng.normal(0, 6, pixels.shape)  # sensor noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def astronaut() -> Image.Image | None:
    """scikit-image's astronaut portrait at 400 x 400, when the installed version ships it."""
    try:
        from skimage import data

        return Image.fromarray(data.astronaut()).convert("RGB").resize((400, 400), Image.Resampling.LANCZOS)
    except Exception:  # pragma: no cover - an older or trimmed scikit-image
        return None


PICTURES = {"scene": scene(), "astronaut": astronaut()}


def picture(name: str) -> Image.Image:
    found = PICTURES[name]
    if found is None:
        pytest.skip("scikit-image has no astronaut picture here")
    return found


def draw(image: Image.Image, style: str, seed: int = 7) -> Image.Image:
    (drawn,) = FilterIllustrator().draw([PageToDraw(image, "a child in a garden", seed)], STYLES[style])
    return drawn


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def thumbnail_correlation(a: Image.Image, b: Image.Image) -> float:
    """Pearson correlation of 64 x 64 grey thumbnails: high when both show the same scene."""
    def thumb(image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("L").resize((64, 64), Image.Resampling.BILINEAR), np.float64).ravel()
    return float(np.corrcoef(thumb(a), thumb(b))[0, 1])


def test_the_backend_says_what_it_is():
    illustrator = FilterIllustrator()
    assert illustrator.name == "filter"
    assert illustrator.note is None


def test_every_drawn_style_keeps_each_page_and_its_size():
    pages = [PageToDraw(scene(400, 300, seed=1), "", 1), PageToDraw(scene(240, 360, seed=2), "", 2)]
    for style in DRAWN:
        drawn = FilterIllustrator().draw(pages, STYLES[style])
        assert [image.size for image in drawn] == [(400, 300), (240, 360)], style
        assert all(image.mode == "RGB" for image in drawn), style


@pytest.mark.parametrize("name", PICTURES)
@pytest.mark.parametrize("style", DRAWN)
def test_a_drawing_differs_from_the_photo_but_shows_the_same_scene(style, name):
    photo = picture(name)
    drawn = draw(photo, style)
    assert drawn.size == photo.size
    assert mean_abs_diff(drawn, photo) >= 8, "not a drawing: too close to the photo"
    assert thumbnail_correlation(drawn, photo) >= 0.5, "not the same scene any more"


@pytest.mark.parametrize("style", DRAWN)
def test_the_same_seed_draws_the_same_picture(style):
    photo = scene()
    assert draw(photo, style, seed=11).tobytes() == draw(photo, style, seed=11).tobytes()


@pytest.mark.parametrize("style", ["watercolor", "pencil"])
def test_another_seed_lays_other_paper_and_strokes(style):
    photo = scene()
    assert mean_abs_diff(draw(photo, style, seed=1), draw(photo, style, seed=2)) > 1


def test_the_styles_differ_from_each_other():
    photo = scene()
    drawn = {style: draw(photo, style) for style in DRAWN}
    for one, other in itertools.combinations(DRAWN, 2):
        assert mean_abs_diff(drawn[one], drawn[other]) >= 8, (one, other)


@pytest.mark.parametrize("style", DRAWN)
def test_blank_and_sliver_pictures_are_drawn_at_their_size(style):
    pictures = [Image.new("RGB", (300, 200), "white"), Image.new("RGB", (7, 300), (120, 50, 200)), Image.new("RGB", (1, 1))]
    drawn = FilterIllustrator().draw([PageToDraw(p, "", -5) for p in pictures], STYLES[style])
    assert [image.size for image in drawn] == [p.size for p in pictures]


def test_pictures_in_other_modes_are_drawn_in_rgb():
    grey = scene().convert("L")
    drawn = draw(grey, "cartoon")
    assert drawn.mode == "RGB" and drawn.size == grey.size


@pytest.mark.parametrize("style", [PHOTO, "oil-painting"])
def test_a_style_it_cannot_draw_is_a_stage_error(style):
    unknown = STYLES.get(style) or Style(style, "유화", "", "an oil painting")
    with pytest.raises(StageError, match=style):
        FilterIllustrator().draw([PageToDraw(scene(), "", 1)], unknown)
