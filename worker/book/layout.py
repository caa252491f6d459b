"""The measures of the book's pages: page sizes, type by reader age, how tall a page's picture is.

Also who the book is about in Korean (the cover's byline) and the two ornaments the pages share.

A story page is a picture book's: the picture edge to edge across the top of the page, the
paragraph below it on a calm band of paper with wide margins, type as large as the reader's age
wants (a 유아 book is read aloud with a finger under the words; an 초등 고학년 reader reads alone).
How much of the page the picture takes follows the text: a line or two leave it up to
`picture_max` of the height, a long paragraph takes the band down to `picture_min`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from reportlab.lib.colors import HexColor
from reportlab.lib.units import mm

from shared.vocabulary import has_final_consonant, subject

log = logging.getLogger(__name__)

INK = HexColor("#3b3838")
TITLE_INK = HexColor("#4a3f5c")
SOFT_INK = HexColor("#8a6f5a")
PAPER = HexColor("#fdf4e3")  # warm cream: the band under every picture, the cover, the end
STITCH = HexColor("#e7c9a5")
ACCENTS = (HexColor("#f6b8a6"), HexColor("#bfe3cf"), HexColor("#bcd6ec"), HexColor("#fbe2a0"))
WHITE = HexColor("#ffffff")

DEFAULT_AGE = "초등 저학년"
AGES = ("유아", "초등 저학년", "초등 고학년")


@dataclass(frozen=True)
class Type:
    """The paragraph's type for one age band on one page size (points)."""

    size: float  # the size a paragraph starts at
    smallest: float  # it shrinks at most to this before going on to a following page
    measure: float  # the line length: short lines, wide margins in the band
    leading: float  # line height as a multiple of the size
    centred: bool  # short picture-book text is centred; long paragraphs read better ragged right


@dataclass(frozen=True)
class Layout:
    """Measures of one page size, in points (shares are of the page height)."""

    width: float
    height: float
    picture_min: float  # the least of the height a story page's picture takes
    picture_max: float  # the most; also the shape of every page's print copy
    picture_step: float  # picture heights come in these steps, so similar pages match
    pad_top: float  # from the band's edge to the first line
    folio: float  # the room under the text, the page number in its middle
    wave: float  # how far the band's soft top edge reaches into the picture
    title_size: float
    min_title_size: float
    scale: float  # the cover's and the end's smaller type and ornaments, relative to A5
    types: dict[str, Type]

    def type_for(self, age: str | None) -> Type:
        return self.types.get(age or DEFAULT_AGE, self.types[DEFAULT_AGE])

    @property
    def picture_box(self) -> tuple[float, float]:
        """The print copy's box (points): the page width by the tallest picture."""
        return self.width, self.height * self.picture_max


LAYOUTS: dict[str, Layout] = {
    # A5 prints on any home printer, two pages to an A4 sheet. Sizes as in Korean picture books:
    # 유아 about 22 pt, 초등 저학년 17, 초등 고학년 14.
    "A5": Layout(
        width=148 * mm, height=210 * mm, picture_min=0.58, picture_max=0.70, picture_step=0.04,
        pad_top=9 * mm, folio=13 * mm, wave=5 * mm, title_size=32, min_title_size=18, scale=1.0,
        types={
            "유아": Type(23, 22, 108 * mm, 1.5, True),
            "초등 저학년": Type(17, 15.5, 112 * mm, 1.6, True),
            "초등 고학년": Type(14, 13, 116 * mm, 1.65, False),
        },
    ),
    # A square 20 cm book, the other usual picture-book shape, for photo-book print services: the
    # same design, type a tenth larger (the page is wider, read from a little further away).
    "square": Layout(
        width=200 * mm, height=200 * mm, picture_min=0.58, picture_max=0.70, picture_step=0.04,
        pad_top=9 * mm, folio=13 * mm, wave=6 * mm, title_size=36, min_title_size=20, scale=1.12,
        types={
            "유아": Type(25, 24, 140 * mm, 1.5, True),
            "초등 저학년": Type(19, 17, 146 * mm, 1.6, True),
            "초등 고학년": Type(15.5, 14, 152 * mm, 1.65, False),
        },
    ),
}


def picture_height(layout: Layout, text_height: float, lowest: float | None = None) -> float:
    """How tall (points) a page's picture is when the band below must hold `text_height` of text.

    The tallest picture that leaves room for the text, in `picture_step` steps down from
    `picture_max`, never below `lowest` (default `picture_min`) of the page.
    """
    tallest = layout.picture_max * layout.height
    step = layout.picture_step * layout.height
    wanted = layout.height - (text_height + layout.pad_top + layout.folio)
    steps = max(0, math.ceil((tallest - wanted) / step - 1e-6))
    floor = (layout.picture_min if lowest is None else lowest) * layout.height
    return max(floor, tallest - steps * step)


def text_room(layout: Layout, picture: float) -> float:
    """The height left for text under a picture `picture` points tall."""
    return layout.height - picture - layout.pad_top - layout.folio


def called(name: str) -> str:
    """The hero as the story calls them: 하은 -> 하은이, 우주인 아저씨 and 곰 as they are.

    A given name ending in a consonant takes 이 (하은이, 서준이); titles and common nouns do not.
    Telling a name from a common noun takes the story writer's dictionary (Kiwi, worker.ml.plan),
    loaded only for a name that could take 이; without it, every such name does.
    """
    name = " ".join(name.split())
    if not name or not has_final_consonant(name) or not "\uac00" <= name[-1] <= "\ud7a3":
        return name
    try:
        from worker.ml.plan import Character, short_name  # the writer's rule, so cover and story agree

        return Character(name, short_name(name)).called_first()
    except Exception as error:  # noqa: BLE001 - no Kiwi here (a slim install, no model): the plain rule
        log.info("naming %s without the dictionary: %s", name, error)
        return name + "이"


def byline(protagonist: str) -> str:
    """Who the book is about, for the cover: 하은이가 주인공인 그림책 ("" without a hero)."""
    hero = called(protagonist)
    return f"{subject(hero)} 주인공인 그림책" if hero else ""


# Ornaments ----------------------------------------------------------------------------------------


def paper_band(canvas: Any, layout: Layout, edge: float, facing_up: bool = True, mirror: bool = False) -> None:
    """Paper over the page below `edge` (above it with facing_up False), its edge a soft wave.

    The wave reaches into the picture by at most layout.wave and never leaves a gap beside it
    (a Bezier curve stays inside its control points, all on the picture's side of `edge`).
    """
    width, amp = layout.width, layout.wave
    heights = (0.3, 1.0, 0.1, 0.75)  # start, two control points, end: a gentle rise and fall
    if mirror:
        heights = heights[::-1]
    ys = [edge + (1 if facing_up else -1) * amp * k for k in heights]
    far = 0 if facing_up else layout.height
    path = canvas.beginPath()
    path.moveTo(0, far)
    path.lineTo(0, ys[0])
    path.curveTo(width * 0.35, ys[1], width * 0.68, ys[2], width, ys[3])
    path.lineTo(width, far)
    path.close()
    canvas.setFillColor(PAPER)
    canvas.drawPath(path, stroke=0, fill=1)


def garland(canvas: Any, layout: Layout, centre: float, radius: float) -> None:
    """Soft dots in a ring of `radius` around (page middle, centre), and two big ones from the corners."""
    width, height, scale = layout.width, layout.height, layout.scale
    for (cx, cy, r), colour in zip(((0, 0, 30 * mm), (width, height, 34 * mm)), (ACCENTS[1], ACCENTS[2])):
        canvas.setFillColor(colour)
        canvas.circle(cx, cy, r * scale, stroke=0, fill=1)
    for n in range(36):
        angle = math.radians(n * 10 + 5)
        canvas.setFillColor(ACCENTS[n % len(ACCENTS)])
        dot = (1.5 if n % 2 else 2.3) * mm * scale
        canvas.circle(width / 2 + math.cos(angle) * radius, centre + math.sin(angle) * radius, dot, stroke=0, fill=1)
