"""Story pages: the page geometry, type by the reader's age, measuring a paragraph with the book's font
(`_Measure`), laying a scene's spans out on its page and on the pages it runs on to (`_lay_out`,
`_split`), the pictures as they go in the book (`_image`, cut to their boxes by `_cover_crop`), and
the story page's template.

A story page is a picture book's, as the PDF draws it: the picture edge to edge across the top of the
page (70% of its height for a line or two, down to 58% for a long paragraph), the paragraph below on
a calm band of paper whose soft top edge reaches a little into the picture, never over it. The type
is as large as the reader's age wants (`TYPES`); a paragraph too long for its page shrinks only a
little (through its type's sizes) and then continues on pages with a strip of the same picture,
split between sentences; a sentence longer than a whole page is split between words (or
characters) and its audio clip divided in proportion to the letters on each side. Each page of a
scene has its own overlay, since an overlay document belongs to one page.
"""
from __future__ import annotations

import io
import math
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

# Page geometry in CSS pixels of the viewport (the A5 shape of the PDF: 1 pt is about 2.4 px).
WIDTH, HEIGHT = 1000, 1414
PICTURE_MAX, PICTURE_MIN, PICTURE_STEP = 990, 820, 57  # 70% and 58% of the page, in steps of 4%
CONTINUED_PICTURE = 424  # a page the paragraph runs on to shows a 30% strip of the same picture
WAVE = 34  # how far the paper band's soft edge reaches into the picture
PAD_TOP = 64  # from the picture's edge to the band's first line
FOLIO = 100  # the room under the text, the page number in its middle
# Readers lay text out with their own engines; measuring with reportlab is close, not exact.
FIT_SHARE = 0.86
FOCUS_Y = 0.4  # a picture cut to a wider box keeps more of its top than its bottom (faces, heads)
CONVERTED_MAX_SIDE = 1800  # photos we re-encode (not JPEG/PNG) are capped at about 2x the page width
JPEG_QUALITY = 85


@dataclass(frozen=True)
class _Type:
    """The paragraph's type for one age band, in px of the 1000 px page."""

    sizes: tuple[int, ...]  # largest first: a long paragraph shrinks through these before running on
    measure: int  # the line length: short lines, wide margins
    leading: float  # line height as a multiple of the size
    centred: bool  # short picture-book text is centred; older readers' longer paragraphs ragged right


DEFAULT_AGE = "초등 저학년"
# As Korean picture books set them (and the PDF on A5): 유아 about 22 pt, 초등 저학년 17, 초등 고학년 14.
TYPES = {
    "유아": _Type((55, 54, 53, 52, 51), 720, 1.5, True),
    "초등 저학년": _Type((42, 41, 40, 39), 760, 1.6, True),
    "초등 고학년": _Type((35, 34, 33, 32), 800, 1.65, False),
}


def type_for(age: str | None) -> _Type:
    """The type of an age band; 초등 저학년's for None or a band this book does not know."""
    return TYPES.get(age or DEFAULT_AGE, TYPES[DEFAULT_AGE])


@dataclass
class _Doc:
    """One story page of the spine (a scene's page or a page its paragraph runs on to) and what goes on it."""

    name: str  # "page-3" -> page-3.xhtml, page-3.smil; "page-3-2" for the page it runs on to
    scene: int
    pieces: list[_Piece] = field(default_factory=list)
    picture: int = PICTURE_MAX  # the height of the picture across the top (HEIGHT: a page without text)
    body_size: int = TYPES[DEFAULT_AGE].sizes[0]
    text_top: int = PICTURE_MAX + PAD_TOP
    breaks: bool = False  # a line per sentence (short centred text, each sentence fitting one line)
    image: str | None = None
    crop: tuple[int, int, int, int] | None = None  # the picture in its box: left, top, width, height
    number: int = 0  # the page number printed at its foot
    audio_href: str | None = None

    @property
    def continued(self) -> bool:
        return self.name != f"page-{self.scene}"

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

    def __init__(self, font: str, kind: _Type = TYPES[DEFAULT_AGE]):
        self.font, self.kind = font, kind

    def height(self, text: str, size: float, width: float | None = None, leading: float | None = None) -> float:
        # Characters beyond the BMP (emoji) are dropped by to_markup; count each as a Hangul-wide one.
        text = "".join("가" if ord(ch) > 0xFFFF else ch for ch in text)
        style = ParagraphStyle("measure", fontName=self.font, fontSize=size, leading=size * (leading or self.kind.leading))
        _, used = Paragraph(pdf.to_markup(text), style).wrap((width or self.kind.measure) * 0.97, 10**7)
        return used

    def fits(self, pieces: list[_Piece], size: int, room: float) -> bool:
        return self.height(_joined(pieces), size) <= room * FIT_SHARE


def _joined(pieces: list[_Piece]) -> str:
    return "".join((piece.sep if i else "") + piece.text for i, piece in enumerate(pieces))


def _room(picture: int) -> int:
    """The height left for text under a picture `picture` px tall."""
    return HEIGHT - picture - PAD_TOP - FOLIO


def _picture_height(text_height: float, lowest: int = PICTURE_MIN) -> int:
    """The tallest picture, in steps down from PICTURE_MAX, that leaves room for the text; never below `lowest`."""
    wanted = HEIGHT - text_height / FIT_SHARE - PAD_TOP - FOLIO
    steps = max(0, math.ceil((PICTURE_MAX - wanted) / PICTURE_STEP - 1e-6))
    return max(lowest, PICTURE_MAX - steps * PICTURE_STEP)


def _text_top(picture: int, used: float) -> int:
    """Where the text starts: in the band under the picture, a little above its middle when there is room to spare."""
    return picture + PAD_TOP + int(max(0.0, _room(picture) - used) * 0.42)


def _line_per_sentence(pieces: list[_Piece], size: int, measure: _Measure) -> bool:
    """Short centred text reads best a sentence to a line, when each sentence fits on one."""
    kind = measure.kind
    if not kind.centred or not 1 < len(pieces) <= 4 or any("\n" in piece.sep for piece in pieces[1:]):
        return False
    one_line = size * kind.leading * 1.01
    return all(measure.height(piece.text, size, kind.measure * 0.92) <= one_line for piece in pieces)


def _lay_out(scene: int, pieces: list[_Piece], measure: _Measure) -> list[_Doc]:
    """The scene's page, and pages after it when its paragraph does not fit at the type's smallest size."""
    kind, name = measure.kind, f"page-{scene}"
    if not pieces:  # nothing to read: the picture takes the whole page
        return [_Doc(name, scene, [], HEIGHT, kind.sizes[0], HEIGHT - FOLIO)]
    for size in kind.sizes:
        breaks = _line_per_sentence(pieces, size, measure)
        used = len(pieces) * size * kind.leading if breaks else measure.height(_joined(pieces), size)
        picture = _picture_height(used)
        if used <= _room(picture) * FIT_SHARE:
            return [_Doc(name, scene, pieces, picture, size, _text_top(picture, used), breaks)]
    size = kind.sizes[-1]
    pages: list[list[_Piece]] = []
    current: list[_Piece] = []
    room = _room(PICTURE_MIN)
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
        current, room = [], _room(CONTINUED_PICTURE)
    if current or not pages:
        pages.append(current)
    docs = []
    for n, part in enumerate(pages, start=1):
        used = measure.height(_joined(part), size)
        # A page it runs on to shows as much of the same picture as its text leaves room for.
        picture = PICTURE_MIN if n == 1 else _picture_height(used, CONTINUED_PICTURE)
        docs.append(_Doc(name if n == 1 else f"{name}-{n}", scene, part, picture, size, _text_top(picture, used)))
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


def _cover_crop(size: tuple[int, int], width: int, height: int, focus_y: float = FOCUS_Y) -> tuple[int, int, int, int]:
    """The picture scaled to cover a width x height box, centred across and a little high (left, top, width, height in px).

    The picture keeps its bytes; the box (overflow hidden) cuts what lies outside it, in every reader
    (object-fit is not in older ones).
    """
    scale = max(width / size[0], height / size[1])
    w, h = max(width, math.ceil(size[0] * scale)), max(height, math.ceil(size[1] * scale))
    top = min(0, max(height - h, round(height / 2 - focus_y * h)))
    return (width - w) // 2, top, w, h


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
        image.info.clear()  # no metadata rides into the copy: a 64 KB comment breaks Pillow's JPEG writer
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

# The picture (cut to its box) across the top, the paper band's wave over its lower edge, the
# paragraph in the band, the page number in a coloured dot at the foot.
_PAGE_TEMPLATES = {
    "page.xhtml": _XHTML_HEAD + """<body class="scene">
<div class="page">
{% if doc.image %}
<div class="picture" style="top: 0; height: {{ doc.picture }}px;">
<img src="{{ doc.image }}" alt="{{ '' if doc.continued else doc.scene ~ '번째 장면 그림' }}" style="left: {{ doc.crop[0] }}px; top: {{ doc.crop[1] }}px; width: {{ doc.crop[2] }}px; height: {{ doc.crop[3] }}px;"/>
</div>
{% if doc.picture < book.height %}
<img class="wave{{ ' mirror' if doc.number is even else '' }}" src="images/wave.svg" alt="" style="top: {{ doc.picture - book.wave }}px;"/>
{% endif %}
{% endif %}
<p class="story" id="story" style="top: {{ doc.text_top }}px; font-size: {{ doc.body_size }}px;">
{%- for piece in doc.pieces %}{% if not loop.first %}{% if doc.breaks %} <br/>{% else %}{{ piece.sep|html }}{% endif %}{% endif %}<span id="{{ piece.id }}">{{ piece.text|html }}</span>{% endfor -%}
</p>
<div class="folio dot-{{ (doc.number - 1) % 4 }}" aria-hidden="true">{{ doc.number }}</div>
</div>
</body>
</html>
""",
}
