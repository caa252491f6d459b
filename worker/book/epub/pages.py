"""Page layout and the XHTML pages: the page geometry, measuring a paragraph with the book's font
(`_Measure`), laying a scene's spans out on its page and on text-only continuation pages
(`_lay_out`, `_split`), the cover's layout, the photos as they go in the book (`_image`,
`_fit_box`), and the templates of the cover and story pages.

A paragraph too long for its page at the smallest body size continues on text-only pages (as in the
PDF), split between sentences; a sentence longer than a whole page is split between words (or
characters) and its audio clip divided in proportion to the letters on each side. Each continuation
page has its own overlay, since an overlay document belongs to one page.
"""
from __future__ import annotations

import io
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, ImageOps
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Paragraph

from worker.book import pdf
from worker.book.epub.overlays import _Piece, _clip, _ms

# Page geometry in CSS pixels of the viewport.
WIDTH, HEIGHT = 1000, 1414
MARGIN = 72
TEXT_WIDTH = WIDTH - 2 * MARGIN
PHOTO_TOP, PHOTO_HEIGHT = 72, 760
TEXT_TOP = PHOTO_TOP + PHOTO_HEIGHT + 56
TEXT_BOTTOM = 96
CONTINUED_TOP = 120  # text-only continuation pages
BODY_SIZES = (40, 38, 36, 34, 32, 30, 28)  # px; 40 px on a 1000 px page is the PDF's 16 pt on A5
TITLE_SIZES = (76, 70, 64, 58, 52, 46, 40)
LEADING = 1.65
# Readers lay text out with their own engines; measuring with reportlab is close, not exact.
FIT_SHARE = 0.86
CONVERTED_MAX_SIDE = 1800  # photos we re-encode (not JPEG/PNG) are capped at about 2x the frame
JPEG_QUALITY = 85


@dataclass
class _Doc:
    """One XHTML page of the spine and what goes on it."""

    name: str  # "page-3" -> page-3.xhtml, page-3.smil
    scene: int
    pieces: list[_Piece] = field(default_factory=list)
    image: str | None = None
    image_box: tuple[int, int, int, int] | None = None  # left, top, width, height
    body_size: int = BODY_SIZES[0]
    text_top: int = TEXT_TOP
    audio_href: str | None = None

    @property
    def clips(self) -> list[tuple[_Piece, tuple[float, float]]]:
        return [(piece, piece.clip) for piece in self.pieces if piece.clip]

    @property
    def duration(self) -> float:
        # What the overlay plays: its clips end to end (readers skip audio between clips).
        return sum(_ms(end) - _ms(start) for _, (start, end) in self.clips) / 1000


@dataclass(frozen=True)
class _Image:
    href: str
    media_type: str
    size: tuple[int, int]
    data: bytes


class _Measure:
    """How tall a paragraph sets at a size, measured with the book's font by reportlab (as the PDF sets it)."""

    def __init__(self, font: str):
        self.font = font

    def height(self, text: str, size: int, width: float = TEXT_WIDTH) -> float:
        # Characters beyond the BMP (emoji) are dropped by to_markup; count each as a Hangul-wide one.
        text = "".join("가" if ord(ch) > 0xFFFF else ch for ch in text)
        style = ParagraphStyle("measure", fontName=self.font, fontSize=size, leading=size * LEADING)
        _, used = Paragraph(pdf.to_markup(text), style).wrap(width * 0.97, 10**7)
        return used

    def fits(self, pieces: list[_Piece], size: int, room: float) -> bool:
        return self.height(_joined(pieces), size) <= room * FIT_SHARE


def _joined(pieces: list[_Piece]) -> str:
    return "".join((piece.sep if i else "") + piece.text for i, piece in enumerate(pieces))


def _lay_out(scene: int, pieces: list[_Piece], measure: _Measure) -> list[_Doc]:
    """The scene's page, and text-only pages after it when its paragraph does not fit at the smallest size."""
    scene_room = HEIGHT - TEXT_TOP - TEXT_BOTTOM
    for size in BODY_SIZES:
        if measure.fits(pieces, size, scene_room):
            used = measure.height(_joined(pieces), size)
            # Short text sits in the upper part of its space, the way picture books (and the PDF) set it.
            return [_Doc(f"page-{scene}", scene, pieces, body_size=size, text_top=TEXT_TOP + int((scene_room - used) * 0.3))]
    size = BODY_SIZES[-1]
    continued_room = HEIGHT - CONTINUED_TOP - TEXT_BOTTOM
    pages: list[list[_Piece]] = []
    current: list[_Piece] = []
    room = scene_room
    queue = deque(pieces)
    while queue:
        piece = queue.popleft()
        if measure.fits([*current, piece], size, room):
            current.append(piece)
            continue
        if not current:
            head, tail = _split(piece, lambda part: measure.fits([part], size, room))
            current = [head]
            queue.appendleft(tail)
        else:
            queue.appendleft(piece)
        pages.append(current)
        current, room = [], continued_room
    if current or not pages:
        pages.append(current)
    docs = [_Doc(f"page-{scene}", scene, pages[0], body_size=size)]
    docs += [_Doc(f"page-{scene}-{n}", scene, part, body_size=size, text_top=CONTINUED_TOP) for n, part in enumerate(pages[1:], start=2)]
    return docs


def _split(piece: _Piece, fits: Callable[[_Piece], bool]) -> tuple[_Piece, _Piece]:
    """The longest head of `piece` that fits, cut between words (between characters for one huge word)."""
    words = re.split(r"(\s+)", piece.text)
    count = _longest(len(words) - 1, lambda n: fits(replace(piece, text="".join(words[:n]).rstrip())))
    if count:
        head, tail = "".join(words[:count]).rstrip(), "".join(words[count:]).lstrip()
    else:  # not even the first word fits: cut it between letters (at least one goes on this page)
        chars = max(1, _longest(len(piece.text) - 1, lambda n: fits(replace(piece, text=piece.text[:n]))))
        head, tail = piece.text[:chars].rstrip(), piece.text[chars:].lstrip()
    head_clip = tail_clip = None
    if piece.clip:
        start, end = piece.clip
        share = len("".join(head.split())) / max(1, len("".join((head + tail).split())))
        middle = start + (end - start) * share
        head_clip, tail_clip = _clip(start, middle, 0), _clip(middle, end, 0)
    base = piece.id if piece.part == 1 else piece.id.rsplit("-", 1)[0]
    return (
        replace(piece, text=head, clip=head_clip),
        _Piece(f"{base}-{piece.part + 1}", tail, "", tail_clip, piece.part + 1),
    )


def _longest(upper: int, ok: Callable[[int], bool]) -> int:
    """The largest n in 0..upper with ok(n), for ok true up to some n and false after; 0 when none."""
    low, high = 0, max(0, upper)
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _fit_box(size: tuple[int, int], left: int, top: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The photo scaled to fit the frame, centred in it (left, top, width, height in px)."""
    scale = min(width / size[0], height / size[1])
    w, h = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    return left + (width - w) // 2, top + (height - h) // 2, w, h


@dataclass(frozen=True)
class _Cover:
    title_size: int
    title_top: int
    image: _Image | None
    image_box: tuple[int, int, int, int] | None


def _cover_layout(title: str, image: _Image | None, measure: _Measure) -> _Cover:
    title_top, title_room = 130, 330
    size = next((s for s in TITLE_SIZES if measure.height(title, s, TEXT_WIDTH - 40) <= title_room * FIT_SHARE), TITLE_SIZES[-1])
    used = min(title_room, measure.height(title, size, TEXT_WIDTH - 40))
    photo_top = title_top + int(used) + 60
    photo_bottom = HEIGHT - 300  # the protagonist and the date sit below
    box = None
    if image is not None and photo_bottom - photo_top > 200:
        box = _fit_box(image.size, MARGIN + 40, photo_top, TEXT_WIDTH - 80, photo_bottom - photo_top)
    return _Cover(size, title_top, image, box)


def _image(path: Path, stem: str) -> _Image:
    """The photo as it goes in the book: JPEG and PNG as given; anything else (or a turned JPEG) as upright JPEG."""
    path = Path(path)
    with Image.open(path) as image:
        orientation = image.getexif().get(0x0112, 1)
        if image.format == "PNG" or (image.format == "JPEG" and image.mode in ("RGB", "L") and orientation in (0, 1)):
            kind = "png" if image.format == "PNG" else "jpg"
            return _Image(f"{stem}.{kind}", "image/png" if kind == "png" else "image/jpeg", image.size, path.read_bytes())
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        image = image.convert("RGB")
        image.thumbnail((CONVERTED_MAX_SIDE, CONVERTED_MAX_SIDE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
        return _Image(f"{stem}.jpg", "image/jpeg", image.size, buffer.getvalue())


_XHTML_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="ko" lang="ko">
<head>
<meta charset="UTF-8"/>
<meta name="viewport" content="width={{ book.width }}, height={{ book.height }}"/>
<title>{{ book.title }}</title>
<link rel="stylesheet" type="text/css" href="style.css"/>
</head>
"""

_PAGE_TEMPLATES = {
    "cover.xhtml": _XHTML_HEAD + """<body class="cover" epub:type="cover">
<div class="page">
<h1 class="title" style="top: {{ cover.title_top }}px; font-size: {{ cover.title_size }}px;">{{ book.title|html }}</h1>
{% if cover.image_box %}
<img class="photo" src="{{ cover.image.href }}" alt="표지 사진" style="left: {{ cover.image_box[0] }}px; top: {{ cover.image_box[1] }}px; width: {{ cover.image_box[2] }}px; height: {{ cover.image_box[3] }}px;"/>
{% endif %}
<p class="byline">{% if book.protagonist %}{{ book.protagonist|html }}<br/>{% endif %}{{ book.made_on_text }}</p>
</div>
</body>
</html>
""",
    "page.xhtml": _XHTML_HEAD + """<body>
<div class="page">
{% if doc.image_box %}
<img class="photo" src="{{ doc.image }}" alt="{{ doc.scene }}번째 장면 사진" style="left: {{ doc.image_box[0] }}px; top: {{ doc.image_box[1] }}px; width: {{ doc.image_box[2] }}px; height: {{ doc.image_box[3] }}px;"/>
{% endif %}
<p class="story" id="story" style="top: {{ doc.text_top }}px; font-size: {{ doc.body_size }}px;">
{%- for piece in doc.pieces %}{% if not loop.first %}{{ piece.sep|html }}{% endif %}<span id="{{ piece.id }}">{{ piece.text|html }}</span>{% endfor -%}
</p>
</div>
</body>
</html>
""",
}
