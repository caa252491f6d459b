"""TALES_NARRATOR=mms: a local VITS text-to-speech model (facebook/mms-tts-kor) through transformers.

MMS's Korean model was trained on romanised text: its tokenizer says `is_uroman`, and its
vocabulary is Latin letters. The tokenizer would romanise by itself, but it builds a new
`uroman.Uroman()` (seconds of loading) for every sentence, so the narrator romanises first with
one process-wide instance and hands the tokenizer Latin text. On CUDA every sentence of a
book goes through the model in one padded batch, each waveform cut to its own length
(`sequence_lengths`); on a CPU, where the padding costs more than the batch saves, one sentence
at a time. VITS draws noise for durations and voice, so a fixed seed makes a book
sound the same every time it is narrated.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from shared.config import Settings
from worker.audio import Narration
from worker.audio.pcm import page_narration
from worker.audio.sentences import split_sentences
from worker.ml import loading

log = logging.getLogger(__name__)

SEED = 20250215
LABEL = "인공지능 음성(MMS)으로 읽어요. 발음이 조금 어색할 수 있어요."
TEST_LABEL = "시험용 음성 모델로 읽어요. 말소리가 아니라 잡음처럼 들려요."


VitsParts = loading.TokenizerModel  # a VITS model and its tokenizer


def load_vits(name: str, placement: loading.Placement) -> VitsParts:
    """VitsModel + its tokenizer (VitsTokenizer) from a hub id or a local directory."""
    from transformers import AutoTokenizer, VitsModel

    tokenizer, model = loading.load_pretrained(
        "MMS text-to-speech model", name, "TALES_MMS_MODEL", placement,
        lambda offline: (AutoTokenizer.from_pretrained(name, local_files_only=offline),
                         VitsModel.from_pretrained(name, dtype=placement.torch_dtype(), local_files_only=offline)),
    )
    return VitsParts(tokenizer=tokenizer, model=model, placement=placement)


def vits_placement(device_setting: str) -> loading.Placement:
    """TALES_DEVICE's device, always float32: VITS is small (36 M weights) and its flows and vocoder
    lose audible quality in half precision."""
    return loading.Placement(loading.placement(device_setting).device, "float32")


def romaniser() -> Any:
    """The process-wide uroman romaniser (it loads its tables in a few seconds)."""
    import uroman

    return loading.cached(("uroman",), uroman.Uroman)


class MmsNarrator:
    """Korean sentences romanised (when the tokenizer asks for it), then read by VITS: the whole book
    in one padded batch, or one sentence at a time."""

    name = "mms"

    def __init__(self, parts: VitsParts, batched: bool | None = None, pause_s: float = 0.35, kbps: int = 48,
                 seed: int = SEED):
        self.parts = parts
        # A padded batch makes every sentence as long as the book's longest: on a GPU the batch runs
        # in parallel, but a CPU computes the padding too (bench/narration.py on 2 cores, full-size
        # VITS, 23 sentences: 186 s batched, 110 s one at a time). None: batched on CUDA only.
        self.batched = parts.placement.device.startswith("cuda") if batched is None else batched
        self.pause_s = pause_s
        self.kbps = kbps
        self.seed = seed
        self.rate = int(parts.model.config.sampling_rate)
        self.label = TEST_LABEL if loading.test_model_note(parts.model) else LABEL
        self.characters = {token for token in parts.tokenizer.get_vocab() if len(token) == 1}

    @classmethod
    def from_settings(cls, settings: Settings, batched: bool | None = None) -> MmsNarrator:
        """The process-wide VITS model for these settings, loaded on first use."""
        where = vits_placement(settings.TALES_DEVICE)
        name = settings.TALES_MMS_MODEL
        parts = loading.cached(("vits", name, where), lambda: load_vits(name, where))
        return cls(parts, batched=batched, pause_s=settings.TALES_NARRATION_PAUSE_S, kbps=settings.TALES_NARRATION_KBPS)

    def model_input(self, sentence: str) -> str:
        """The text the model reads for a sentence: romanised if the tokenizer says is_uroman, lower
        case, and only characters in its vocabulary (its own normalisation)."""
        tokenizer = self.parts.tokenizer
        text = sentence
        if getattr(tokenizer, "is_uroman", False):
            text = romaniser().romanize_string(text)
        # Filtered here, not left to the tokenizer: a character uroman leaves as it was ("…") would
        # make the tokenizer load a romaniser of its own for the sentence.
        text = "".join(ch for ch in text.lower() if ch in self.characters)
        return " ".join(text.split())

    def narrate(self, pages: list[str]) -> list[Narration]:
        page_sentences = [split_sentences(page) for page in pages]
        texts = [self.model_input(sentence) for sentences in page_sentences for sentence in sentences]
        waves = iter(self.waveforms(texts))
        return [
            page_narration(sentences, [next(waves) for _ in sentences], self.rate, self.pause_s, self.kbps)
            for sentences in page_sentences
        ]

    def waveforms(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's samples at `self.rate`; a text with nothing the model can say is empty."""
        import torch

        spoken = [i for i, text in enumerate(texts) if text]
        result = [np.zeros(0, dtype=np.float32) for _ in texts]
        if not spoken:
            return result
        on_cuda = self.parts.placement.device.startswith("cuda")
        started = time.perf_counter()
        # The seed is set in a forked RNG state, so other stages' random numbers are left as they were.
        with torch.random.fork_rng(devices=None if on_cuda else []), torch.inference_mode():
            torch.manual_seed(self.seed)
            if self.batched:
                outputs = self._forward([texts[i] for i in spoken])
            else:
                outputs = [wave for i in spoken for wave in self._forward([texts[i]])]
        for i, samples in zip(spoken, outputs, strict=True):
            result[i] = samples
        log.info("VITS read %d sentences (%s) into %.1f s of audio in %.1f s", len(spoken),
                 "one batch" if self.batched else "one at a time", sum(w.size for w in outputs) / self.rate,
                 time.perf_counter() - started)
        return result

    def _forward(self, texts: list[str]) -> list[np.ndarray]:
        """One padded batch through the model, each waveform cut to its own length."""
        tokenizer, model, where = self.parts.tokenizer, self.parts.model, self.parts.placement
        inputs = tokenizer(texts, padding=True, return_tensors="pt").to(where.device)
        output = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        waveform = output.waveform.float().cpu().numpy()
        lengths = output.sequence_lengths.cpu().tolist()
        return [waveform[i, : int(length)].copy() for i, length in enumerate(lengths)]
