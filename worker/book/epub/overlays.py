"""Media overlays: how the page text is cut into spans (`_Piece`) and each narrated sentence paired with
its clip of the page's audio (`_align`, `_clip`), the SMIL clock values (`_clock`, `_ms`) and the
SMIL document template; also `clean_text`, which the alignment needs and which the rest of the
package imports from here, this being the lowest of its modules (it imports none of them).

How sentences become spans (the page text and the narrator's sentence texts may differ, e.g. when a
narrator respells a number): both are compared without whitespace. Each timing's text, in order,
is looked for from where the last one ended; found, it becomes a span with that clip of audio, and
any page text it skipped over becomes a span without audio; not found, that timing is left out of
the overlay (its audio is not played). Page text after the last matched timing is one final span
without audio. So every character of the page appears once, in order, and a span is only ever
paired with audio of the same words.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.audio import PageAudio, SentenceTiming

if TYPE_CHECKING:
    from worker.book.epub import EpubPage

log = logging.getLogger(__name__)

AUDIO_TYPES = {"audio/mpeg": "mp3"}  # MP3 is an EPUB core media type every reader plays
ACTIVE_CLASS = "-epub-media-overlay-active"  # the conventional name; some readers use it unasked

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")


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


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _clock(seconds: float) -> str:
    """A SMIL full clock value, h:mm:ss.fff."""
    ms = _ms(seconds)
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


_OVERLAY_TEMPLATES = {
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
}
