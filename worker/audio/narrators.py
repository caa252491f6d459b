"""The narrator named by TALES_NARRATOR (docs/architecture.md, "Narration")."""
from __future__ import annotations

from shared.config import Settings
from worker.audio import Narrator


def get_narrator(settings: Settings, batched: bool | None = None) -> Narrator | None:
    """The narrator backend, or None when books are not read aloud (TALES_NARRATOR=none).

    `batched` is for the mms narrator: True reads the book's sentences in one padded forward pass,
    False one sentence at a time, None (the default) batched on CUDA and one at a time on a CPU.
    """
    if settings.TALES_NARRATOR == "espeak":
        from worker.audio.espeak import EspeakNarrator

        return EspeakNarrator.from_settings(settings)
    if settings.TALES_NARRATOR == "mms":
        from worker.audio.mms import MmsNarrator

        return MmsNarrator.from_settings(settings, batched=batched)
    if settings.TALES_NARRATOR == "openai":
        from worker.audio.openai_speech import OpenAINarrator

        return OpenAINarrator(settings)
    return None
