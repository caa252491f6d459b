"""The e-book reads as a picture book: the picture large across the top of each story page, the text on a
band of paper below it in type sized for the reader's age, a cover that says whose book it is, and an
end page with 끝 and the parent's dedication.

Three small books, each built once per module; EPUBCheck runs once (on the narrated book with a dedication).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_epub import (
    MADE_ON, MODIFIED, NS, epubcheck, narrated, package, photo, problems, read, spine, spans, xml,
)
from worker.book.epub import EpubPage, EpubSpec, build_epub
from worker.book.layout import byline

TEXTS = [
    "하은이는 아침 일찍 눈을 떴어요. 오늘은 동물원에 가는 날이에요!",
    "코끼리가 긴 코로 물을 뿌렸어요. 하은이는 깔깔 웃었어요.",
]
DEDICATION = "사랑하는 하은이에게\n엄마 & 아빠가 <3"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("epub-design")


@pytest.fixture(scope="module")
def pictures(work: Path) -> list[Path]:
    return [photo(work / "one.jpg", (900, 675), (210, 120, 90)), photo(work / "two.jpg", (600, 800), (40, 140, 100))]


def _book(work: Path, pictures: list[Path], name: str, age: str | None, dedication: str | None = None,
          voiced: bool = False) -> Path:
    if voiced:
        pages = [narrated(n, image, text, work / f"{name}-{n}.mp3", 4.0)
                 for n, (image, text) in enumerate(zip(pictures, TEXTS), start=1)]
    else:
        pages = [EpubPage(n, image, text) for n, (image, text) in enumerate(zip(pictures, TEXTS), start=1)]
    out = work / f"{name}.epub"
    build_epub(EpubSpec("하은이의 동물원 나들이", "하은", MADE_ON, pages, f"book-{name}", narrator_label="기계 음성" if voiced else None,
                        modified=MODIFIED, age=age, dedication=dedication), out)
    return out


@pytest.fixture(scope="module")
def young_book(work: Path, pictures: list[Path]) -> Path:
    """For 유아, narrated, with a dedication."""
    return _book(work, pictures, "young", "유아", DEDICATION, voiced=True)


@pytest.fixture(scope="module")
def older_book(work: Path, pictures: list[Path]) -> Path:
    return _book(work, pictures, "older", "초등 고학년")


@pytest.fixture(scope="module")
def default_book(work: Path, pictures: list[Path]) -> Path:
    return _book(work, pictures, "default", None)


def words(book: Path, page: str) -> str:
    return " ".join("".join(xml(book, page).itertext()).split())


def style(element) -> dict[str, str]:
    return dict(part.split(":", 1) for part in (element.get("style") or "").replace(" ", "").split(";") if part)


def px(value: str) -> int:
    return int(re.fullmatch(r"(-?\d+)px", value).group(1))


def body_size(book: Path, page: str = "page-1.xhtml") -> int:
    return px(style(xml(book, page).find(".//x:p[@class='story']", NS))["font-size"])


@pytest.mark.e2e  # EPUBCheck starts a Java VM: the full run, not the fast lane
def test_a_narrated_book_with_a_dedication_passes_epubcheck(young_book: Path):
    report = epubcheck(young_book)
    assert problems(report) == []
    assert report["publication"]["hasAudio"] is True


def test_the_end_page_is_last_in_the_spine_and_the_contents_and_says_the_end_and_the_dedication(young_book: Path):
    assert spine(young_book) == ["cover.xhtml", "page-1.xhtml", "page-2.xhtml", "end.xhtml"]
    toc = [(a.get("href"), a.text) for a in xml(young_book, "nav.xhtml").iterfind(".//x:nav[@epub:type='toc']//x:a", NS)]
    assert toc[-1] == ("end.xhtml", "끝")
    end = xml(young_book, "end.xhtml")
    assert end.find(".//x:p[@class='the-end']", NS).text == "끝"
    dedication = end.find(".//x:p[@class='dedication']", NS)
    # The parent's words as typed: escaped, their line break kept.
    assert "".join(dedication.itertext()) == DEDICATION.replace("\n", "")
    assert dedication.find("x:br", NS) is not None
    assert end.find(".//x:img[@alt='마지막 장면 그림']", NS).get("src") == "images/page-2.jpg"  # a window onto the last picture
    assert "끝" not in spans(young_book, "page-2.xhtml").values()
    # No overlay on the end page: a narrated book has one per story page.
    items = {item.get("href"): item for item in package(young_book).iterfind("opf:manifest/opf:item", NS)}
    assert items["end.xhtml"].get("media-overlay") is None
    assert [href for href, item in items.items() if item.get("media-overlay")] == ["page-1.xhtml", "page-2.xhtml"]


def test_without_a_dedication_the_end_page_still_shows_the_end_and_the_last_picture(older_book: Path):
    assert spine(older_book)[-1] == "end.xhtml"
    end = xml(older_book, "end.xhtml")
    assert end.find(".//x:p[@class='the-end']", NS).text == "끝"
    assert end.find(".//x:p[@class='dedication']", NS) is None
    assert end.find(".//x:img[@alt='마지막 장면 그림']", NS) is not None
    assert end.find(".//x:img[@class='garland']", NS) is not None


def test_the_type_is_sized_for_the_readers_age(young_book: Path, default_book: Path, older_book: Path):
    young, default, older = body_size(young_book), body_size(default_book), body_size(older_book)
    assert young > default > older
    assert 50 <= young <= 56 and 38 <= default <= 42 and 31 <= older <= 35  # 22, 17 and 14 pt on A5
    css = {name: read(book, "style.css").decode() for name, book in (("young", young_book), ("older", older_book))}
    assert "text-align: center" in css["young"] and "text-align: left" in css["older"]  # older readers: ragged right


def test_a_story_page_has_the_picture_across_the_top_and_the_text_below_it(default_book: Path):
    for n in (1, 2):
        page = xml(default_book, f"page-{n}.xhtml")
        box = page.find(".//x:div[@class='picture']", NS)
        box_style = style(box)
        height = px(box_style["height"])
        assert box_style["top"] in ("0", "0px") and 0.55 * 1414 <= height <= 0.72 * 1414
        picture = style(box.find("x:img", NS))
        # The picture covers its box, the full page width (cut to it, never letterboxed).
        assert px(picture["left"]) <= 0 and px(picture["left"]) + px(picture["width"]) >= 1000
        assert px(picture["top"]) <= 0 and px(picture["top"]) + px(picture["height"]) >= height
        story = page.find(".//x:p[@class='story']", NS)
        assert px(style(story)["top"]) >= height + 32  # on the band, never over the picture
        assert "".join(story.itertext()) == TEXTS[n - 1]
    css = read(default_book, "style.css").decode()
    assert re.search(r"\.picture \{[^}]*width: 1000px;[^}]*overflow: hidden;", css)


def test_the_cover_says_whose_book_it_is_and_keeps_the_creator_in_the_metadata(young_book: Path):
    cover = words(young_book, "cover.xhtml")
    assert byline("하은") in cover and "하은이" in byline("하은")  # 하은 ends in a consonant: 하은이
    assert "유아" in cover and "2025년 5월 3일" in cover
    assert "TalesRunner" not in cover
    assert package(young_book).find("opf:metadata/dc:creator", NS).text == "TalesRunner"
    picture = xml(young_book, "cover.xhtml").find(".//x:div[@class='picture']", NS)
    assert picture.find("x:img", NS).get("src") == "images/page-1.jpg"
