"""What a narrated page is, as the narration stage stores it and the e-book and the book page read it."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SentenceTiming:
    """One sentence of a page and where it is spoken in the page's audio, in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class PageAudio:
    """The read-aloud audio of one scene: a file in the book's storage and its sentence timings."""

    scene_index: int
    name: str  # the storage name of the audio file, beside the book's PDF
    media_type: str  # "audio/mpeg" or "audio/ogg"
    duration: float  # seconds
    sentences: tuple[SentenceTiming, ...]


@dataclass(frozen=True)
class TextSpan:
    """A stretch of a page's text as it is written: one narrated sentence, or text no sentence matched."""

    text: str
    sep: str  # the whitespace before it in the page text (a space, a line break): "" for the first
    timing: SentenceTiming | None


def text_spans(text: str, sentences: Iterable[SentenceTiming]) -> list[TextSpan]:
    """The page text cut at its narrated sentences, keeping the text's own spaces and line breaks.

    Sentences are found in order, whitespace aside (the narrator reads them with spaces
    collapsed); text between or after them, or a sentence not found, is a span without timing.
    """
    where = [i for i, ch in enumerate(text) if not ch.isspace()]
    compact = "".join(text[i] for i in where)
    cuts: list[tuple[int, int, SentenceTiming | None]] = []  # ranges of `compact`
    cursor = 0
    for sentence in sentences:
        wanted = "".join(sentence.text.split())
        found = compact.find(wanted, cursor) if wanted else -1
        if found < 0:
            continue
        if found > cursor:
            cuts.append((cursor, found, None))
        cuts.append((found, found + len(wanted), sentence))
        cursor = found + len(wanted)
    if cursor < len(compact):
        cuts.append((cursor, len(compact), None))
    spans, previous = [], None
    for first, last, timing in cuts:
        start, end = where[first], where[last - 1] + 1
        spans.append(TextSpan(text[start:end], "" if previous is None else text[previous:start], timing))
        previous = end
    return spans
