"""The Korean TrueType fonts a book is set in: found, checked, and registered with reportlab once.

reportlab embeds TrueType fonts as subsets (only the glyphs used), which keeps a Korean book
small and its text extractable. It cannot embed OpenType fonts with CFF (PostScript) outlines,
the `.otf` files many Korean fonts ship as, so those are refused up front with that reason
rather than failing deep inside the PDF build.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from collections.abc import Container
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

# Drop a Korean .ttf here to ship it with the package (pyproject includes *.ttf as package data).
PACKAGE_FONT_DIR = Path(__file__).resolve().parent / "fonts"
SYSTEM_FONT_DIR = Path("/usr/share/fonts/truetype/nanum")  # Debian/Ubuntu fonts-nanum
# (regular, bold) pairs in order of preference. NanumSquare and NanumSquareRound are not here:
# they draw only 2,479 of the 11,172 Hangul syllables (렜 in 설렜어요 prints blank).
NANUM_FAMILIES = (
    ("NanumBarunGothic.ttf", "NanumBarunGothicBold.ttf"),
    ("NanumGothic.ttf", "NanumGothicBold.ttf"),
    ("NanumMyeongjo.ttf", "NanumMyeongjoBold.ttf"),
)
# For letters the Korean fonts lack (Nanum has no é, ü, ñ...): a Latin TrueType, used per character.
FALLBACK_FONTS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
)
HOW_TO_FIX = (
    "install Debian's fonts-nanum (apt-get install fonts-nanum, as scripts/setup.sh does) "
    "or set TALES_FONT to a TrueType (.ttf) font that has Hangul, e.g. NanumGothic.ttf"
)
HANGUL_SYLLABLES = range(0xAC00, 0xD7A4)  # all 11,172 modern syllables; any may appear in a story
_TRUETYPE_MAGIC = (b"\x00\x01\x00\x00", b"true", b"ttcf")


class FontError(RuntimeError):
    """No usable Korean TrueType font; the message says why and how to fix it."""


@dataclass(frozen=True)
class BookFonts:
    """reportlab names of the registered body and title fonts, and the files they came from.

    The fallbacks (None when no Latin font is installed) draw characters the Korean font lacks.
    """

    regular: str
    bold: str
    regular_path: Path
    bold_path: Path
    fallback_regular: str | None = None
    fallback_bold: str | None = None


def glyphs(name: str) -> Container[int]:
    """The code points a registered font has glyphs for."""
    return pdfmetrics.getFont(name).face.charToGlyph


def resolve_fonts(configured: str | None) -> tuple[Path, Path]:
    """(regular, bold) font files: TALES_FONT if set, else a shipped font, else fonts-nanum.

    A configured font is used for both (there is no way to know its bold sibling) and must be
    usable: a wrong TALES_FONT is an error, never silently replaced by another font.
    """
    if configured:
        path = Path(configured).expanduser()
        check_font(path, origin="TALES_FONT")
        return path, path
    rejected: list[str] = []
    for regular, bold in _candidates():
        try:
            check_font(regular)
        except FontError as error:
            log.info("skipping font: %s", error)
            rejected.append(str(error))
            continue
        try:
            check_font(bold)
        except FontError:
            bold = regular  # a missing bold face costs emphasis only
        return regular, bold
    detail = f" (tried and refused: {'; '.join(rejected)})" if rejected else ""
    raise FontError(f"no Korean TrueType font found: {HOW_TO_FIX}{detail}")


def check_font(path: Path, origin: str = "font") -> None:
    """Raise FontError unless `path` is a TrueType font reportlab can embed and that has Hangul."""
    if not path.is_file():
        raise FontError(f"{origin} {path} does not exist or is not a file: {HOW_TO_FIX}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"OTTO":
        raise FontError(
            f"{origin} {path} is an OpenType font with CFF (PostScript) outlines, which reportlab "
            f"cannot embed in a PDF: use a TrueType (.ttf) font instead; {HOW_TO_FIX}"
        )
    if magic not in _TRUETYPE_MAGIC:
        raise FontError(f"{origin} {path} is not a TrueType font file (WOFF and bitmap fonts cannot be embedded): {HOW_TO_FIX}")
    blank = _blank_syllables(_load(path))
    if len(blank) == len(HANGUL_SYLLABLES):
        raise FontError(f"{origin} {path} has no Hangul glyphs, so Korean text would print as empty boxes: {HOW_TO_FIX}")
    if blank:
        # Fonts made for KS X 1001 map every syllable but draw only ~2,350; the rest print as gaps.
        sample = "".join(blank[:5])
        raise FontError(
            f"{origin} {path} draws only {len(HANGUL_SYLLABLES) - len(blank)} of the {len(HANGUL_SYLLABLES)} Hangul "
            f"syllables (e.g. {sample} would print blank): {HOW_TO_FIX}"
        )


def register_fonts(configured: str | None) -> BookFonts:
    """Find, check and register the book's fonts with reportlab (once per process per file)."""
    regular, bold = resolve_fonts(configured)
    fallback_regular = fallback_bold = None
    for regular_name, bold_name in FALLBACK_FONTS:
        try:
            fallback_regular = _register(Path(regular_name))
            fallback_bold = _register(Path(bold_name)) if Path(bold_name).is_file() else fallback_regular
            break
        except (FontError, OSError):
            continue  # not installed, or unusable: the next one, or none (such characters are dropped)
    if fallback_regular is None:
        log.info("no Latin fallback font (fonts-dejavu-core); letters the Korean font lacks are left out")
    return BookFonts(_register(regular), _register(bold), regular, bold, fallback_regular, fallback_bold)


def _candidates() -> list[tuple[Path, Path]]:
    pairs: list[tuple[Path, Path]] = []
    if PACKAGE_FONT_DIR.is_dir():
        pairs += [(path, path) for path in sorted(PACKAGE_FONT_DIR.glob("*.ttf"))]
    pairs += [(SYSTEM_FONT_DIR / regular, SYSTEM_FONT_DIR / bold) for regular, bold in NANUM_FAMILIES]
    if not any(regular.is_file() for regular, _ in pairs):
        pairs += [(path, path) for path in _fontconfig_korean()]
    return pairs


def _fontconfig_korean() -> list[Path]:
    """Korean fonts fontconfig knows (other distributions, other paths); CFF ones are refused later."""
    if shutil.which("fc-list") is None:
        return []
    try:
        listing = subprocess.run(
            ["fc-list", ":lang=ko", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = {line.strip().rstrip(":") for line in listing.splitlines() if line.strip()}
    return sorted(Path(name) for name in files if name.lower().endswith((".ttf", ".ttc")))


def _blank_syllables(font: TTFont) -> list[str]:
    """Hangul syllables the font has no outline for: unmapped, or mapped to an empty glyph."""
    face = font.face
    blank = []
    for code in HANGUL_SYLLABLES:
        glyph = face.charToGlyph.get(code)
        if glyph is None or face.glyphPos[glyph + 1] == face.glyphPos[glyph]:
            blank.append(chr(code))
    return blank


@lru_cache(maxsize=16)
def _load(path: Path) -> TTFont:
    name = "Tales-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    try:
        return TTFont(name, str(path))
    except TTFError as error:
        # reportlab says "postscript outlines are not supported" for CFF inside a collection.
        raise FontError(f"font {path} cannot be embedded by reportlab ({error}): {HOW_TO_FIX}") from None


def _register(path: Path) -> str:
    font = _load(path)
    if font.fontName not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(font)
    return font.fontName
