"""TALES_NARRATOR=openai: an OpenAI-compatible speech endpoint (POST /v1/audio/speech), one sentence a request.

One request per sentence gives each sentence's exact start and end; a few run at a time, so a
book takes about as long as its slowest few sentences. The client is the one the chat backends
use (worker.ml.openai_chat: OPENAI_BASE_URL, TALES_OPENAI_TIMEOUT, TALES_OPENAI_MAX_RETRIES).
Every failure is a StageError in Korean for the book; what the server said goes to the log.
The StageError keeps the client's exception as its `__cause__` (openai.APITimeoutError,
APIConnectionError, APIStatusError with its status_code) for a caller deciding whether to retry.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from shared.config import Settings
from worker.audio import Narration
from worker.audio.pcm import page_narration, read_wav, resample
from worker.audio.sentences import split_sentences
from worker.errors import StageError

log = logging.getLogger(__name__)

NOT_CONFIGURED = "읽어 주는 음성 서버가 설정되어 있지 않아요. 운영자에게 알려 주세요."
NOT_ANSWERING = "읽어 주는 음성 서버가 지금 답하지 않아요. 잠시 뒤에 다시 만들어 주세요."
REFUSED = "읽어 주는 음성 서버가 요청을 받아 주지 않았어요. 운영자에게 알려 주세요."
BAD_AUDIO = "읽어 주는 음성 서버가 보낸 소리를 읽지 못했어요. 운영자에게 알려 주세요."


class OpenAINarrator:
    """Each sentence read by the server's speech model, returned as WAV and joined per page."""

    name = "openai"

    def __init__(self, settings: Settings, parallel: int = 4):
        from worker.ml.openai_chat import client_for, is_configured

        if not is_configured(settings):
            log.error("TALES_NARRATOR=openai but neither OPENAI_API_KEY nor OPENAI_BASE_URL is set")
            raise StageError(NOT_CONFIGURED)
        self.client = client_for(settings)
        self.model = settings.TALES_OPENAI_TTS_MODEL
        self.voice = settings.TALES_OPENAI_TTS_VOICE
        self.where = settings.OPENAI_BASE_URL or "https://api.openai.com/v1"
        self.pause_s = settings.TALES_NARRATION_PAUSE_S
        self.kbps = settings.TALES_NARRATION_KBPS
        self.parallel = parallel
        self.label = f"인공지능 음성({self.model})으로 읽어요."

    def narrate(self, pages: list[str]) -> list[Narration]:
        page_sentences = [split_sentences(page) for page in pages]
        flat = [sentence for sentences in page_sentences for sentence in sentences]
        spoken = iter(())
        if flat:
            with ThreadPoolExecutor(max_workers=min(self.parallel, len(flat))) as pool:
                spoken = iter(list(pool.map(self.speak, flat)))
        result = []
        for sentences in page_sentences:
            waves = [next(spoken) for _ in sentences]
            rate = waves[0][1] if waves else 24000
            # A server answers at one rate; should it not, each sentence is brought to the first one's.
            samples = [resample(wave, wave_rate, rate) for wave, wave_rate in waves]
            result.append(page_narration(sentences, samples, rate, self.pause_s, self.kbps))
        return result

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        """One sentence's samples and sample rate from the server."""
        import openai

        try:
            response = self.client.audio.speech.create(
                model=self.model, voice=self.voice, input=sentence, response_format="wav"
            )
            data = response.content
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            log.warning("speech server at %s did not answer (model %s): %s", self.where, self.model, exc)
            raise StageError(NOT_ANSWERING) from exc
        except openai.APIStatusError as exc:
            log.warning("speech server at %s answered %d (model %s, voice %s): %s", self.where, exc.status_code,
                        self.model, self.voice, exc)
            raise StageError(NOT_ANSWERING if exc.status_code >= 500 or exc.status_code == 429 else REFUSED) from exc
        try:
            return read_wav(data)
        except ValueError as exc:
            log.warning("speech server at %s sent %d bytes that are not a WAV file: %s", self.where, len(data), exc)
            raise StageError(BAD_AUDIO) from exc
