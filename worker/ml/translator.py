"""Translators turn BLIP's English captions into Korean (the original used Google Translate).

Interface: `korean = translator.translate(english)`, one string per string, in order.
`get_translator` answers None for TALES_TRANSLATOR=none: the captions then stay English and
the book says so.
"""
from __future__ import annotations

from typing import Any, Protocol

from shared.config import Settings
from worker.errors import StageError
from worker.ml import loading


class Translator(Protocol):
    name: str

    def translate(self, texts: list[str]) -> list[str]: ...


Seq2SeqParts = loading.TokenizerModel  # a translation model and its tokenizer


def load_seq2seq(name: str, placement: loading.Placement) -> Seq2SeqParts:
    """Any transformers seq2seq translation model (MarianMT and the like) from a hub id or directory."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer, model = loading.load_pretrained(
        "translation model", name, "TALES_TRANSLATOR_MODEL", placement,
        lambda offline: (AutoTokenizer.from_pretrained(name, local_files_only=offline),
                         AutoModelForSeq2SeqLM.from_pretrained(name, dtype=placement.torch_dtype(), local_files_only=offline)),
    )
    return Seq2SeqParts(tokenizer=tokenizer, model=model, placement=placement)


class HfTranslator:
    """TALES_TRANSLATOR=hf: a local translation model; all captions of a book in one batch."""

    name = "hf"

    def __init__(self, parts: Seq2SeqParts, prefix: str = "", max_new_tokens: int = 96, num_beams: int = 4):
        self.parts = parts
        self.prefix = prefix
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams

    @classmethod
    def from_settings(cls, settings: Settings) -> HfTranslator:
        """The process-wide translation model for these settings, loaded on first use."""
        from worker.ml import ctranslate

        if ctranslate.is_ct2_dir(settings.TALES_TRANSLATOR_MODEL):  # a `talesrunner models convert` directory
            return ctranslate.Ct2Translator.from_settings(settings)
        where = loading.placement(settings.TALES_DEVICE, cpu_dtype=settings.TALES_CPU_DTYPE)
        name = settings.TALES_TRANSLATOR_MODEL
        parts = loading.cached(("translator", name, where), lambda: load_seq2seq(name, where))
        return cls(parts, prefix=settings.TALES_TRANSLATOR_PREFIX)

    def translate(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        import torch

        tokenizer, model, where = self.parts.tokenizer, self.parts.model, self.parts.placement
        sources = [f"{self.prefix} {text}".strip() for text in texts]
        batch = tokenizer(sources, return_tensors="pt", padding=True, truncation=True, max_length=128).to(where.device)
        with torch.inference_mode():
            output = model.generate(**batch, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams)
        translated = [" ".join(text.split()) for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
        if not all(translated):
            raise StageError(f"the translation model {_model_name(model)} returned an empty translation")
        return translated


def _model_name(model: Any) -> str:
    return getattr(model, "name_or_path", None) or type(model).__name__


TRANSLATE_PROMPT = (
    "Translate each English image caption into natural Korean suitable for a children's picture book. "
    'Answer with JSON only: {"translations": ["...", ...]} with exactly one Korean sentence per caption, '
    "in the same order."
)


class OpenAITranslator:
    """TALES_TRANSLATOR=openai: all captions of a book in one chat call, JSON out."""

    name = "openai"

    def __init__(self, settings: Settings):
        from worker.ml.openai_chat import OpenAIChat

        self.chat = OpenAIChat(settings)

    def translate(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        import json

        messages = [
            {"role": "system", "content": TRANSLATE_PROMPT},
            {"role": "user", "content": json.dumps({"captions": texts}, ensure_ascii=False)},
        ]
        answer = self.chat.complete_json(messages)
        translations = answer.get("translations")
        if (
            not isinstance(translations, list)
            or len(translations) != len(texts)
            or not all(isinstance(item, str) and item.strip() for item in translations)
        ):
            raise StageError(f"the translation answer did not hold {len(texts)} Korean captions: {str(answer)[:200]}")
        return [" ".join(item.split()) for item in translations]


def get_translator(settings: Settings) -> Translator | None:
    """The translator named by TALES_TRANSLATOR, or None when translation is off."""
    if settings.TALES_TRANSLATOR == "hf":
        return HfTranslator.from_settings(settings)
    if settings.TALES_TRANSLATOR == "openai":
        return OpenAITranslator(settings)
    return None
