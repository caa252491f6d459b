"""The book as a read-along e-book: EPUB 3, fixed layout, with SMIL media overlays when it is narrated.

What is in the file: the `mimetype` entry (first, stored), META-INF/container.xml, and under OEBPS/
the package document, a nav document, a cover page, one XHTML page per scene (its photo above its
paragraph), a style sheet with the book's Korean font embedded as a subset, and, for each narrated
scene, its MP3 and a SMIL document that pairs every sentence of the page with its clip of the audio.

Fixed layout (`rendition:layout` pre-paginated) because a picture book is a sequence of designed
pages: reflowing would separate a photo from its paragraph and split sentences at the reader's whim.
Each page declares a 1000 x 1414 px viewport (the A5 shape of the PDF) and every box on it is
placed in those pixels.

The XML is written from Jinja2 templates (Flask's own template engine, already installed) with
autoescaping on, so every value a parent typed is escaped (`<script>`, `&`, quotes) and the
templates read like the files they produce. ebooklib was not used: its fixed-layout and
media-overlay support is thin, and what it adds over zipfile is small for a book of this shape.

How sentences become spans (the page text and the narrator's sentence texts may differ, e.g. when a
narrator respells a number): both are compared without whitespace. Each timing's text, in order,
is looked for from where the last one ended; found, it becomes a span with that clip of audio, and
any page text it skipped over becomes a span without audio; not found, that timing is left out of
the overlay (its audio is not played). Page text after the last matched timing is one final span
without audio. So every character of the page appears once, in order, and a span is only ever
paired with audio of the same words.

A paragraph too long for its page at the smallest body size continues on text-only pages (as in the
PDF), split between sentences; a sentence longer than a whole page is split between words (or
characters) and its audio clip divided in proportion to the letters on each side. Each continuation
page has its own overlay, since an overlay document belongs to one page.
"""
from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import unicodedata
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from datetime import UTC, date, datetime
from pathlib import Path

from fontTools import subset as font_subset
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from PIL import Image, ImageOps
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Paragraph

from shared.audio import PageAudio, SentenceTiming
from shared.vocabulary import default_title
from worker.book import fonts as book_fonts
from worker.book import pdf

__all__ = ["EpubPage", "EpubSpec", "build_epub", "clean_text"]

log = logging.getLogger(__name__)

# dc:identifier is urn:uuid:uuid5(this namespace, book id): the same book keeps its identity
# across rebuilds, so a reader app updates its copy instead of adding a second one.
BOOK_NAMESPACE = uuid.UUID("6f0b7a52-3c1e-5d8a-9f47-2b9e1c4d7a10")
AUDIO_TYPES = {"audio/mpeg": "mp3"}  # MP3 is an EPUB core media type every reader plays
ACTIVE_CLASS = "-epub-media-overlay-active"  # the conventional name; some readers use it unasked

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

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")


@dataclass
class EpubPage:
    index: int
    image_path: Path
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
    author: str = "TalesRunner"
    cover_image: Path | None = None  # the cover's photo; the first page's photo when None
    modified: datetime | None = None  # dcterms:modified; now when None


def clean_text(text: str) -> str:
    """Text as it can stand in XML: forbidden and control characters dropped, spaces collapsed per line.

    Kept: every printable character, emoji and their joiners (U+200D) included; line breaks the
    parent typed (empty lines dropped). Dropped: C0/C1 controls other than line breaks and tabs,
    lone surrogates, U+FFFE and U+FFFF.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = "".join(
        ch for ch in text
        if ch in "\n\t" or not (unicodedata.category(ch) in ("Cc", "Cs") or ch in "\ufffe\uffff")
    )
    lines = (" ".join(line.split()) for line in kept.split("\n"))
    return "\n".join(line for line in lines if line)


@dataclass
class _Piece:
    """A span of page text: a sentence, a stretch without audio, or part of a sentence split across pages."""

    id: str
    text: str
    sep: str = ""  # the whitespace before it in the page text (a line break or a space)
    clip: tuple[float, float] | None = None
    part: int = 1


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


def build_epub(spec: EpubSpec, out: Path, font_path: str | None = None) -> None:
    """Write the book as a fixed-layout EPUB 3 to `out` (atomically), with media overlays for narrated pages."""
    registered = book_fonts.register_fonts(font_path)
    measure = _Measure(registered.regular)
    title = clean_text(" ".join(spec.title.split())) or clean_text(default_title(spec.protagonist.strip()))
    scenes = [_scene(page, measure) for page in spec.pages]
    images = [scene.image for scene in scenes]
    cover_image = images[0] if images else None
    if spec.cover_image is not None:
        cover_image = _image(spec.cover_image, "images/cover")
        images.insert(0, cover_image)
    docs = [doc for scene in scenes for doc in scene.docs]
    audio = dict(scene.audio for scene in scenes if scene.audio)
    book = _book_metadata(spec, title, narrated=any(doc.clips for doc in docs))

    files = _render(book, _cover_layout(title, cover_image, measure), docs, images, cover_image, sorted(audio))
    letters = [title, book["protagonist"], book["made_on_text"], _INTERFACE_WORDS, *(p.text for d in docs for p in d.pieces)]
    files["OEBPS/fonts/book-regular.ttf"], files["OEBPS/fonts/book-bold.ttf"] = _font_subsets(registered, letters)
    files.update({f"OEBPS/{image.href}": image.data for image in images})
    files.update({f"OEBPS/{href}": data for href, data in audio.items()})
    _write_zip(files, Path(out), book["modified_at"])


# The words the book itself adds (alt texts, the contents), so the font subset has their letters.
_INTERFACE_WORDS = "번째 장면 사진 표지 차례 쪽 이야기 년 월 일"


@dataclass
class _Scene:
    image: _Image
    docs: list[_Doc]
    audio: tuple[str, bytes] | None  # (href in the book, the MP3) when the scene has an overlay


def _scene(page: EpubPage, measure: _Measure) -> _Scene:
    """A scene's photo, its page (and continuation pages) with the text cut into spans, and its audio."""
    image = _image(page.image_path, f"images/page-{page.index}")
    audio = _usable_audio(page)
    pieces = _align(clean_text(page.text), audio.sentences if audio else (), page.index, audio.duration if audio else 0.0)
    docs = _lay_out(page.index, pieces, measure)
    docs[0].image, docs[0].image_box = image.href, _fit_box(image.size, MARGIN, PHOTO_TOP, TEXT_WIDTH, PHOTO_HEIGHT)
    if audio is None or not any(doc.clips for doc in docs):
        return _Scene(image, docs, None)
    href = f"audio/page-{page.index}.{AUDIO_TYPES[audio.media_type]}"
    for doc in docs:
        doc.audio_href = href
    return _Scene(image, docs, (href, Path(page.audio_path).read_bytes()))  # type: ignore[arg-type]


def _book_metadata(spec: EpubSpec, title: str, narrated: bool) -> dict:
    modified = (spec.modified or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    made_on = spec.made_on
    return {
        "title": title, "protagonist": clean_text(spec.protagonist), "author": clean_text(spec.author) or "TalesRunner",
        "made_on": made_on, "made_on_text": f"{made_on.year}년 {made_on.month}월 {made_on.day}일",
        "identifier": f"urn:uuid:{uuid.uuid5(BOOK_NAMESPACE, str(spec.book_id))}",
        "modified": modified.strftime("%Y-%m-%dT%H:%M:%SZ"), "modified_at": modified,
        "narrator": clean_text(spec.narrator_label or "") if narrated else "",
        "width": WIDTH, "height": HEIGHT, "active_class": ACTIVE_CLASS,
    }


def _render(book: dict, cover: _Cover, docs: list[_Doc], images: list[_Image], cover_image: _Image | None,
            audio: list[str]) -> dict[str, bytes]:
    """The text files of the book, by their names in the zip."""
    env = _templates()
    overlays = [doc for doc in docs if doc.clips]
    files = {
        "META-INF/container.xml": env.get_template("container.xml").render(),
        "OEBPS/style.css": env.get_template("style.css").render(book=book),
        "OEBPS/cover.xhtml": env.get_template("cover.xhtml").render(book=book, cover=cover),
        "OEBPS/nav.xhtml": env.get_template("nav.xhtml").render(book=book, scenes=[doc for doc in docs if doc.image]),
    }
    for doc in docs:
        files[f"OEBPS/{doc.name}.xhtml"] = env.get_template("page.xhtml").render(book=book, doc=doc)
    for doc in overlays:
        files[f"OEBPS/{doc.name}.smil"] = env.get_template("overlay.smil").render(doc=doc, clock=_clock)
    files["OEBPS/package.opf"] = env.get_template("package.opf").render(
        book=book, docs=docs, images=images, cover_image=cover_image, audio=audio, overlays=overlays,
        total=sum(_ms(doc.duration) for doc in overlays) / 1000, clock=_clock,
    )
    return {name: text.encode() for name, text in files.items()}


def _usable_audio(page: EpubPage) -> PageAudio | None:
    """The page's audio when it can be an overlay: a file, timings, and a core media type."""
    if page.audio is None or page.audio_path is None or not page.audio.sentences:
        return None
    if page.audio.media_type not in AUDIO_TYPES:
        raise ValueError(f"page {page.index}: audio type {page.audio.media_type!r} is not an EPUB core audio type; use audio/mpeg")
    return page.audio


def _align(text: str, timings: Iterable[SentenceTiming], scene: int, duration: float) -> list[_Piece]:
    """The page text cut into spans: by the timings' texts where they match it, the rest without audio."""
    where = [i for i, ch in enumerate(text) if not ch.isspace()]
    compact = "".join(text[i] for i in where)
    cuts: list[tuple[int, int, tuple[float, float] | None]] = []  # compact ranges
    cursor = 0
    for timing in timings:
        wanted = "".join(clean_text(timing.text).split())
        found = compact.find(wanted, cursor) if wanted else -1
        if found < 0:
            log.info("page %s: narrated sentence %r is not in the page text; left out of the overlay", scene, timing.text[:40])
            continue
        if found > cursor:
            cuts.append((cursor, found, None))
        cuts.append((found, found + len(wanted), _clip(timing.start, timing.end, duration)))
        cursor = found + len(wanted)
    if not cuts:
        # No audio (or none matched): cut at sentence ends, so a long page can break between sentences.
        cuts = _sentence_cuts(text, where)
    elif cursor < len(compact):
        cuts.append((cursor, len(compact), None))
    pieces, previous = [], 0
    for number, (first, last, clip) in enumerate(cuts, start=1):
        start, end = where[first], where[last - 1] + 1
        pieces.append(_Piece(f"s-{scene}-{number}", text[start:end], text[previous:start], clip))
        previous = end
    return pieces


def _sentence_cuts(text: str, where: list[int]) -> list[tuple[int, int, None]]:
    if not where:
        return []
    compact_at = {original: index for index, original in enumerate(where)}
    cuts, first = [], 0
    for match in _SENTENCE_END.finditer(text):
        last = compact_at[match.start() - 1] + 1
        cuts.append((first, last, None))
        first = last
    cuts.append((first, len(where), None))
    return cuts


def _clip(start: float, end: float, duration: float) -> tuple[float, float] | None:
    start = max(0.0, start)
    end = min(end, duration) if duration > 0 else end
    return (start, end) if _ms(end) > _ms(start) else None


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


def _font_subsets(registered: book_fonts.BookFonts, texts: list[str]) -> tuple[bytes, bytes]:
    """The PDF's regular and bold fonts cut down to the characters this book uses (4 MB -> tens of KB).

    fontTools keeps the layout tables, so Hangul shaping and kerning are as in the full font.
    """
    codepoints = {ord(ch) for text in texts for ch in text} | set(range(0x20, 0x7F))
    return _subset(registered.regular_path, codepoints), _subset(registered.bold_path, codepoints)


def _common_codepoints() -> frozenset[int]:
    """The letters nearly every book uses: Hangul syllables with no final or a single final consonant,
    KS X 1001's 2,350 syllables (the common double finals: 읽, 않, 없, 닭), ASCII and punctuation."""
    single_finals = {0, 1, 4, 7, 8, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27}  # none, ㄱ ㄴ ㄷ ㄹ ㅁ ㅂ ㅅ ㅆ ㅇ ㅈ ㅊ ㅋ ㅌ ㅍ ㅎ
    letters = {0xAC00 + i for i in range(11172) if i % 28 in single_finals}
    for high in range(0xB0, 0xC9):
        for low in range(0xA1, 0xFF):
            try:
                letters.add(ord(bytes([high, low]).decode("euc-kr")))
            except UnicodeDecodeError:
                continue
    return frozenset(letters | set(range(0x20, 0x7F)) | set(range(0xA0, 0x100)) | set(range(0x2010, 0x2060))
                     | set(range(0x3000, 0x3040)))


COMMON = _common_codepoints()


@lru_cache(maxsize=4)
def _common_font(path: str) -> bytes:
    """The face cut down to COMMON, once per process: a book's own subset is cut from it in about a
    third of the time the whole face takes (decoding its glyph and cmap tables is what costs)."""
    return _subset_of(path, COMMON)


def _subset(path: Path, codepoints: set[int]) -> bytes:
    if codepoints <= COMMON:
        return _subset_of(io.BytesIO(_common_font(str(path))), codepoints)
    return _subset_of(str(path), codepoints)


def _subset_of(source: str | io.BytesIO, codepoints: set[int] | frozenset[int]) -> bytes:
    options = font_subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]  # keep the copyright and licence records (Nanum is under the OFL)
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["FFTM"]  # FontForge's timestamps: fontTools cannot subset them and says so
    options.font_number = 0  # the first face of a .ttc collection
    font = font_subset.load_font(source, options)
    subsetter = font_subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font_subset.save_font(font, buffer, options)
    return buffer.getvalue()


def _write_zip(files: dict[str, bytes], out: Path, modified: datetime) -> None:
    """The OCF container: `mimetype` first and stored, the rest after; written beside `out`, then renamed."""
    stamp = modified.timetuple()[:6]
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".epub")
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
            archive.writestr(zipfile.ZipInfo("mimetype", stamp), b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
            for name in sorted(files, key=lambda n: (not n.startswith("META-INF/"), n)):
                # Photos and audio are compressed already; deflating them again costs time for nothing.
                stored = name.endswith((".jpg", ".png", ".mp3"))
                info = zipfile.ZipInfo(name, stamp)
                archive.writestr(info, files[name], compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _clock(seconds: float) -> str:
    """A SMIL full clock value, h:mm:ss.fff."""
    ms = _ms(seconds)
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _text_html(text: str) -> Markup:
    """Escaped text with the parent's line breaks as <br/>."""
    return Markup("<br/>").join(escape(line) for line in text.split("\n"))


def _templates() -> Environment:
    env = Environment(
        loader=DictLoader(_TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["html"] = _text_html
    return env


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

_TEMPLATES = {
    "container.xml": """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/package.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
""",
    "style.css": """@font-face { font-family: "TalesBook"; font-weight: normal; src: url("fonts/book-regular.ttf"); }
@font-face { font-family: "TalesBook"; font-weight: bold; src: url("fonts/book-bold.ttf"); }
html, body { margin: 0; padding: 0; width: {{ book.width }}px; height: {{ book.height }}px; overflow: hidden; }
body { font-family: "TalesBook", sans-serif; color: #3b3838; background: #ffffff; }
body.cover { background: #fdf4e3; }
.page { position: relative; width: {{ book.width }}px; height: {{ book.height }}px; overflow: hidden; }
.photo { position: absolute; border-radius: 16px; }
.cover .photo { border: 12px solid #ffffff; border-radius: 28px; box-shadow: 2px 4px 10px rgba(140, 115, 90, 0.3); }
.story { position: absolute; left: 72px; width: 856px; margin: 0; line-height: 1.65;
  word-break: keep-all; overflow-wrap: break-word; }
.title { position: absolute; left: 92px; width: 816px; margin: 0; line-height: 1.3; text-align: center;
  font-weight: bold; color: #4a3f5c; word-break: keep-all; overflow-wrap: break-word; }
.byline { position: absolute; left: 72px; width: 856px; bottom: 150px; margin: 0; text-align: center;
  font-size: 34px; line-height: 1.6; color: #8a6f5a; }
.{{ book.active_class }} { background-color: #fbe2a0; border-radius: 6px; }
""",
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
    "overlay.smil": """<?xml version="1.0" encoding="UTF-8"?>
<smil xmlns="http://www.w3.org/ns/SMIL" xmlns:epub="http://www.idpf.org/2007/ops" version="3.0">
  <body>
    <seq id="seq-{{ doc.name }}" epub:textref="{{ doc.name }}.xhtml#story">
{% for piece, clip in doc.clips %}
      <par id="par-{{ piece.id }}">
        <text src="{{ doc.name }}.xhtml#{{ piece.id }}"/>
        <audio src="{{ doc.audio_href }}" clipBegin="{{ clock(clip[0]) }}" clipEnd="{{ clock(clip[1]) }}"/>
      </par>
{% endfor %}
    </seq>
  </body>
</smil>
""",
    "nav.xhtml": """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="ko" lang="ko">
<head>
<meta charset="UTF-8"/>
<title>{{ book.title }}</title>
</head>
<body>
<nav epub:type="toc" id="toc">
<h1>차례</h1>
<ol>
<li><a href="cover.xhtml">표지</a></li>
{% for doc in scenes %}
<li><a href="{{ doc.name }}.xhtml">{{ loop.index }}쪽</a></li>
{% endfor %}
</ol>
</nav>
<nav epub:type="landmarks" id="landmarks" hidden="hidden">
<ol>
<li><a epub:type="cover" href="cover.xhtml">표지</a></li>
{% if scenes %}
<li><a epub:type="bodymatter" href="{{ scenes[0].name }}.xhtml">이야기</a></li>
{% endif %}
</ol>
</nav>
</body>
</html>
""",
    "package.opf": """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="book-id" xml:lang="ko">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="book-id">{{ book.identifier }}</dc:identifier>
    <dc:title>{{ book.title }}</dc:title>
    <dc:language>ko</dc:language>
    <dc:creator>{{ book.author }}</dc:creator>
    <dc:date>{{ book.made_on.isoformat() }}</dc:date>
    <meta property="dcterms:modified">{{ book.modified }}</meta>
    <meta property="rendition:layout">pre-paginated</meta>
    <meta property="rendition:orientation">auto</meta>
    <meta property="rendition:spread">landscape</meta>
{% if overlays %}
    <meta property="media:active-class">{{ book.active_class }}</meta>
{% if book.narrator %}
    <meta property="media:narrator">{{ book.narrator }}</meta>
{% endif %}
{% for doc in overlays %}
    <meta property="media:duration" refines="#overlay-{{ doc.name }}">{{ clock(doc.duration) }}</meta>
{% endfor %}
    <meta property="media:duration">{{ clock(total) }}</meta>
{% endif %}
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="style" href="style.css" media-type="text/css"/>
    <item id="font-regular" href="fonts/book-regular.ttf" media-type="application/font-sfnt"/>
    <item id="font-bold" href="fonts/book-bold.ttf" media-type="application/font-sfnt"/>
    <item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>
{% for image in images %}
    <item id="image-{{ loop.index }}" href="{{ image.href }}" media-type="{{ image.media_type }}"{% if image is sameas cover_image %} properties="cover-image"{% endif %}/>
{% endfor %}
{% for doc in docs %}
    <item id="{{ doc.name }}" href="{{ doc.name }}.xhtml" media-type="application/xhtml+xml"{% if doc.clips %} media-overlay="overlay-{{ doc.name }}"{% endif %}/>
{% if doc.clips %}
    <item id="overlay-{{ doc.name }}" href="{{ doc.name }}.smil" media-type="application/smil+xml"/>
{% endif %}
{% endfor %}
{% for href in audio %}
    <item id="audio-{{ loop.index }}" href="{{ href }}" media-type="audio/mpeg"/>
{% endfor %}
  </manifest>
  <spine page-progression-direction="ltr">
    <itemref idref="cover" properties="rendition:page-spread-center"/>
{% for doc in docs %}
    <itemref idref="{{ doc.name }}" properties="{{ 'page-spread-left' if loop.index is odd else 'page-spread-right' }}"/>
{% endfor %}
  </spine>
</package>
""",
}
