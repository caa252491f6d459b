"""TALES_ILLUSTRATOR=diffusers: Stable Diffusion img2img draws each page from its photo, a book's pages in batches.

The pipeline (StableDiffusionImg2ImgPipeline: Stable Diffusion 1.x/2.x checkpoints, a directory or a hub id
in TALES_ILLUSTRATOR_MODEL) loads once per process, with DPMSolverMultistepScheduler and, on CUDA, in
bfloat16 (float16 where the GPU lacks it); on a CPU in float32. Its self-attention in the up blocks is
StoryDiffusion-style consistent attention (consistent_attention.py), so the pages drawn in one batch keep
the same characters.

One `draw(pages, style)` call per book:

- every page's prompt is the style's words and its English caption; one negative prompt for all;
- the pages are drawn TALES_ILLUSTRATOR_BATCH at a time, one pipeline call per batch (a book of 5 with
  batch 4 is drawn as 3 + 2, not 4 + 1: a page alone would share nothing with the others);
- each photo is scaled so its long side is TALES_ILLUSTRATOR_SIZE (both sides multiples of 8). The pages
  of one batch share one canvas (the widest by the tallest of them); a photo of another shape sits in its
  middle, the rest filled with its mirror image, and only its own part of the drawing is kept. Each
  drawing is resized back to its photo's size;
- page i's noise comes from its own torch.Generator seeded with PageToDraw.seed (on the CPU, so a GPU
  and a CPU start from the same noise), and the shared tokens from a seed made of the batch's page
  seeds: a book redraws the same until a seed changes.

Safety checker: when the model has one (stable-diffusion-v1-5 does), it stays on. A drawing it flags is
never returned: draw() gives None in that page's place (worker/pipeline/draw.py then keeps the page's
photo and says why in the book's notes), and `illustrator.flagged` lists the flagged pages' indices
into `pages` until the next call. Only the tiny test pipeline (tiny.py) comes without a checker; a real
model without one is logged as a warning.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from shared.config import Settings
from shared.styles import Style
from worker.errors import StageError
from worker.illustration.base import PageToDraw
from worker.illustration.consistent_attention import ConsistencyState, install
from worker.ml import loading

log = logging.getLogger(__name__)

WHAT = "Stable Diffusion img2img pipeline"
SETTING = "TALES_ILLUSTRATOR_MODEL"
# What a children's-book drawing must not look like.
NEGATIVE_PROMPT = (
    "photo-realistic, photograph, realistic skin, text, letters, words, watermark, signature, logo, "
    "deformed, disfigured, distorted face, extra fingers, extra limbs, blurry, low quality, ugly"
)
MULTIPLE = 8  # Stable Diffusion's VAE works on sides that are multiples of 8


@dataclass
class DiffusersParts:
    """A loaded img2img pipeline, the state its consistent attention processors share, where it runs."""

    pipeline: Any
    consistency: ConsistencyState
    placement: loading.Placement


def diffusers_placement(device_setting: str) -> loading.Placement:
    """bfloat16 (or float16) on CUDA as loading.placement picks; float32 on a CPU (TALES_CPU_DTYPE is not
    used for drawing)."""
    where = loading.placement(device_setting)
    return where if where.device != "cpu" else loading.Placement("cpu", "float32")


def load_pipeline(name: str, where: loading.Placement) -> DiffusersParts:
    """StableDiffusionImg2ImgPipeline from a directory or hub id, DPM-Solver++, consistent attention installed.

    A missing or broken model is a StageError naming TALES_ILLUSTRATOR_MODEL.
    """
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionImg2ImgPipeline

    def load(offline: bool) -> tuple[Any, Any]:
        try:
            pipeline = StableDiffusionImg2ImgPipeline.from_pretrained(
                name, torch_dtype=where.torch_dtype(), local_files_only=offline)
        except (KeyError, TypeError, AttributeError, RuntimeError, ImportError) as exc:
            # A directory that is not a Stable Diffusion pipeline, or weights of other shapes.
            raise ValueError(f"{type(exc).__name__}: {exc}") from exc
        return pipeline, pipeline.unet

    pipeline, _ = loading.load_pretrained(WHAT, name, SETTING, where, load)
    pipeline.to(where.device)
    pipeline.scheduler = DPMSolverMultistepScheduler.from_config(pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    if pipeline.safety_checker is None and loading.test_model_note(pipeline.unet) is None:
        log.warning("the illustrator model %s has no safety checker: its drawings are not checked", name)
    return DiffusersParts(pipeline=pipeline, consistency=install(pipeline.unet), placement=where)


def drawing_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) with the long side about `long_side`, both sides multiples of 8, the photo's shape kept."""
    width, height = size
    scale = long_side / max(width, height)
    return (max(MULTIPLE, round(width * scale / MULTIPLE) * MULTIPLE),
            max(MULTIPLE, round(height * scale / MULTIPLE) * MULTIPLE))


def place(picture: Image.Image, size: tuple[int, int], canvas: tuple[int, int]) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The picture at `size` in the middle of `canvas`, the rest its mirror image; and the box it fills."""
    width, height = size
    canvas_width, canvas_height = canvas
    resized = picture.convert("RGB").resize(size, Image.LANCZOS)
    left, top = (canvas_width - width) // 2, (canvas_height - height) // 2
    if size == canvas:
        return resized, (0, 0, width, height)
    padded = np.pad(np.asarray(resized), ((top, canvas_height - height - top), (left, canvas_width - width - left), (0, 0)),
                    mode="symmetric")
    return Image.fromarray(padded), (left, top, left + width, top + height)


def batches(count: int, batch: int) -> list[range]:
    """Page indices in as few batches of at most `batch` as possible, their sizes as even as possible."""
    if count == 0:
        return []
    number = math.ceil(count / batch)
    base, extra = divmod(count, number)
    result, start = [], 0
    for i in range(number):
        size = base + (1 if i < extra else 0)
        result.append(range(start, start + size))
        start += size
    return result


def prompt(style: Style, caption: str) -> str:
    return ", ".join(part for part in (style.prompt.strip(), caption.strip()) if part)


def steps_for(steps: int, strength: float) -> int:
    """The scheduler's steps: at least enough that img2img runs one (it runs int(steps * strength) of them)."""
    while int(steps * strength) < 1:
        steps += 1
    return steps


def _generator(seed: int) -> Any:
    import torch

    return torch.Generator(device="cpu").manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)


def _batch_seed(pages: list[PageToDraw]) -> int:
    digest = hashlib.blake2b(",".join(str(page.seed) for page in pages).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class DiffusersIllustrator:
    """TALES_ILLUSTRATOR=diffusers: Stable Diffusion img2img, one pipeline call per TALES_ILLUSTRATOR_BATCH pages.

    The pipeline loads on the first draw (loading.cached: once per process and model, shared by every
    illustrator made from the same settings), so making one is cheap and a missing model is a StageError
    from draw(). `parts` may be given instead (the benchmark's in-memory model).

    draw() returns None for a page the safety checker flagged (the caller keeps its photo), and
    `flagged` lists those pages' indices into `pages` until the next draw().
    """

    name = "diffusers"

    def __init__(self, settings: Settings, parts: DiffusersParts | None = None):
        self.model, self.device = settings.TALES_ILLUSTRATOR_MODEL, settings.TALES_DEVICE
        self.strength, self.steps = settings.TALES_ILLUSTRATOR_STRENGTH, settings.TALES_ILLUSTRATOR_STEPS
        self.guidance, self.batch = settings.TALES_ILLUSTRATOR_GUIDANCE, settings.TALES_ILLUSTRATOR_BATCH
        self.size, self.consistency = settings.TALES_ILLUSTRATOR_SIZE, settings.TALES_ILLUSTRATOR_CONSISTENCY
        self._parts = parts
        self.flagged: list[int] = []

    @property
    def parts(self) -> DiffusersParts:
        """The loaded pipeline: the process-wide one for TALES_ILLUSTRATOR_MODEL, loaded on first use."""
        if self._parts is None:
            try:
                where = diffusers_placement(self.device)
            except RuntimeError as exc:  # TALES_DEVICE=cuda without a GPU
                raise StageError(f"the illustrator cannot run: {exc}; set TALES_DEVICE") from exc
            self._parts = loading.cached(("diffusers", self.model, where), lambda: load_pipeline(self.model, where))
        return self._parts

    @parts.setter
    def parts(self, parts: DiffusersParts) -> None:
        self._parts = parts

    @property
    def note(self) -> str | None:
        """For the book's notes when a test model (random weights) drew the pictures, else None
        (None too before the model is loaded: asking never loads it)."""
        test = loading.test_model_note(self._parts.pipeline.unet) if self._parts is not None else None
        return f"pictures drawn by a test model ({test})" if test else None

    def draw(self, pages: list[PageToDraw], style: Style) -> list[Image.Image | None]:
        """The pages drawn, in order, each the size of its photo; None for a page the safety checker flagged."""
        self.flagged = []
        drawn: list[Image.Image | None] = []
        for indices in batches(len(pages), self.batch):
            pictures, flagged = self._draw_batch([pages[i] for i in indices], style)
            drawn.extend(pictures)
            self.flagged.extend(indices[i] for i in flagged)
        if self.flagged:
            log.warning("the safety checker flagged page(s) %s of %d: they keep their photos",
                        ", ".join(str(i + 1) for i in self.flagged), len(pages))
        return drawn

    def _draw_batch(self, pages: list[PageToDraw], style: Style) -> tuple[list[Image.Image | None], list[int]]:
        """One pipeline call: the drawn pages (None for flagged ones) and the flagged positions."""
        import torch

        pipeline, state = self.parts.pipeline, self.parts.consistency
        sizes = [drawing_size(page.picture.size, self.size) for page in pages]
        canvas = (max(w for w, _ in sizes), max(h for _, h in sizes))
        placed = [place(page.picture, size, canvas) for page, size in zip(pages, sizes)]
        guided = self.guidance > 1 and pipeline.unet.config.time_cond_proj_dim is None
        state.begin(self.consistency, 2 if guided else 1, _batch_seed(pages))
        try:
            result = pipeline(
                prompt=[prompt(style, page.caption) for page in pages],
                negative_prompt=[NEGATIVE_PROMPT] * len(pages),
                image=[image for image, _ in placed],
                strength=self.strength,
                num_inference_steps=steps_for(self.steps, self.strength),
                guidance_scale=self.guidance,
                generator=[_generator(page.seed) for page in pages],
                output_type="pil",
            )
        except torch.cuda.OutOfMemoryError as exc:  # torch.OutOfMemoryError on torch >= 2.5
            raise StageError(
                f"the illustrator ran out of {self.parts.placement.device} memory drawing {len(pages)} pages at "
                f"{canvas[0]}x{canvas[1]}; lower TALES_ILLUSTRATOR_BATCH or TALES_ILLUSTRATOR_SIZE") from exc
        finally:
            state.end()
        nsfw = result.nsfw_content_detected or [False] * len(pages)
        pictures: list[Image.Image | None] = []
        flagged: list[int] = []
        for i, (page, image, (_, box)) in enumerate(zip(pages, result.images, placed)):
            if nsfw[i]:  # diffusers blacked it out; the caller keeps the page's photo
                flagged.append(i)
                pictures.append(None)
            else:
                pictures.append(image.convert("RGB").crop(box).resize(page.picture.size, Image.LANCZOS))
        return pictures, flagged
