"""The book as a PDF a parent would print: a cover, then one page per scene, photo above its paragraph.

Drawn with reportlab's canvas (the layout is fixed, so a flowing document template would only get
in the way) and its Paragraph for text. Paragraph with the default word wrap breaks lines at
spaces only, which is how Korean is set: between 어절, never inside one. A word wider than the
line is the one exception (reportlab's splitLongWords), so nothing runs off the page.
"""
from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from shared.vocabulary import AGE_LABELS, default_title
from worker.book import photos
from worker.book.fonts import BookFonts, FontError, glyphs, register_fonts, resolve_fonts

__all__ = ["BookSpec", "FontError", "Page", "RenderReport", "render_book", "resolve_fonts", "to_markup"]

PageSize = Literal["A5", "square"]

# reportlab wraps every stream, JPEGs included, in ASCII85 text by default: 25% larger images,
# encoded in pure Python (0.6 s of a 0.7 s rebuild of a 10-photo book here). Binary is standard PDF.
rl_config.useA85 = 0

INK = HexColor("#3b3838")
TITLE_INK = HexColor("#4a3f5c")
SOFT_INK = HexColor("#8a6f5a")
PAPER = HexColor("#fdf4e3")  # warm cream cover
STITCH = HexColor("#e7c9a5")
ACCENTS = (HexColor("#f6b8a6"), HexColor("#bfe3cf"), HexColor("#bcd6ec"), HexColor("#fbe2a0"))
WHITE = HexColor("#ffffff")


@dataclass(frozen=True)
class Layout:
    """Measures of one page size, in points."""

    width: float
    height: float
    margin: float  # left and right
    top: float
    bottom: float  # the page number sits inside it
    photo_height: float  # the photo frame on a scene page; its width is the text width
    gap: float  # between photo and paragraph
    body_size: float  # the paragraph starts at this size and shrinks down to min_body_size
    min_body_size: float
    title_size: float
    min_title_size: float

    @property
    def text_width(self) -> float:
        return self.width - 2 * self.margin


LAYOUTS: dict[str, Layout] = {
    # A5 prints on any home printer, two pages to an A4 sheet.
    "A5": Layout(
        width=148 * mm, height=210 * mm, margin=16 * mm, top=16 * mm, bottom=20 * mm, photo_height=98 * mm,
        gap=9 * mm, body_size=16, min_body_size=12, title_size=26, min_title_size=15,
    ),
    # A square 20 cm book, the other usual picture-book shape, for photo-book print services.
    "square": Layout(
        width=200 * mm, height=200 * mm, margin=18 * mm, top=16 * mm, bottom=20 * mm, photo_height=104 * mm,
        gap=8 * mm, body_size=18, min_body_size=13, title_size=30, min_title_size=16,
    ),
}
BODY_LEADING = 1.65  # Korean for young readers wants generous line spacing
TITLE_LEADING = 1.3
PHOTO_RADIUS = 4 * mm
COVER_MAX_CROP = 0.3  # the cover frame follows the photo's shape, after a moderate trim


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
    author: str = "TalesRunner"
    age: str | None = None  # the reader age band, shown under the protagonist


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
    """Write the book's PDF to out_path; scaled photos are cached in print_dir for rebuilds."""
    started = time.perf_counter()
    if page_size not in LAYOUTS:
        raise ValueError(f"unknown page size {page_size!r}; use one of {', '.join(LAYOUTS)}")
    layout = LAYOUTS[page_size]
    fonts = register_fonts(font_path)
    report = RenderReport()
    title = " ".join(spec.title.split()) or default_title(spec.protagonist.strip())

    # initialFontName: otherwise every page names Helvetica, a font the PDF does not embed.
    canvas = Canvas(
        str(out_path), pagesize=(layout.width, layout.height), pageCompression=1, lang="ko",
        initialFontName=fonts.regular, initialFontSize=layout.body_size,
    )
    canvas.setTitle(title)
    canvas.setAuthor(spec.author)
    canvas.setSubject(f"{spec.protagonist.strip()}의 그림책" if spec.protagonist.strip() else "사진으로 만든 그림책")
    canvas.setKeywords(["그림책", "picture book", "TalesRunner"])
    canvas.setCreator("TalesRunner")

    book = _Book(canvas, layout, fonts, Path(print_dir), report)
    book.cover(title, spec.protagonist.strip(), spec.made_on, spec.pages[0].image_path if spec.pages else None, spec.age)
    for done, page in enumerate(spec.pages, start=1):
        book.scene(page)
        if progress:
            progress(done, len(spec.pages))
    canvas.save()
    report.seconds = time.perf_counter() - started
    report.bytes = Path(out_path).stat().st_size
    return report


class _Book:
    """Draws pages one after the other on a canvas, numbering all but the cover."""

    def __init__(self, canvas: Canvas, layout: Layout, fonts: BookFonts, print_dir: Path, report: RenderReport):
        self.canvas, self.layout, self.fonts, self.print_dir, self.report = canvas, layout, fonts, print_dir, report

    def _photo(self, source: Path, box_pt: tuple[float, float], max_crop: float) -> tuple[photos.PrintPhoto, float, float]:
        """The print copy for a frame of box_pt points, and the size it is drawn at (points)."""
        box_px = (photos.pixels_for(box_pt[0]), photos.pixels_for(box_pt[1]))
        copy = photos.print_copy(source, self.print_dir, box_px, max_crop)
        if copy.reused:
            self.report.photos_reused += 1
        else:
            self.report.photos_made += 1
        self.report.photo_files.append(copy.path)
        # The copy was fitted in box_px pixels, so the frame's points-per-pixel draws it at full size.
        # A photo smaller than the frame is scaled up to fill the same share of it.
        scale = min(box_pt[0] / copy.size[0], box_pt[1] / copy.size[1])
        return copy, copy.size[0] * scale, copy.size[1] * scale

    def _draw_rounded(self, path: Path, x: float, y: float, w: float, h: float) -> None:
        c = self.canvas
        c.saveState()
        clip = c.beginPath()
        clip.roundRect(x, y, w, h, PHOTO_RADIUS)
        c.clipPath(clip, stroke=0, fill=0)
        c.drawImage(str(path), x, y, w, h)
        c.restoreState()

    def _markup(self, text: str, bold: bool = False) -> str:
        font = self.fonts.bold if bold else self.fonts.regular
        fallback = self.fonts.fallback_bold if bold else self.fonts.fallback_regular
        return to_markup(text, glyphs(font), (fallback, glyphs(fallback)) if fallback else None)

    def _finish_page(self) -> None:
        self.report.pages += 1
        self.canvas.showPage()

    def _page_number(self) -> None:
        number = self.canvas.getPageNumber() - 1  # the cover is not counted
        c, layout = self.canvas, self.layout
        x, y = layout.width / 2, layout.bottom / 2
        c.setFillColor(ACCENTS[(number - 1) % len(ACCENTS)])
        c.circle(x, y, 3.6 * mm, stroke=0, fill=1)
        c.setFillColor(INK)
        c.setFont(self.fonts.regular, 9)
        c.drawCentredString(x, y - 3.1, str(number))

    def cover(self, title: str, protagonist: str, made_on: date, photo: Path | None, age: str | None = None) -> None:
        """Cream paper with a stitched border, the title, the first photo framed, who and when."""
        c, layout = self.canvas, self.layout
        w, h = layout.width, layout.height
        c.setFillColor(PAPER)
        c.rect(0, 0, w, h, stroke=0, fill=1)
        # Soft dots peeking in from two corners: a picture-book feel without competing with the photo.
        for (cx, cy, r), colour in zip(((0, h, 34 * mm), (w, 0, 40 * mm), (w - 6 * mm, h - 20 * mm, 7 * mm)), ACCENTS):
            c.setFillColor(colour)
            c.circle(cx, cy, r, stroke=0, fill=1)
        c.setStrokeColor(STITCH)
        c.setLineWidth(1.1)
        c.setDash(3, 3)
        c.roundRect(7 * mm, 7 * mm, w - 14 * mm, h - 14 * mm, 6 * mm, stroke=1, fill=0)
        c.setDash()

        inner = layout.text_width - 4 * mm
        top = h - layout.top - 14 * mm
        title_par, title_h = self._fit(self._markup(title, bold=True), self.fonts.bold, inner, layout.height * 0.3,
                                      layout.title_size, layout.min_title_size, TITLE_LEADING, TITLE_INK)
        title_par.drawOn(c, (w - inner) / 2, top - title_h)

        lines = [self._markup(protagonist)] if protagonist else []
        if age:
            lines.append(self._markup(f"{AGE_LABELS.get(age, age)} 그림책"))
        lines.append(f"{made_on.year}년 {made_on.month}월 {made_on.day}일")
        byline = Paragraph("<br/>".join(lines), self._style(self.fonts.regular, 12, 1.6, SOFT_INK))
        _, byline_h = byline.wrap(inner, layout.height)
        byline_y = layout.bottom + 12 * mm
        byline.drawOn(c, (w - inner) / 2, byline_y)

        if photo is not None:
            space_top, space_bottom = top - title_h - 10 * mm, byline_y + byline_h + 10 * mm
            border = 3 * mm
            box = (inner - 8 * mm - 2 * border, space_top - space_bottom - 2 * border)
            if box[1] > 20 * mm:  # a very long title may leave no room: then the cover has none
                copy, dw, dh = self._photo(photo, box, COVER_MAX_CROP)
                x, y = (w - dw) / 2, space_bottom + border + (box[1] - dh) / 2
                # A white mount with a faint shadow, like a photo pasted into a scrapbook.
                c.setFillColor(Color(0.55, 0.45, 0.35, alpha=0.18))
                c.roundRect(x - border + 1.2, y - border - 1.8, dw + 2 * border, dh + 2 * border, PHOTO_RADIUS + border, stroke=0, fill=1)
                c.setFillColor(WHITE)
                c.roundRect(x - border, y - border, dw + 2 * border, dh + 2 * border, PHOTO_RADIUS + border, stroke=0, fill=1)
                self._draw_rounded(copy.path, x, y, dw, dh)
        c.setFillColor(SOFT_INK)
        c.setFont(self.fonts.regular, 8)
        c.drawCentredString(w / 2, 11 * mm, "TalesRunner")
        self._finish_page()

    def scene(self, page: Page) -> None:
        """Photo in the upper frame, the paragraph below; text that does not fit flows on."""
        c, layout = self.canvas, self.layout
        frame_top = layout.height - layout.top
        copy, dw, dh = self._photo(page.image_path, (layout.text_width, layout.photo_height), photos.MAX_CROP)
        # Centred in its frame, so a portrait photo sits in the middle and the text stays put.
        x = layout.margin + (layout.text_width - dw) / 2
        y = frame_top - layout.photo_height + (layout.photo_height - dh) / 2
        self._draw_rounded(copy.path, x, y, dw, dh)

        text_top = frame_top - layout.photo_height - layout.gap
        room = text_top - layout.bottom
        markup = self._markup(page.text)
        if markup:
            paragraph, used = self._fit(markup, self.fonts.regular, layout.text_width, room,
                                        layout.body_size, layout.min_body_size, BODY_LEADING, INK)
            if used <= room:
                # Short text sits in the upper part of its space, the way picture books set it.
                paragraph.drawOn(c, layout.margin, text_top - used - (room - used) * 0.3)
            else:
                self._flow(paragraph, text_top, room)
                return
        self._page_number()
        self._finish_page()

    def _flow(self, paragraph: Paragraph, top: float, room: float) -> None:
        """At the smallest size and still too long: fill this page, continue on text-only pages."""
        c, layout = self.canvas, self.layout
        while True:
            parts = paragraph.split(layout.text_width, room)
            if len(parts) < 2:  # fits now (the last piece), or not a line fits: draw what there is
                _, used = paragraph.wrap(layout.text_width, room)
                paragraph.drawOn(c, layout.margin, top - used)
                self._page_number()
                self._finish_page()
                return
            first, paragraph = parts[0], parts[1]
            _, used = first.wrap(layout.text_width, room)
            first.drawOn(c, layout.margin, top - used)
            self._page_number()
            self._finish_page()
            top = layout.height - layout.top
            room = top - layout.bottom

    def _fit(self, markup: str, font: str, width: float, room: float, size: float, smallest: float,
             leading: float, colour: Color) -> tuple[Paragraph, float]:
        """The paragraph at the largest size (one point steps) whose height fits in `room`.

        If none does, the smallest size is returned with its full height, for the caller to flow.
        """
        while True:
            paragraph = Paragraph(markup, self._style(font, size, leading, colour))
            _, height = paragraph.wrap(width, room)
            if height <= room or size <= smallest:
                return paragraph, height
            size = max(smallest, size - 1)

    @staticmethod
    def _style(font: str, size: float, leading: float, colour: Color) -> ParagraphStyle:
        # wordWrap stays None (break at spaces): "CJK" would break inside Korean words.
        return ParagraphStyle(
            f"{font}-{size}", fontName=font, fontSize=size, leading=size * leading,
            alignment=TA_CENTER, textColor=colour, splitLongWords=1,
        )
