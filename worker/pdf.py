"""The book as a PDF: a cover, then one page per scene with the photo and its paragraph."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageOps
from reportlab.lib.pagesizes import A5
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image as RLImage
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

FONT_NAME = "TalesKorean"
PAGE_SIZES = {"A5": A5, "square": (200 * mm, 200 * mm)}
SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf",
)


class FontNotFound(RuntimeError):
    pass


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


def resolve_font(configured: str | None) -> Path:
    """The configured TrueType font, else a system Korean font; a clear error otherwise."""
    candidates = [configured] if configured else list(SYSTEM_FONTS)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FontNotFound(
        "no Korean TrueType font found: install fonts-nanum (apt-get install fonts-nanum) "
        "or set TALES_FONT to a .ttf file"
    )


def _register(font: Path) -> None:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(font)))


def _print_copy(source: Path, cache: Path, max_side: int = 1400) -> Path:
    """A JPEG of the photo, upright and scaled for print, cached by source name."""
    target = cache / (source.stem + ".jpg")
    if target.exists():
        return target
    with Image.open(source) as image:
        image.draft("RGB", (max_side, max_side))
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((max_side, max_side))
        image.save(target, "JPEG", quality=85)
    return target


def render_book(
    spec: BookSpec,
    out_path: Path,
    print_dir: Path,
    font_path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    page_size: str = "A5",
) -> None:
    """Write the book's PDF to out_path."""
    _register(resolve_font(font_path))
    title_style = ParagraphStyle("title", fontName=FONT_NAME, fontSize=24, leading=32, alignment=1)
    body = ParagraphStyle("body", fontName=FONT_NAME, fontSize=13, leading=20)
    doc = SimpleDocTemplate(
        str(out_path), pagesize=PAGE_SIZES[page_size], leftMargin=15 * mm, rightMargin=15 * mm,
        topMargin=15 * mm, bottomMargin=15 * mm, title=spec.title, author="TalesRunner", lang="ko",
    )
    story = [
        Spacer(1, 50 * mm),
        Paragraph(escape(spec.title), title_style),
        Paragraph(escape(f"{spec.protagonist} · {spec.made_on.isoformat()}"), body),
        PageBreak(),
    ]
    width = PAGE_SIZES[page_size][0] - 30 * mm
    for done, page in enumerate(spec.pages, start=1):
        photo = _print_copy(page.image_path, print_dir)
        with Image.open(photo) as image:
            w, h = image.size
        scale = min(width / w, (PAGE_SIZES[page_size][1] * 0.5) / h)
        story += [RLImage(str(photo), w * scale, h * scale), Spacer(1, 6 * mm), Paragraph(escape(page.text), body), PageBreak()]
        if progress:
            progress(done, len(spec.pages))
    doc.build(story[:-1])
