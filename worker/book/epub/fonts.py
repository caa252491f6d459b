"""The book's fonts as the e-book embeds them: the PDF's regular and bold faces cut with fontTools to
the letters one book uses, the common letters (`COMMON`) cut once per process from a cached smaller
face so that each book's own subset is quick.
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from fontTools import subset as font_subset

from worker.book import fonts as book_fonts


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
