"""Read-aloud audio for a book's pages: narrators behind one interface, chosen by TALES_NARRATOR.

A narrator turns each page's text into one encoded audio file with per-sentence timings
(`shared.audio.SentenceTiming`): the book page highlights the sentence being read from them, and
the e-book's SMIL media overlays are written from them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.audio import SentenceTiming


@dataclass(frozen=True)
class Narration:
    """One page read aloud: the encoded file and where each sentence is spoken in it."""

    data: bytes  # the encoded audio (MP3: every EPUB 3 reader and browser plays it)
    media_type: str  # "audio/mpeg"
    duration: float  # seconds
    sentences: tuple[SentenceTiming, ...]


class Narrator(Protocol):
    name: str  # "espeak" | "mms" | "openai"
    # How the voice is described to parents on the book, in Korean (e.g. that espeak-ng is robotic).
    label: str

    def narrate(self, pages: list[str]) -> list[Narration]:
        """Each page's audio, in order; one batched call per book where the backend allows."""
        ...
