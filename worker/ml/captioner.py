"""Captioners describe each photo of a book; all photos of a book go in one call.

Interface: `captions = captioner.caption(images)` with PIL RGB images in book order
(the pipeline has already applied EXIF orientation).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from shared.config import Settings
from worker.ml import loading


@dataclass(frozen=True)
class Caption:
    text: str | None
    lang: str | None  # "ko", "en", or None when no caption was made
    source: str


class Captioner(Protocol):
    name: str

    def caption(self, images: list[Image.Image]) -> list[Caption]: ...


class NoCaptioner:
    """TALES_CAPTIONER=none: no caption; the story comes from the user's hints alone."""

    name = "none"

    def caption(self, images: list[Image.Image]) -> list[Caption]:
        return [Caption(text=None, lang=None, source="none") for _ in images]


@dataclass
class BlipParts:
    """A loaded BLIP captioning model and the processor saved with it."""

    processor: Any
    model: Any
    placement: loading.Placement


def load_blip(name: str, placement: loading.Placement) -> BlipParts:
    """BlipProcessor + BlipForConditionalGeneration from a hub id or a local directory."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    processor, model = loading.load_pretrained(
        "BLIP captioning model", name, "TALES_BLIP_MODEL", placement,
        lambda offline: (BlipProcessor.from_pretrained(name, use_fast=False, local_files_only=offline),
                         BlipForConditionalGeneration.from_pretrained(
                             name, dtype=placement.torch_dtype(), local_files_only=offline)),
    )
    return BlipParts(processor=processor, model=model, placement=placement)


class BlipCaptioner:
    """TALES_CAPTIONER=blip: English captions from BLIP, every photo of a book in one batch."""

    name = "blip"

    def __init__(self, parts: BlipParts, max_new_tokens: int = 30, num_beams: int = 1):
        self.parts = parts
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams

    @classmethod
    def from_settings(cls, settings: Settings) -> BlipCaptioner:
        """The process-wide BLIP model for these settings, loaded on first use."""
        where = loading.placement(settings.TALES_DEVICE, cpu_dtype=settings.TALES_CPU_DTYPE)
        parts = loading.cached(("blip", settings.TALES_BLIP_MODEL, where), lambda: load_blip(settings.TALES_BLIP_MODEL, where))
        return cls(parts, max_new_tokens=settings.TALES_BLIP_MAX_NEW_TOKENS, num_beams=settings.TALES_BLIP_NUM_BEAMS)

    @property
    def test_model(self) -> str | None:
        """What the model's config says when it is a test model, else None."""
        return loading.test_model_note(self.parts.model)

    def caption(self, images: list[Image.Image]) -> list[Caption]:
        if not images:
            return []
        import torch

        processor, model, where = self.parts.processor, self.parts.model, self.parts.placement
        inputs = processor(images=[image.convert("RGB") for image in images], return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(where.device, dtype=where.torch_dtype())
        with torch.inference_mode():
            # BLIP's generate hands decoding to its text decoder, which would otherwise ignore the
            # generation config saved with the model (e.g. a minimum length); pass it on explicitly.
            output = model.generate(
                pixel_values=pixel_values,
                generation_config=model.generation_config,
                max_new_tokens=self.max_new_tokens,
                num_beams=self.num_beams,
            )
        texts = processor.batch_decode(output, skip_special_tokens=True)
        return [_caption(text, "en", self.name) for text in texts]


def _caption(text: str, lang: str, source: str) -> Caption:
    text = " ".join(text.split()).strip(" \"'")
    return Caption(text=text, lang=lang, source=source) if text else Caption(text=None, lang=None, source=source)


CAPTION_PROMPT = (
    "이 사진을 어린이 그림책의 한 장면처럼 한국어 한 문장으로 짧게 설명해 주세요 (20단어 이내). "
    "누가 어디서 무엇을 하는지 쓰고, 설명 문장만 답하세요."
)


class OpenAICaptioner:
    """TALES_CAPTIONER=openai: a short Korean caption per photo from a vision chat model."""

    name = "openai"

    def __init__(self, settings: Settings, parallel: int = 4):
        from worker.ml.openai_chat import OpenAIChat

        self.chat = OpenAIChat(settings)
        self.parallel = parallel

    def caption(self, images: list[Image.Image]) -> list[Caption]:
        if not images:
            return []
        # One request per photo, a few at a time: one caption per answer cannot be mixed up
        # between photos, and the book still takes about as long as its slowest photo.
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(images))) as pool:
            texts = list(pool.map(self._one, images))
        return [_caption(text, "ko", self.name) for text in texts]

    def _one(self, image: Image.Image) -> str:
        from worker.ml.openai_chat import image_data_url

        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": CAPTION_PROMPT},
                    {"type": "image_url", "image_url": {"url": image_data_url(image)}},
                ],
            }
        ]
        return self.chat.complete(messages, max_tokens=120)


def get_captioner(settings: Settings) -> Captioner:
    """The captioner backend named by TALES_CAPTIONER."""
    if settings.TALES_CAPTIONER == "blip":
        return BlipCaptioner.from_settings(settings)
    if settings.TALES_CAPTIONER == "openai":
        return OpenAICaptioner(settings)
    return NoCaptioner()
