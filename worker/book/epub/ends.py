"""The cover and the last page, as the PDF draws them.

The cover: the first picture large over the lower part of the page; above it, on a calm band of
paper, the title, whose book it is (the byline: 하은이가 주인공인 그림책, never an author credit),
and the reader's age band with the date. The last page: 끝, large, under a round window onto the
last picture ringed with soft dots, and the parent's dedication below it when there is one.

The ornaments (the band's soft wave, the ring of dots) are two small SVG images of the book's own,
so every reader draws them as images, with no inline SVG to declare.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from worker.book.epub.pages import (
    FIT_SHARE, HEIGHT, PICTURE_MAX, WAVE, WIDTH, _XHTML_HEAD, _cover_crop, _Image, _Measure,
)

# The book's colours, the PDF's (worker/book/layout.py).
INK, TITLE_INK, SOFT_INK, PAPER = "#3b3838", "#4a3f5c", "#8a6f5a", "#fdf4e3"
ACCENTS = ("#f6b8a6", "#bfe3cf", "#bcd6ec", "#fbe2a0")

# The cover's words: a title that shrinks to fit half the page, the byline and a small line under it.
COVER_MEASURE = 760
TITLE_SIZES = (76, 72, 68, 64, 60, 56, 52, 48, 44)
TITLE_LEADING = 1.25
BYLINE_SIZE, SMALL_SIZE, LINE_LEADING = 36, 26, 1.4
COVER_PAD_TOP, COVER_PAD_BOTTOM = 110, 70 + WAVE
TITLE_GAP, LINE_GAP = 36, 18

# The end: a round window onto the last picture, a white ring, a ring of dots, 끝 and the dedication.
RADIUS, RING = 270, 18
GARLAND = RADIUS + RING + 40  # the dots' circle
END_SIZE = 132
DEDICATION_MEASURE = 700
DEDICATION_SIZES = (40, 38, 36, 34, 32, 30)
DEDICATION_LEADING = 1.6


@dataclass(frozen=True)
class _Cover:
    title_size: int
    words_top: int  # the title's top; the byline and the small line follow it
    band: int  # the paper band across the top; the picture fills the page under it
    byline: str
    small: str
    image: _Image | None
    crop: tuple[int, int, int, int] | None  # the picture in its box (under the band)


def _cover_layout(title: str, byline: str, small: str, image: _Image | None, measure: _Measure) -> _Cover:
    """The band as tall as its words need (at least the page above a 70% picture), the picture under it."""
    lines = [text for text in (byline, small) if text]
    heights = [measure.height(text, size, COVER_MEASURE, LINE_LEADING)
               for text, size in ((byline, BYLINE_SIZE), (small, SMALL_SIZE)) if text]
    gaps = TITLE_GAP + LINE_GAP * max(0, len(lines) - 1)
    title_room = HEIGHT * 0.5 - COVER_PAD_TOP - COVER_PAD_BOTTOM - gaps - sum(heights)

    def title_height(size: int) -> float:
        return measure.height(title, size, COVER_MEASURE, TITLE_LEADING)

    size = next((s for s in TITLE_SIZES if title_height(s) <= title_room * FIT_SHARE), TITLE_SIZES[-1])
    block = title_height(size) + gaps + sum(heights)
    band = max(HEIGHT - PICTURE_MAX, math.ceil(block / FIT_SHARE) + COVER_PAD_TOP + COVER_PAD_BOTTOM)
    words_top = COVER_PAD_TOP + int((band - COVER_PAD_TOP - COVER_PAD_BOTTOM - block) * 0.5)
    crop = None
    if image is not None and HEIGHT - band > 200:
        crop = _cover_crop(image.size, WIDTH, HEIGHT - band)
    return _Cover(size, words_top, band, byline, small, image, crop)


@dataclass(frozen=True)
class _Ending:
    image: _Image | None
    crop: tuple[int, int, int, int] | None  # the picture in the round window's square
    centre: int  # the window's centre, px from the top
    end_top: int  # the top of 끝's line
    dedication: str
    dedication_size: int
    dedication_top: int
    rule_top: int


def _ending_layout(image: _Image | None, dedication: str, measure: _Measure) -> _Ending:
    """끝 under the round picture, the dedication under a short rule; the group a touch above the middle."""
    size, used = DEDICATION_SIZES[0], 0.0
    if dedication:
        for size in DEDICATION_SIZES:
            used = measure.height(dedication, size, DEDICATION_MEASURE, DEDICATION_LEADING)
            if used <= HEIGHT * 0.2 * FIT_SHARE:
                break
    end_gap, rule_gap, words_gap = 96, 34, 44
    below = END_SIZE + (rule_gap + 4 + words_gap + used if dedication else 0.0)
    group = 2 * (RADIUS + RING) + end_gap + below
    top = int((HEIGHT - group) / 2 - HEIGHT * 0.02)
    centre = top + RADIUS + RING
    end_top = centre + RADIUS + RING + end_gap
    rule_top = end_top + END_SIZE + rule_gap
    crop = _cover_crop(image.size, 2 * RADIUS, 2 * RADIUS) if image is not None else None
    return _Ending(image, crop, centre, end_top, dedication, size, rule_top + 4 + words_gap, rule_top)


def _wave_svg() -> str:
    """The paper band's top edge: paper under a gentle rise and fall (stretched to the page width)."""
    amp = WAVE
    ys = [round(amp * (1 - k), 1) for k in (0.3, 1.0, 0.1, 0.75)]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" height="{amp + 2}" viewBox="0 0 {WIDTH} {amp + 2}" preserveAspectRatio="none">
<path d="M0,{ys[0]} C{WIDTH * 0.35:.0f},{ys[1]} {WIDTH * 0.68:.0f},{ys[2]} {WIDTH},{ys[3]} L{WIDTH},{amp + 2} L0,{amp + 2} Z" fill="{PAPER}"/>
</svg>
"""


def _garland_svg() -> str:
    """A ring of soft dots in the four accent colours, to sit around the end's round picture."""
    side = 2 * (GARLAND + 20)
    dots = []
    for n in range(36):
        angle = math.radians(n * 10 + 5)
        x, y = side / 2 + math.cos(angle) * GARLAND, side / 2 + math.sin(angle) * GARLAND
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{10 if n % 2 else 15}" fill="{ACCENTS[n % len(ACCENTS)]}"/>')
    body = "\n".join(dots)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{side}" height="{side}" viewBox="0 0 {side} {side}">
{body}
</svg>
"""


ORNAMENTS = {"images/wave.svg": _wave_svg(), "images/garland.svg": _garland_svg()}

_END_TEMPLATES = {
    "cover.xhtml": _XHTML_HEAD + """<body class="cover" epub:type="cover">
<div class="page">
{% if cover.crop %}
<div class="picture" style="top: {{ cover.band }}px; height: {{ book.height - cover.band }}px;">
<img src="{{ cover.image.href }}" alt="표지 그림" style="left: {{ cover.crop[0] }}px; top: {{ cover.crop[1] }}px; width: {{ cover.crop[2] }}px; height: {{ cover.crop[3] }}px;"/>
</div>
<img class="wave flip" src="images/wave.svg" alt="" style="top: {{ cover.band - 2 }}px;"/>
{% endif %}
<div class="blob" style="left: -180px; top: -180px; width: 360px; height: 360px; background: {{ accents[0] }};"></div>
<div class="blob" style="left: 918px; top: -28px; width: 164px; height: 164px; background: {{ accents[1] }};"></div>
<div class="cover-words" style="top: {{ cover.words_top }}px;">
<h1 class="title" style="font-size: {{ cover.title_size }}px;">{{ book.title|html }}</h1>
{% if cover.byline %}
<p class="byline">{{ cover.byline }}</p>
{% endif %}
<p class="small">{{ cover.small }}</p>
</div>
</div>
</body>
</html>
""",
    "end.xhtml": _XHTML_HEAD + """<body class="ending">
<div class="page">
<div class="blob" style="left: -200px; top: {{ book.height - 200 }}px; width: 400px; height: 400px; background: {{ accents[1] }};"></div>
<div class="blob" style="left: 770px; top: -230px; width: 460px; height: 460px; background: {{ accents[2] }};"></div>
<img class="garland" src="images/garland.svg" alt="" style="left: {{ book.width // 2 - garland }}px; top: {{ ending.centre - garland }}px; width: {{ 2 * garland }}px; height: {{ 2 * garland }}px;"/>
<div class="window" style="left: {{ book.width // 2 - radius - ring }}px; top: {{ ending.centre - radius - ring }}px; width: {{ 2 * radius }}px; height: {{ 2 * radius }}px; border-width: {{ ring }}px;{% if not ending.crop %} background: {{ accents[2] }};{% endif %}">
{% if ending.crop %}
<img src="{{ ending.image.href }}" alt="마지막 장면 그림" style="left: {{ ending.crop[0] }}px; top: {{ ending.crop[1] }}px; width: {{ ending.crop[2] }}px; height: {{ ending.crop[3] }}px;"/>
{% endif %}
</div>
<p class="the-end" style="top: {{ ending.end_top }}px; font-size: {{ end_size }}px;">끝</p>
{% if ending.dedication %}
<div class="rule" style="top: {{ ending.rule_top }}px;"></div>
<p class="dedication" style="top: {{ ending.dedication_top }}px; font-size: {{ ending.dedication_size }}px;">{{ ending.dedication|html }}</p>
{% endif %}
</div>
</body>
</html>
""",
}


def _end_values() -> dict:
    """What the cover and end templates (and the style sheet) use beside the book: measures and colours."""
    return {
        "accents": ACCENTS, "radius": RADIUS, "ring": RING, "garland": GARLAND + 20, "end_size": END_SIZE,
        "cover_measure": COVER_MEASURE, "title_leading": TITLE_LEADING, "title_gap": TITLE_GAP, "line_gap": LINE_GAP,
        "byline_size": BYLINE_SIZE, "small_size": SMALL_SIZE, "line_leading": LINE_LEADING,
        "dedication_measure": DEDICATION_MEASURE, "dedication_leading": DEDICATION_LEADING,
    }
