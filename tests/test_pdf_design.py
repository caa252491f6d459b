"""The book looks like a picture book (issue 21): big pictures, type by age, a cover, an ending.

Read back the way a parent would check it: pages rendered with pdftoppm, words measured with
`pdftotext -bbox`. "Empty" is counted as in the issue: at 50 dpi, the share of pixels within 6
(per channel) of the page's background colour, the colour most of the page has.
"""
from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared import synthetic
from talesrunner import samples
from worker.book import faces, photos
from worker.book.layout import LAYOUTS, byline, called, picture_height
from worker.book.pdf import BookSpec, Page, render_book

# What the writer makes for each age band: a line or two for 유아, five sentences for 초등 고학년.
SHORT = [
    "하은이가 우주 센터에 왔어요. 가슴이 두근두근!",
    "로켓이 하늘 높이 날아올라요.",
    "고양이 첼시가 창밖을 봐요. 아저씨는 어디 있을까?",
    "따뜻한 커피를 마셔요. 음, 좋다!",
]
LONG = [
    ("주말 아침, 하은이는 가족과 함께 우주 센터로 견학을 떠났어요. 커다란 우주복을 입은 아저씨가 반갑게 손을 흔들어 "
     "주었지요. 아저씨는 곧 우주로 떠날 준비를 하고 있다고 했어요. 하은이는 우주복이 얼마나 무거운지 궁금해서 살짝 "
     "만져 보았어요. 언젠가 자기도 저 하늘 너머로 날아가 보고 싶다는 생각에 가슴이 두근거렸답니다."),
    ("드디어 발사 시간이 다가왔어요. 카운트다운이 끝나자 로켓 아래에서 하얀 연기가 뭉게뭉게 피어올랐어요. 엔진에 불이 "
     "붙자 땅이 부르르 떨렸지요. 로켓은 천천히, 그리고 점점 빠르게 하늘로 솟아올랐어요. 하은이는 로켓이 구름 속으로 "
     "사라질 때까지 눈을 떼지 못했어요."),
    ("집에 돌아오니 고양이 첼시가 창가에 앉아 있었어요. 첼시는 하늘을 올려다보며 꼬리를 살랑살랑 흔들었지요. 하은이는 "
     "첼시에게 오늘 본 로켓 이야기를 들려주었어요. 첼시도 우주인 아저씨가 궁금한 것 같았어요. 둘은 나란히 앉아 "
     "밤하늘의 별을 세었답니다."),
    ("며칠 뒤, 우주인 아저씨가 무사히 돌아왔다는 소식을 들었어요. 아저씨는 집에서 따뜻한 커피를 마시며 쉬고 있대요. "
     "하은이는 아저씨에게 축하 편지를 쓰기로 했어요. 편지에는 로켓 그림도 정성껏 그려 넣었지요. 모두가 행복한 "
     "하루였답니다."),
]
TEXTS = {"유아": SHORT, "초등 저학년": SHORT, "초등 고학년": LONG}
TITLE = "하은이와 우주인 아저씨"
DEDICATION = "사랑하는 하은이에게"
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True).stdout


def page_count(path: Path) -> int:
    return int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", path)).group(1))


def page_text(path: Path, page: int) -> str:
    return " ".join(run("pdftotext", "-f", page, "-l", page, path, "-").split())


def words(path: Path, page: int) -> list[tuple[float, float, float, float, str]]:
    """(xMin, yMin, xMax, yMax, word) for every word on the page, y from the top."""
    found = _WORD.findall(run("pdftotext", "-f", page, "-l", page, "-bbox", path, "-"))
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in found]


def render(path: Path, page: int, dpi: int, folder: Path) -> np.ndarray:
    prefix = folder / f"{path.stem}-{page}-{dpi}"
    run("pdftoppm", "-r", dpi, "-png", "-f", page, "-l", page, "-singlefile", path, prefix)
    with Image.open(prefix.with_suffix(".png")) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def empty_share(pixels: np.ndarray) -> float:
    """The share of the page within 6 per channel of its background (most common) colour."""
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    background = colours[counts.argmax()]
    return float((np.abs(pixels - background) <= 6).all(axis=2).mean())


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for name in samples.PHOTOS:
        path = folder / f"{name}.jpg"
        path.write_bytes(samples.photo_bytes(name))
        paths.append(path)
    return paths


def spec(pictures: list[Path], texts: list[str], **fields) -> BookSpec:
    pages = [Page(index=i + 1, image_path=p, text=t) for i, (p, t) in enumerate(zip(pictures, texts))]
    return BookSpec(**{"title": TITLE, "protagonist": "하은", "made_on": date(2025, 5, 3), "pages": pages, **fields})


@pytest.fixture(scope="module")
def books(pictures, tmp_path_factory):
    """Books by (age, page size), rendered once for the module."""
    folder = tmp_path_factory.mktemp("books")
    made: dict[tuple[str, str], Path] = {}

    def book(age: str, size: str = "A5") -> Path:
        if (age, size) not in made:
            out = folder / f"{age.replace(' ', '')}-{size}.pdf"
            render_book(spec(pictures, TEXTS[age], age=age, dedication=DEDICATION), out, folder / "print", page_size=size)
            made[age, size] = out
        return made[age, size]

    return book


# Type by age -------------------------------------------------------------------------------------


def story_word_heights(path: Path) -> list[float]:
    """Heights of the story's words on every story page (not the small page numbers)."""
    heights = []
    for page in range(2, page_count(path)):
        heights += [y1 - y0 for _, y0, _, y1, word in words(path, page) if not word.isdigit()]
    return heights


@pytest.mark.parametrize("size", ["A5", "square"])
def test_word_boxes_are_sized_by_age(books, size):
    young, middle, older = (story_word_heights(books(age, size)) for age in ("유아", "초등 저학년", "초등 고학년"))
    assert min(young) >= 25  # 유아: about 22 pt type, read aloud with a finger under the words
    assert min(young) > max(middle) > max(older)
    assert min(older) >= 13 * 1.15  # 초등 고학년 shrinks only a little (the font's box is 1.15 em)


def test_long_paragraphs_stay_on_their_page_and_come_back_whole(books):
    for size in ("A5", "square"):
        path = books("초등 고학년", size)
        assert page_count(path) == len(LONG) + 2  # cover, one page per scene, the end
        for number, text in enumerate(LONG, start=2):
            assert " ".join(text.split()) in page_text(path, number)


# No half-empty pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["A5", "square"])
@pytest.mark.parametrize("age", ["유아", "초등 고학년"])
def test_story_pages_are_at_most_45_percent_empty(books, tmp_path, age, size):
    path = books(age, size)
    for page in range(2, page_count(path)):
        assert empty_share(render(path, page, 50, tmp_path)) <= 0.45, (age, size, page)


def test_a_short_text_gives_the_picture_more_of_the_page():
    layout = LAYOUTS["A5"]
    assert picture_height(layout, 30) == pytest.approx(layout.height * layout.picture_max)
    assert picture_height(layout, 1000) == pytest.approx(layout.height * layout.picture_min)
    heights = [picture_height(layout, text) for text in range(0, 400, 10)]
    assert heights == sorted(heights, reverse=True)


# The picture ------------------------------------------------------------------------------------


def test_the_story_page_shows_the_picture_given_across_the_full_width(tmp_path):
    picture = synthetic.upright_picture(1200, 900, seed=5)
    source = tmp_path / "drawn.png"
    picture.save(source)
    out = tmp_path / "one.pdf"
    render_book(spec([source], ["하은이가 그림을 그렸어요."], age="유아"), out, tmp_path / "print")
    page = render(out, 2, 50, tmp_path)
    height, width = page.shape[:2]
    layout = LAYOUTS["A5"]
    shown = page[: height // 2]  # the top half of the page is always picture

    # The print copy is the picture cut (around its middle: no face here) to the page width by the
    # tallest picture; the page shows a window of it. Find the best vertical match.
    box = layout.picture_box
    keep = (box[0] / box[1]) / (picture.width / picture.height)
    crop = picture.crop((round(picture.width * (1 - keep) / 2), 0, round(picture.width * (1 + keep) / 2), picture.height))
    expected = np.asarray(crop.resize((width, round(width * box[1] / box[0])), Image.Resampling.LANCZOS)).astype(int)
    best = min(np.abs(expected[top : top + shown.shape[0]] - shown).mean() for top in range(expected.shape[0] - shown.shape[0] + 1))
    assert best < 12, best

    other = np.asarray(synthetic.upright_picture(1200, 900, seed=9).resize((width, shown.shape[0]))).astype(int)
    assert np.abs(other - shown).mean() > 2 * best + 10  # the measure tells pictures apart
    paper = page[-5, width // 2]
    for column in (shown[:, 0], shown[:, -1]):  # edge to edge: no paper at either side
        assert np.abs(column - paper).max(axis=1).mean() > 20


def test_subject_centre_keeps_a_face_in_the_frame():
    # A face at the far left of a wide photo, cut to a square: the window slides left to keep it.
    face = (0.03, 0.30, 0.15, 0.50)
    crop = faces.crop_around((0.5, 1.0), face)
    assert crop[0] <= face[0] and face[2] <= crop[2]
    # Two faces: the window is centred on their union.
    union = (0.55, 0.2, 0.75, 0.4)
    crop = faces.crop_around((0.4, 1.0), union)
    assert crop == pytest.approx((0.45, 0.0, 0.85, 1.0))
    assert faces.focus_in(crop, union) == pytest.approx((0.5, 0.3))
    # A face low in a tall photo cut to a wide frame.
    crop, size = photos.plan((3000, 4000), (1000, 500), photos.FILL, subject=(0.4, 0.8, 0.6, 0.95))
    assert crop[1] <= 0.8 and crop[3] >= 0.95 and crop[3] == pytest.approx(1.0)
    assert size == (1000, 500)


def test_without_opencv_or_a_face_the_crop_keeps_the_middle(tmp_path, monkeypatch):
    plain = synthetic.upright_picture(800, 600, seed=2)  # colour fields and discs: no face
    assert faces.find_subject(plain) is None
    assert faces.crop_around((0.5, 1.0), None) == (0.25, 0.0, 0.75, 1.0)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    assert not faces.available()
    photo = Image.open(io.BytesIO(samples.photo_bytes("astronaut")))
    assert faces.find_subject(photo) is None
    source = tmp_path / "astronaut.jpg"
    photo.save(source)
    copy = photos.print_copy(source, tmp_path / "print", (600, 200), photos.FILL)
    assert copy.focus == (0.5, 0.5) and not copy.reused
    with Image.open(copy.path) as image:  # the middle band of the photo: the face (at the top) is cut
        side = photo.width
        middle = photo.convert("RGB").crop((0, round(side / 3), side, round(side * 2 / 3))).resize(image.size)
        assert np.abs(np.asarray(image.convert("RGB")).astype(int) - np.asarray(middle).astype(int)).mean() < 12


def test_a_real_face_stays_in_a_tight_crop(tmp_path):
    pytest.importorskip("cv2")
    photo = Image.open(io.BytesIO(samples.photo_bytes("astronaut")))  # her face is in the top third
    subject = faces.find_subject(photo)
    assert subject is not None
    assert 0.3 < (subject[0] + subject[2]) / 2 < 0.6 and (subject[1] + subject[3]) / 2 < 0.35
    source = tmp_path / "astronaut.jpg"
    photo.save(source)
    copy = photos.print_copy(source, tmp_path / "print", (600, 200), photos.FILL)  # keeps a third of the height
    assert copy.focus[1] == pytest.approx(0.5, abs=0.2)  # the face in the band, not cut away
    again = photos.print_copy(source, tmp_path / "print", (600, 200), photos.FILL)
    assert again.reused and again.focus == pytest.approx(copy.focus, abs=1e-3)  # read back from the copy
    other = photos.print_copy(source, tmp_path / "print", (600, 200), photos.MAX_CROP)
    assert other.path != copy.path  # what changes the crop changes the cache name


# Cover and ending -----------------------------------------------------------------------------------


def test_the_cover_has_the_title_and_whose_book_it_is_not_an_author(books):
    cover = page_text(books("유아"), 1)
    assert TITLE in cover and "하은이가 주인공인 그림책" in cover and "2025년 5월 3일" in cover
    assert "TalesRunner" not in cover


def test_the_byline_speaks_korean():
    assert called("하은") == "하은이" and byline("하은") == "하은이가 주인공인 그림책"
    assert byline("우주인 아저씨") == "우주인 아저씨가 주인공인 그림책"
    assert byline("고양이 첼시") == "고양이 첼시가 주인공인 그림책"
    assert byline("선생님") == "선생님이 주인공인 그림책"  # a title, not a name: no 이 added
    assert byline("  ") == ""


def test_the_last_page_says_the_end_and_the_dedication(books, pictures, tmp_path):
    path = books("유아")
    last = page_text(path, page_count(path))
    assert last.startswith("끝") and DEDICATION in last
    plain = tmp_path / "plain.pdf"
    render_book(spec(pictures[:1], SHORT[:1]), plain, tmp_path / "print")
    assert page_count(plain) == 3 and page_text(plain, 3) == "끝"
    # The end is not an empty page: a round window on the last picture, dots around it.
    assert empty_share(render(plain, 3, 50, tmp_path)) < 0.8


def test_a_book_without_scenes_has_a_cover_and_an_end(tmp_path):
    out = tmp_path / "empty.pdf"
    report = render_book(spec([], [], dedication="할머니께"), out, tmp_path / "print")
    assert report.pages == page_count(out) == 2
    assert "할머니께" in page_text(out, 2)
