"""The book as a read-along e-book: EPUB 3, fixed layout, with SMIL media overlays when it is narrated.

What is in the file: the `mimetype` entry (first, stored), META-INF/container.xml, and under OEBPS/
the package document, a nav document, a cover page, one XHTML page per scene (its picture edge to
edge across the top, its paragraph below on a band of paper, in type sized for the reader's age),
an end page (끝, and the parent's dedication), a style sheet with the book's Korean font embedded as
a subset, two small SVG ornaments, and, for each narrated scene, its MP3 and a SMIL document that
pairs every sentence of the page with its clip of the audio.

Fixed layout (`rendition:layout` pre-paginated) because a picture book is a sequence of designed
pages: reflowing would separate a picture from its paragraph and split sentences at the reader's whim.
Each page declares a 1000 x 1414 px viewport (the A5 shape of the PDF) and every box on it is
placed in those pixels.

The XML is written from Jinja2 templates (Flask's own template engine, already installed) with
autoescaping on, so every value a parent typed is escaped (`<script>`, `&`, quotes) and the
templates read like the files they produce. ebooklib was not used: its fixed-layout and
media-overlay support is thin, and what it adds over zipfile is small for a book of this shape.

Where it lives: `overlays` cuts the text into spans and pairs them with audio (and holds
`clean_text`), `pages` lays the spans and pictures out on story pages, `ends` lays out the cover and
the end page, `fonts` cuts the embedded font,
`package` writes the package document, the other text files and the zip; this module holds the
public interface and `build_epub`, which puts them together.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from shared.audio import PageAudio
from shared.vocabulary import AGE_LABELS, default_title
from worker.book import fonts as book_fonts
from worker.book.epub.ends import _cover_layout, _ending_layout
from worker.book.epub.fonts import _font_subsets
from worker.book.epub.overlays import AUDIO_TYPES, _align, _usable_audio, clean_text
from worker.book.epub.package import _book_metadata, _render, _write_zip
from worker.book.epub.pages import WIDTH, _cover_crop, _Doc, _Image, _lay_out, _Measure, _image, type_for
from worker.book.layout import byline

__all__ = ["EpubPage", "EpubSpec", "build_epub", "clean_text"]


@dataclass
class EpubPage:
    index: int
    image_path: Path  # the page's printed picture, upright: its drawing, or the photo
    text: str
    audio_path: Path | None = None  # the page's MP3; used only together with `audio`
    audio: PageAudio | None = None


@dataclass
class EpubSpec:
    title: str
    protagonist: str
    made_on: date
    pages: list[EpubPage]
    book_id: str
    narrator_label: str | None = None  # the voice, as told to parents (media:narrator)
    author: str = "TalesRunner"  # dc:creator only; the cover names who the book is about
    cover_image: Path | None = None  # the cover's picture; the first page's when None
    modified: datetime | None = None  # dcterms:modified; now when None
    age: str | None = None  # the reader's age band ("유아", "초등 저학년", "초등 고학년"); 초등 저학년 when None
    dedication: str | None = None  # the parent's words on the last page ("사랑하는 하은이에게")


def build_epub(spec: EpubSpec, out: Path, font_path: str | None = None) -> None:
    """Write the book as a fixed-layout EPUB 3 to `out` (atomically), with media overlays for narrated pages."""
    registered = book_fonts.register_fonts(font_path)
    measure = _Measure(registered.regular, type_for(spec.age))
    title = clean_text(" ".join(spec.title.split())) or clean_text(default_title(spec.protagonist.strip()))
    scenes = [_scene(page, measure) for page in spec.pages]
    images = [scene.image for scene in scenes]
    cover_image = images[0] if images else None
    if spec.cover_image is not None:
        cover_image = _image(spec.cover_image, "images/cover")
        images.insert(0, cover_image)
    docs = [doc for scene in scenes for doc in scene.docs]
    for number, doc in enumerate(docs, start=1):
        doc.number = number
    audio = dict(scene.audio for scene in scenes if scene.audio)
    book = _book_metadata(spec, title, narrated=any(doc.clips for doc in docs), kind=measure.kind)

    hero = byline(book["protagonist"])
    small = " · ".join(([f"{AGE_LABELS[spec.age]} 그림책"] if spec.age in AGE_LABELS else []) + [book["made_on_text"]])
    cover = _cover_layout(title, hero, small, cover_image, measure)
    ending = _ending_layout(scenes[-1].image if scenes else None, clean_text(spec.dedication or ""), measure)
    files = _render(book, cover, ending, docs, images, cover_image, sorted(audio))
    letters = [title, hero, small, ending.dedication, _INTERFACE_WORDS, *(p.text for d in docs for p in d.pieces)]
    files["OEBPS/fonts/book-regular.ttf"], files["OEBPS/fonts/book-bold.ttf"] = _font_subsets(registered, letters)
    files.update({f"OEBPS/{image.href}": image.data for image in images})
    files.update({f"OEBPS/{href}": data for href, data in audio.items()})
    _write_zip(files, Path(out), book["modified_at"])


# The words the book itself adds (alt texts, the contents, the end), so the font subset has their letters.
_INTERFACE_WORDS = "번째 장면 그림 표지 마지막 차례 쪽 이야기 끝 년 월 일"


@dataclass
class _Scene:
    image: _Image
    docs: list[_Doc]
    audio: tuple[str, bytes] | None  # (href in the book, the MP3) when the scene has an overlay


def _scene(page: EpubPage, measure: _Measure) -> _Scene:
    """A scene's picture, its page (and the pages it runs on to) with the text cut into spans, and its audio."""
    image = _image(page.image_path, f"images/page-{page.index}")
    audio = _usable_audio(page)
    pieces = _align(clean_text(page.text), audio.sentences if audio else (), page.index, audio.duration if audio else 0.0)
    docs = _lay_out(page.index, pieces, measure)
    for doc in docs:
        doc.image, doc.crop = image.href, _cover_crop(image.size, WIDTH, doc.picture)
    if audio is None or not any(doc.clips for doc in docs):
        return _Scene(image, docs, None)
    href = f"audio/page-{page.index}.{AUDIO_TYPES[audio.media_type]}"
    for doc in docs:
        doc.audio_href = href
    return _Scene(image, docs, (href, Path(page.audio_path).read_bytes()))  # type: ignore[arg-type]
