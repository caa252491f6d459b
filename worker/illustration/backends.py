"""The illustrator TALES_ILLUSTRATOR names, made once per worker process."""
from __future__ import annotations

from shared.config import Settings
from worker.illustration.base import Illustrator
from worker.ml.loading import cached

# The long side pages are drawn at. The filter works at print size (an A5 page at 180 dpi is
# 1,050 x 1,488 px); the drawing models at their own size (TALES_ILLUSTRATOR_SIZE), enlarged for print.
FILTER_SIDE = 1600


def get_illustrator(settings: Settings) -> Illustrator | None:
    """The configured backend, or None when the server draws nothing (TALES_ILLUSTRATOR=none)."""
    kind = settings.TALES_ILLUSTRATOR
    if kind == "none":
        return None
    if kind == "filter":
        from worker.illustration.filter import FilterIllustrator

        return cached(("illustrator", "filter"), FilterIllustrator)
    if kind == "diffusers":
        from worker.illustration.stable_diffusion import DiffusersIllustrator

        key = ("illustrator", "diffusers", settings.TALES_ILLUSTRATOR_MODEL, settings.TALES_DEVICE)
        return cached(key, lambda: DiffusersIllustrator(settings))
    from worker.illustration.openai_images import OpenAIIllustrator

    return OpenAIIllustrator(settings)


def drawing_side(settings: Settings) -> int:
    """The long side, in pixels, of the photos handed to the configured illustrator."""
    return FILTER_SIDE if settings.TALES_ILLUSTRATOR == "filter" else max(settings.TALES_ILLUSTRATOR_SIZE, 1024)
