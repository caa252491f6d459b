"""The narrator named by TALES_NARRATOR (docs/architecture.md, "Narration")."""
from __future__ import annotations

from shared.config import Settings
from worker.audio import Narrator


def get_narrator(settings: Settings, batched: bool = True) -> Narrator | None:
    """The narrator backend, or None when books are not read aloud (TALES_NARRATOR=none).

    `batched=False` makes the mms narrator run one sentence at a time (the bench compares the two).
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
