"""Captioners describe each photo of a book; all photos of a book go in one call.

Interface: `captions = captioner.caption(images)` with PIL RGB images in book order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from shared.config import Settings


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


def get_captioner(settings: Settings) -> Captioner:
    """The captioner backend named by TALES_CAPTIONER."""
    if settings.TALES_CAPTIONER == "none":
        return NoCaptioner()
    raise NotImplementedError(f"TALES_CAPTIONER={settings.TALES_CAPTIONER} is not available in this build")
