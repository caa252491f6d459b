"""Spoken hints: recordings decoded (`audio`), transcribed (`whisper`, `openai_speech`), in Korean.

`get_transcriber(settings)` gives the backend TALES_TRANSCRIBER names, or None for `none`; the
whisper model is loaded once per process, in the first task that needs it (worker/ml/loading.py).
Nothing here imports torch at module level: the web tier may import this package.
"""
from __future__ import annotations

from shared.config import Settings
from worker.transcription.base import Transcriber, Transcript

__all__ = ["Transcriber", "Transcript", "get_transcriber"]


def get_transcriber(settings: Settings) -> Transcriber | None:
    """The transcriber TALES_TRANSCRIBER names (None for `none`).

    A Whisper model that is not there (TALES_WHISPER_MODEL names no folder, an empty one, a hub id
    that cannot be downloaded) raises presence.ModelMissing, a StageError naming the setting, with
    the Korean sentence for parents in its `missing.slot.korean`.
    """
    if settings.TALES_TRANSCRIBER == "openai":
        from worker.transcription.openai_speech import OpenAITranscriber

        return OpenAITranscriber(settings)
    if settings.TALES_TRANSCRIBER == "whisper":
        from worker.ml import presence
        from worker.transcription.whisper import whisper_from_settings

        presence.require(settings, "whisper")
        return whisper_from_settings(settings)
    return None
