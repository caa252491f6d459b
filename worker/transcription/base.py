"""What every transcriber gives back, and the interface the transcribe stage calls.

Interface: `transcript = transcriber.transcribe(samples)` with float32 mono samples at 16 kHz
(worker/transcription/audio.py decodes them), Korean forced: a child's hint is Korean, and
Whisper's own language guess on two seconds of a child's voice is often wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000
LANGUAGE = "ko"
# Whisper reads 30 s windows; a longer hint is cut into windows at the quietest moment near each edge.
WINDOW_S = 30.0
CUT_SEARCH_S = 5.0
CUT_FRAME_S = 0.1
# Tokens a window may produce: fast Korean speech is about 8 syllables a second and Whisper's
# tokenizer spends one or two tokens a syllable; a model stuck repeating itself (Whisper does, on
# noise) stops there instead of at its 448-token limit, which on a CPU is many seconds more.
TOKENS_PER_SECOND = 15
MAX_NEW_TOKENS = 440


def token_budget(samples: np.ndarray, rate: int = SAMPLE_RATE) -> int:
    """How many tokens a window of `samples` may be transcribed into."""
    return min(MAX_NEW_TOKENS, int(len(samples) / rate * TOKENS_PER_SECOND) + 16)


@dataclass(frozen=True)
class Transcript:
    """The words heard, and what heard them ("whisper:<model>", "openai:<model>") for the row and the logs."""

    text: str
    source: str


class Transcriber(Protocol):
    label: str  # the Transcript source this backend writes

    def transcribe(self, samples: np.ndarray) -> Transcript: ...


def clean_text(pieces: list[str]) -> str:
    """The pieces of a transcript as one line, spaces collapsed."""
    return " ".join(" ".join(pieces).split())


def windows(samples: np.ndarray, rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """`samples` in pieces of at most WINDOW_S, each cut at the quietest CUT_FRAME_S of its last CUT_SEARCH_S.

    The transcribers run each window as one short-form decode (no timestamps), so a word is split
    between two windows only when the speaker never paused in the last five seconds before 30.
    """
    size, search, frame = int(WINDOW_S * rate), int(CUT_SEARCH_S * rate), int(CUT_FRAME_S * rate)
    pieces: list[np.ndarray] = []
    start = 0
    while len(samples) - start > size:
        tail = samples[start + size - search : start + size]
        energy = np.square(tail[: len(tail) // frame * frame].reshape(-1, frame), dtype=np.float64).mean(axis=1)
        cut = start + size - search + int(np.argmin(energy)) * frame + frame // 2
        pieces.append(samples[start:cut])
        start = cut
    pieces.append(samples[start:])
    return [piece for piece in pieces if len(piece)]
