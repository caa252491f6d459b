"""The book as a PDF a parent would print: a cover, one picture-book page per scene, and the end.

Every story page has its picture edge to edge across the top of the page and the paragraph below
on a calm band of paper, in type sized for the reader's age (layout.py holds the measures). The
cover shows the first picture large under a band with the title and who the book is about; the
last page says 끝, with the parent's dedication when there is one.

Drawn with reportlab's canvas (the layout is fixed, so a flowing document template would only get
in the way) and its Paragraph for text. Paragraph with the default word wrap breaks lines at
spaces only, which is how Korean is set: between 어절, never inside one. A word wider than the
line is the one exception (reportlab's splitLongWords), so nothing runs off the page.
"""
from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib.colors import Color
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from shared.vocabulary import AGE_LABELS, default_title, korean_date
from worker.book import photos
from worker.book.fonts import SYSTEM_FONT_DIR, BookFonts, FontError, glyphs, register_fonts, resolve_fonts
from worker.book.layout import (
    ACCENTS, INK, LAYOUTS, PAPER, SOFT_INK, TITLE_INK, WHITE, Layout, byline, garland, paper_band, picture_height,
    text_room,
)

__all__ = ["LAYOUTS", "BookSpec", "FontError", "Layout", "Page", "RenderReport", "render_book", "resolve_fonts", "to_markup"]

PageSize = Literal["A5", "square"]

# reportlab wraps every stream, JPEGs included, in ASCII85 text by default: 25% larger images,
# encoded in pure Python (0.6 s of a 0.7 s rebuild of a 10-photo book here). Binary is standard PDF.
rl_config.useA85 = 0

TITLE_LEADING = 1.25
CONTINUED_PICTURE = 0.3  # a page the paragraph runs on to shows a strip of the same picture
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
DEDICATION_FONT = SYSTEM_FONT_DIR / "NanumMyeongjo.ttf"  # a serif for the dedication, when installed


@dataclass(frozen=True)
class Page:
    index: int
    image_path: Path
    text: str


@dataclass(frozen=True)
class BookSpec:
    title: str
    protagonist: str
    made_on: date
    pages: list[Page]
    author: str = "TalesRunner"  # PDF metadata only; the cover names the hero, not an author
    age: str | None = None  # the reader age band: "유아", "초등 저학년" (also for None), "초등 고학년"
    dedication: str | None = None  # the parent's words for the last page ("사랑하는 하은이에게")


@dataclass
class RenderReport:
    """What a build did: pages written, photos scaled now and photos taken from the cache."""

    pages: int = 0
    photos_made: int = 0
    photos_reused: int = 0
    seconds: float = 0.0
    bytes: int = 0
    photo_files: list[Path] = field(default_factory=list)


# Never printed: controls, format characters (zero-width space, joiners, bidi marks), surrogates,
# private use and unassigned code points.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def to_markup(text: str, drawable: Container[int] | None = None, fallback: tuple[str, Container[int]] | None = None) -> str:
    """User text as Paragraph markup that prints exactly what was typed.

    `<`, `&` and `>` are escaped so they print literally and never open a tag; line breaks the
    user typed become <br/>, runs of spaces one space; control characters (which reportlab's
    parser chokes on) are dropped. With `drawable` (the code points the font has glyphs for),
    other characters are set in the `fallback` font (name, its code points) when it has them,
    and dropped otherwise: an emoji would print as an empty box and derail pdftotext after it.
    """
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        runs: list[tuple[str | None, str]] = []  # (font face or None for the main font, text)
        space = False
        for ch in line:
            if ch.isspace():
                space = bool(runs)
                continue
            face = _face_for(ch, drawable, fallback)
            if face == "":
                continue
            if space:
                runs.append((None, " "))
                space = False
            if runs and runs[-1][0] == face:
                runs[-1] = (face, runs[-1][1] + ch)
            else:
                runs.append((face, ch))
        # A <font> run inside a word does not split it: reportlab wraps at spaces across runs.
        markup = "".join(escape(part) if face is None else f'<font face="{face}">{escape(part)}</font>' for face, part in runs)
        if markup:
            lines.append(markup)
    return "<br/>".join(lines)


def _face_for(ch: str, drawable: Container[int] | None, fallback: tuple[str, Container[int]] | None) -> str | None:
    """None: the main font; a name: the fallback font; "": not printable at all."""
    # Beyond the Basic Multilingual Plane (emoji), reportlab's subsets map text back to 16-bit
    # code points: a cat emoji would come out of pdftotext as a Greek letter.
    if ord(ch) > 0xFFFF or unicodedata.category(ch) in _UNPRINTABLE:
        return ""
    if drawable is None or ord(ch) in drawable:
        return None
    if fallback is not None and ord(ch) in fallback[1]:
        return fallback[0]
    return ""


def render_book(
    spec: BookSpec,
    out_path: Path,
    print_dir: Path,
    font_path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    page_size: PageSize = "A5",
) -> RenderReport:
    """Write the book's PDF to out_path; scaled pictures are cached in print_dir for rebuilds."""
    started = time.perf_counter()
    if page_size not in LAYOUTS:
        raise ValueError(f"unknown page size {page_size!r}; use one of {', '.join(LAYOUTS)}")
    layout = LAYOUTS[page_size]
    fonts = register_fonts(font_path)
    report = RenderReport()
    protagonist = " ".join(spec.protagonist.split())
    title = " ".join(spec.title.split()) or default_title(protagonist)

    # initialFontName: otherwise every page names Helvetica, a font the PDF does not embed.
    canvas = Canvas(
        str(out_path), pagesize=(layout.width, layout.height), pageCompression=1, lang="ko",
        initialFontName=fonts.regular, initialFontSize=layout.type_for(spec.age).size,
    )
    canvas.setTitle(title)
    canvas.setAuthor(spec.author)
    canvas.setSubject(f"{protagonist}의 그림책" if protagonist else "사진으로 만든 그림책")
    canvas.setKeywords(["그림책", "picture book", "TalesRunner"])
    canvas.setCreator("TalesRunner")

    book = _Book(canvas, layout, fonts, Path(print_dir), report, spec.age, font_path)
    book.cover(title, protagonist, spec.made_on, spec.pages[0].image_path if spec.pages else None, spec.age)
    for done, page in enumerate(spec.pages, start=1):
        book.scene(page)
        if progress:
            progress(done, len(spec.pages))
    book.ending(spec.pages[-1].image_path if spec.pages else None, spec.dedication)
    canvas.save()
    report.seconds = time.perf_counter() - started
    report.bytes = Path(out_path).stat().st_size
    return report


class _Book:
    """Draws pages one after the other on a canvas, numbering the story pages."""

    def __init__(self, canvas: Canvas, layout: Layout, fonts: BookFonts, print_dir: Path, report: RenderReport,
                 age: str | None = None, font_path: str | None = None):
        self.canvas, self.layout, self.fonts, self.print_dir, self.report = canvas, layout, fonts, print_dir, report
        self.type = layout.type_for(age)
        self.font_path = font_path
        self.copies: dict[Path, photos.PrintPhoto] = {}
        self.number = 0  # the story page last numbered

    # Pictures ------------------------------------------------------------------------------------

    def _copy(self, source: Path) -> photos.PrintPhoto:
        """The print copy of a picture: page width by the tallest picture, cut around its subject.

        One copy per picture serves its story page, the cover and the end (each shows part of it),
        so a picture is counted once in the report however often it is drawn.
        """
        source = Path(source)
        if source not in self.copies:
            box_w, box_h = self.layout.picture_box
            box_px = (photos.pixels_for(box_w), photos.pixels_for(box_h))
            copy = photos.print_copy(source, self.print_dir, box_px, photos.FILL)
            self.report.photos_reused += copy.reused
            self.report.photos_made += not copy.reused
            self.report.photo_files.append(copy.path)
            self.copies[source] = copy
        return self.copies[source]

    def _picture(self, copy: photos.PrintPhoto, x: float, y: float, w: float, h: float, circle: bool = False) -> None:
        """Fill the box (or the circle in it) with the copy at print size, its focus as near the middle as it goes."""
        c = self.canvas
        # The copy was made for the page width, so this draws it at 180 dpi; one smaller than the
        # box (a small photo) is scaled up to cover it.
        scale = max(self.layout.width / copy.size[0], w / copy.size[0], h / copy.size[1])
        dw, dh = copy.size[0] * scale, copy.size[1] * scale
        fx, fy = copy.focus
        left = min(x, max(x + w - dw, x + w / 2 - fx * dw))
        top = max(y + h, min(y + dh, y + h / 2 + fy * dh))
        c.saveState()
        clip = c.beginPath()
        if circle:
            clip.circle(x + w / 2, y + h / 2, min(w, h) / 2)
        else:
            clip.rect(x, y, w, h)
        c.clipPath(clip, stroke=0, fill=0)
        c.drawImage(str(copy.path), left, top - dh, dw, dh)
        c.restoreState()

    # Text ----------------------------------------------------------------------------------------

    def _markup(self, text: str, bold: bool = False, font: str | None = None) -> str:
        font = font or (self.fonts.bold if bold else self.fonts.regular)
        fallback = self.fonts.fallback_bold if bold else self.fonts.fallback_regular
        return to_markup(text, glyphs(font), (fallback, glyphs(fallback)) if fallback else None)

    def _finish_page(self) -> None:
        self.report.pages += 1
        self.canvas.showPage()

    def _page_number(self) -> None:
        self.number += 1
        c, layout = self.canvas, self.layout
        x, y = layout.width / 2, layout.folio * 0.45
        c.setFillColor(ACCENTS[(self.number - 1) % len(ACCENTS)])
        c.circle(x, y, 2.9 * mm, stroke=0, fill=1)
        c.setFillColor(SOFT_INK)
        c.setFont(self.fonts.regular, 8)
        c.drawCentredString(x, y - 2.8, str(self.number))

    # Pages ---------------------------------------------------------------------------------------

    def cover(self, title: str, protagonist: str, made_on: date, picture: Path | None, age: str | None = None) -> None:
        """The first picture large at the bottom; above it, on paper, the title, whose book it is, the date."""
        c, layout = self.canvas, self.layout
        w, h = layout.width, layout.height
        scale = layout.scale
        c.setFillColor(PAPER)
        c.rect(0, 0, w, h, stroke=0, fill=1)

        measure = w - 2 * 18 * mm * scale
        small = [f"{AGE_LABELS[age]} 그림책"] if age in AGE_LABELS else []
        small.append(korean_date(made_on))
        lines = [Paragraph(self._markup(" · ".join(small)), self._style(self.fonts.regular, 9 * scale, 1.4, SOFT_INK))]
        hero = byline(protagonist)
        if hero:
            lines.insert(0, Paragraph(self._markup(hero), self._style(self.fonts.regular, 14 * scale, 1.4, SOFT_INK)))
        heights = [line.wrap(measure, h)[1] for line in lines]
        gaps = 5 * mm * scale + 3 * mm * scale * (len(lines) - 1)
        pad_top, pad_bottom = 16 * mm * scale, 10 * mm * scale + layout.wave
        title_room = h * 0.5 - pad_top - pad_bottom - gaps - sum(heights)
        title_par, title_h = self._fit(self._markup(title, bold=True), self.fonts.bold, measure, title_room,
                                       layout.title_size, layout.min_title_size, TITLE_LEADING, TITLE_INK)
        block = title_h + gaps + sum(heights)
        band = max(h * (1 - layout.picture_max), block + pad_top + pad_bottom)

        if picture is not None and h - band > 20 * mm:
            self._picture(self._copy(picture), 0, 0, w, h - band)
            paper_band(c, layout, h - band, facing_up=False)
        # Two soft dots peeking in from the top corners: a picture-book feel, away from the words.
        for (cx, cy, r), colour in zip(((0, h, 20 * mm * scale), (w, h - 8 * mm, 11 * mm * scale)), ACCENTS):
            c.setFillColor(colour)
            c.circle(cx, cy, r, stroke=0, fill=1)

        y = h - band + pad_bottom + (band - pad_top - pad_bottom - block) * 0.55 + block  # the block's top
        title_par.drawOn(c, (w - measure) / 2, y - title_h)
        y -= title_h + 5 * mm * scale
        for line, line_h in zip(lines, heights):
            line.drawOn(c, (w - measure) / 2, y - line_h)
            y -= line_h + 3 * mm * scale
        self._finish_page()

    def scene(self, page: Page) -> None:
        """The picture across the top, the paragraph on the band below; text that does not fit runs on."""
        copy, kind = self._copy(page.image_path), self.type
        paragraph, used, size = None, 0.0, kind.size
        while page.text.strip():
            # The largest size (half-point steps) whose text fits under the tallest picture it leaves.
            paragraph = self._body(page.text, size)
            _, used = paragraph.wrap(kind.measure, self.layout.height)
            if used <= text_room(self.layout, picture_height(self.layout, used)) or size <= kind.smallest:
                break
            size = max(kind.smallest, size - 0.5)
        self._story_page(copy, paragraph, mirror=page.index % 2 == 0)

    def _story_page(self, copy: photos.PrintPhoto, paragraph: Paragraph | None, mirror: bool) -> None:
        """A story page; what does not fit goes on to pages with a strip of the same picture."""
        c, layout, kind = self.canvas, self.layout, self.type
        lowest = None
        while True:
            used = paragraph.wrap(kind.measure, layout.height)[1] if paragraph is not None else 0.0
            picture = picture_height(layout, used, lowest)
            room = text_room(layout, picture)
            rest = None
            if paragraph is not None and used > room:
                parts = paragraph.split(kind.measure, room)
                if len(parts) == 2:  # this page's lines, and the rest for a page of its own
                    paragraph, rest = parts
                    _, used = paragraph.wrap(kind.measure, room)
            self._picture(copy, 0, layout.height - picture, layout.width, picture)
            paper_band(c, layout, layout.height - picture, mirror=mirror)
            if paragraph is not None:
                # In the band, a little above its middle when there is room to spare.
                top = layout.height - picture - layout.pad_top
                paragraph.drawOn(c, (layout.width - kind.measure) / 2, top - used - max(0.0, room - used) * 0.42)
            self._page_number()
            self._finish_page()
            if rest is None:
                return
            paragraph, lowest, mirror = rest, CONTINUED_PICTURE, not mirror

    def ending(self, picture: Path | None, dedication: str | None) -> None:
        """끝, large, under a round window onto the last picture; the parent's dedication below it."""
        c, layout = self.canvas, self.layout
        w, h = layout.width, layout.height
        scale = layout.scale
        c.setFillColor(PAPER)
        c.rect(0, 0, w, h, stroke=0, fill=1)
        radius, ring, end_size = min(w, h) * 0.28, 2.6 * mm, 60 * scale
        measure = w - 2 * 22 * mm * scale
        words, used = None, 0.0
        font = self._dedication_font() if (dedication or "").strip() else self.fonts.regular
        markup = self._markup(dedication or "", font=font)
        if markup:
            words, used = self._fit(markup, font, measure, h * 0.2, 17 * scale, 12 * scale, 1.5, SOFT_INK)
        below = end_size * 0.8 + (13 * mm + used if words else 0.0)  # 끝 and the dedication under the picture
        group = 2 * (radius + ring) + 14 * mm + below
        centre = h / 2 + group / 2 + h * 0.02 - radius - ring  # the whole group a touch above the middle
        garland(c, layout, centre, radius + ring + 6 * mm)

        if picture is not None:
            c.setFillColor(Color(0.55, 0.45, 0.35, alpha=0.16))
            c.circle(w / 2 + 1.2, centre - 2, radius + ring + 0.6 * mm, stroke=0, fill=1)
            c.setFillColor(WHITE)
            c.circle(w / 2, centre, radius + ring, stroke=0, fill=1)
            self._picture(self._copy(picture), w / 2 - radius, centre - radius, 2 * radius, 2 * radius, circle=True)
        else:
            c.setFillColor(ACCENTS[2])
            c.circle(w / 2, centre, radius, stroke=0, fill=1)
        end_y = centre - radius - ring - 14 * mm - end_size * 0.8
        c.setFillColor(TITLE_INK)
        c.setFont(self.fonts.bold, end_size)
        c.drawCentredString(w / 2, end_y, "끝")
        if words is not None:
            # A short rule between the end and the dedication, as printed books set one.
            rule_y = end_y - 6 * mm
            c.setStrokeColor(ACCENTS[0])
            c.setLineWidth(1.2)
            c.line(w / 2 - 9 * mm, rule_y, w / 2 + 9 * mm, rule_y)
            words.drawOn(c, (w - measure) / 2, rule_y - 7 * mm - used)
        self._finish_page()

    def _dedication_font(self) -> str:
        """A serif (NanumMyeongjo) for the dedication when installed and no font was configured."""
        if self.font_path is None and DEDICATION_FONT.is_file():
            try:
                return register_fonts(str(DEDICATION_FONT)).regular
            except FontError:
                pass
        return self.fonts.regular

    # Paragraphs ----------------------------------------------------------------------------------

    def _body(self, text: str, size: float) -> Paragraph:
        """The paragraph at `size`; short centred text gets a line per sentence when each fits on one."""
        kind = self.type
        style = self._style(self.fonts.regular, size, kind.leading, INK, TA_CENTER if kind.centred else TA_LEFT)
        sentences = _SENTENCE_END.split(text.strip()) if kind.centred and "\n" not in text.strip() else []
        if 1 < len(sentences) <= 4:
            parts = [self._markup(sentence) for sentence in sentences]
            if all(Paragraph(part, style).wrap(kind.measure, 1e6)[1] <= style.leading * 1.01 for part in parts):
                return Paragraph("<br/>".join(parts), style)
        return Paragraph(self._markup(text), style)

    def _fit(self, markup: str, font: str, width: float, room: float, size: float, smallest: float,
             leading: float, colour: Color) -> tuple[Paragraph, float]:
        """The paragraph at the largest size (one point steps) whose height fits in `room`.

        If none does, the smallest size is returned with its full height.
        """
        while True:
            paragraph = Paragraph(markup, self._style(font, size, leading, colour))
            _, height = paragraph.wrap(width, room)
            if height <= room or size <= smallest:
                return paragraph, height
            size = max(smallest, size - 1)

    @staticmethod
    def _style(font: str, size: float, leading: float, colour: Color, alignment: int = TA_CENTER) -> ParagraphStyle:
        # wordWrap stays None (break at spaces): "CJK" would break inside Korean words.
        return ParagraphStyle(
            f"{font}-{size}", fontName=font, fontSize=size, leading=size * leading,
            alignment=alignment, textColor=colour, splitLongWords=1,
        )
