"""TALES_NARRATOR=espeak: espeak-ng's Korean voice, offline and instant, and robotic."""
from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np

from shared.config import Settings
from worker.audio import Narration
from worker.audio.pcm import page_narration, read_wav
from worker.audio.sentences import split_sentences
from worker.errors import StageError

log = logging.getLogger(__name__)

SENTENCE_TIMEOUT_S = 30.0  # espeak-ng speaks a sentence in milliseconds; this only catches a stuck process
UNAVAILABLE = "기계 음성(espeak-ng)을 쓸 수 없어서 책을 읽어 주지 못했어요. 운영자에게 알려 주세요."


class EspeakNarrator:
    """One espeak-ng process per sentence, so each sentence's timing is exact."""

    name = "espeak"
    label = "기계 음성(espeak-ng)으로 읽어요. 소리가 딱딱할 수 있어요."

    def __init__(self, voice: str = "ko", wpm: int = 140, pause_s: float = 0.35, kbps: int = 48,
                 binary: str = "espeak-ng"):
        path = shutil.which(binary)
        if path is None:
            log.error("TALES_NARRATOR=espeak but %r is not on PATH (apt-get install espeak-ng)", binary)
            raise StageError(UNAVAILABLE)
        self.command = [path, "-v", voice, "-s", str(wpm), "--stdout"]
        self.pause_s = pause_s
        self.kbps = kbps

    @classmethod
    def from_settings(cls, settings: Settings) -> EspeakNarrator:
        return cls(voice=settings.TALES_ESPEAK_VOICE, wpm=settings.TALES_ESPEAK_WPM,
                   pause_s=settings.TALES_NARRATION_PAUSE_S, kbps=settings.TALES_NARRATION_KBPS)

    def narrate(self, pages: list[str]) -> list[Narration]:
        result = []
        for page in pages:
            sentences = split_sentences(page)
            spoken = [self.speak(sentence) for sentence in sentences]
            rate = spoken[0][1] if spoken else 22050
            result.append(page_narration(sentences, [samples for samples, _ in spoken], rate, self.pause_s, self.kbps))
        return result

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        """One sentence's samples and sample rate. The text goes in on stdin: a sentence that starts
        with "-" must not be read as an option."""
        try:
            done = subprocess.run(self.command, input=sentence.encode("utf-8"), capture_output=True,
                                  timeout=SENTENCE_TIMEOUT_S, check=False)
        except (subprocess.TimeoutExpired, OSError) as exc:
            log.error("espeak-ng failed on %r: %s", sentence, exc)
            raise StageError(UNAVAILABLE) from exc
        if done.returncode != 0:
            log.error("espeak-ng %s exited %d: %s", " ".join(self.command[1:]), done.returncode,
                      done.stderr.decode("utf-8", "replace").strip())
            raise StageError(UNAVAILABLE)
        try:
            return read_wav(done.stdout)
        except ValueError as exc:
            log.error("espeak-ng wrote no usable WAV for %r: %s", sentence, exc)
            raise StageError(UNAVAILABLE) from exc
