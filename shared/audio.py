"""What a narrated page is, as the narration stage stores it and the e-book and the book page read it."""
from __future__ import annotations

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
