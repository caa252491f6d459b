"""TALES_TRANSCRIBER=openai: an OpenAI-compatible POST /v1/audio/transcriptions (the recording leaves the server).

The decoded samples go as a 16 kHz mono 16-bit WAV (60 s is under 2 MB, far below the endpoint's
25 MB), whatever the phone recorded: the server never sees a container it might not read.
Errors come back as the other OpenAI backends' do (worker/ml/openai_chat.py): TimeoutError /
ConnectionError for the task to retry, StageError for an answer retrying will not change.
"""
from __future__ import annotations

import io
import wave

import numpy as np

from shared.config import Settings
from worker.errors import StageError
from worker.transcription.base import LANGUAGE, SAMPLE_RATE, Transcript, clean_text


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono WAV of float samples in [-1, 1]."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


class OpenAITranscriber:
    """Korean transcription by TALES_OPENAI_TRANSCRIBE_MODEL (gpt-4o-mini-transcribe, whisper-1, or a local server's)."""

    def __init__(self, settings: Settings):
        from worker.ml.openai_chat import client_for, is_configured

        if not is_configured(settings):
            raise StageError("TALES_TRANSCRIBER=openai but no OpenAI-compatible server is configured: set "
                             "OPENAI_API_KEY, or OPENAI_BASE_URL for another server")
        self.model = settings.TALES_OPENAI_TRANSCRIBE_MODEL
        self.timeout = settings.TALES_OPENAI_TIMEOUT
        self.where = settings.OPENAI_BASE_URL or "https://api.openai.com/v1"
        self.client = client_for(settings)
        self.label = f"openai:{self.model}"

    def transcribe(self, samples: np.ndarray) -> Transcript:
        from worker.ml.openai_chat import server_errors

        with server_errors(f"the transcription server at {self.where}", self.timeout, self.model):
            result = self.client.audio.transcriptions.create(
                model=self.model, file=("hint.wav", wav_bytes(samples), "audio/wav"), language=LANGUAGE,
                response_format="json",
            )
        text = getattr(result, "text", result if isinstance(result, str) else None)
        if not isinstance(text, str):
            raise StageError(f"the transcription server at {self.where} answered without a text (model {self.model})")
        return Transcript(clean_text([text]), self.label)
