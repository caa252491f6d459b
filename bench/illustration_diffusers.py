"""The diffusers illustrator, measured: a book's pages drawn in one batched pipeline call against one at a time.

    .venv/bin/python bench/illustration_diffusers.py                     # 4 pages, 256 px, 4 steps (a few minutes on 2 cores)
    .venv/bin/python bench/illustration_diffusers.py --size 512 --steps 22   # the worker's steps at SD 1.5's own size (long)

Options: --pages, --size (the long side drawn, TALES_ILLUSTRATOR_SIZE), --steps (the scheduler's,
TALES_ILLUSTRATOR_STEPS; img2img runs int(steps * strength) of them), --strength, --guidance,
--consistency, --repeat, --threads. Defaults other than --size and --steps are the worker's (shared.config.Settings).

Both sides run the worker's own code (DiffusersIllustrator.draw) on the same full-size Stable Diffusion
1.5 shapes, with random weights built in memory (nothing is downloaded): UNet2DConditionModel with SD 1.5's
config (block_out_channels 320/640/1280/1280, 2 layers per block, 8 heads, cross_attention_dim 768),
the SD VAE (AutoencoderKL 128/256/512/512, 4 latent channels) and CLIP ViT-L/14's text model (768 wide,
12 layers, 12 heads, quick_gelu, vocab 49408; the tokenizer is the offline tiny one), float32 on the CPU,
DPM-Solver++. No safety checker (it would add the same CLIP vision pass per page to both sides).

The pages are 1024x768 pictures (shared.synthetic), all the same shape, so both sides draw the same
pixels (a batch of mixed orientations is drawn on one square canvas, which costs more).

- one at a time: TALES_ILLUSTRATOR_BATCH=1, one pipeline call per page (consistent attention has no
  other page to share with, so it is plain attention);
- batched: TALES_ILLUSTRATOR_BATCH=pages, one pipeline call for the book, with consistent attention
  off (batching alone) and at --consistency (the worker's default, 0.5: the up blocks' self-attention
  also attends to half of every other page's tokens, so it costs more than batching alone).

The last line is `ratio=<one-at-a-time seconds / batched seconds at the worker's consistency>`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from shared.config import Settings  # noqa: E402
from shared.styles import STYLES  # noqa: E402
from shared.synthetic import upright_picture  # noqa: E402
from worker.illustration.base import PageToDraw  # noqa: E402
from worker.illustration.consistent_attention import install  # noqa: E402
from worker.illustration.stable_diffusion import DiffusersIllustrator, DiffusersParts  # noqa: E402
from worker.illustration.tiny import SD_SCHEDULE, clip_tokenizer  # noqa: E402
from worker.ml import loading  # noqa: E402

CAPTIONS = (
    "a little girl playing in the park",
    "a dog running on the grass with a ball",
    "two children building a sand castle on the beach",
    "a family having a picnic under a tree",
    "a boy riding a bicycle down the street",
)

# stable-diffusion-v1-5's unet/config.json, vae/config.json and text_encoder/config.json (the sizes).
SD15_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280), "attention_head_dim": 8, "cross_attention_dim": 768,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
}
SD15_VAE = {
    "sample_size": 512, "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
}
SD15_TEXT = {
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "projection_dim": 768,
}


def full_size_sd15(scratch: Path) -> DiffusersParts:
    """Stable Diffusion 1.5 shapes with random weights, in float32 on the CPU, consistent attention installed."""
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer(scratch)
    text_config = CLIPTextConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id, **SD15_TEXT)
    pipeline = StableDiffusionImg2ImgPipeline(
        unet=UNet2DConditionModel(**SD15_UNET).eval(), vae=AutoencoderKL(**SD15_VAE).eval(),
        text_encoder=CLIPTextModel(text_config).eval(), tokenizer=tokenizer,
        scheduler=DPMSolverMultistepScheduler(**SD_SCHEDULE), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return DiffusersParts(pipeline=pipeline, consistency=install(pipeline.unet),
                          placement=loading.Placement("cpu", "float32"))


def pages(count: int) -> list[PageToDraw]:
    return [PageToDraw(upright_picture(1024, 768, seed=i, texture=True), CAPTIONS[i % len(CAPTIONS)], 1000 + i)
            for i in range(count)]


def timed(function, *args):
    """The result, the wall seconds, and the CPU seconds of this process (all its threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=4, help="pages in the book, all drawn in one batch (default 4)")
    parser.add_argument("--size", type=int, default=256,
                        help=f"long side drawn, px (the worker's: {defaults.TALES_ILLUSTRATOR_SIZE})")
    parser.add_argument("--steps", type=int, default=4,
                        help=f"scheduler steps (the worker's: {defaults.TALES_ILLUSTRATOR_STEPS})")
    parser.add_argument("--strength", type=float, default=defaults.TALES_ILLUSTRATOR_STRENGTH)
    parser.add_argument("--guidance", type=float, default=defaults.TALES_ILLUSTRATOR_GUIDANCE)
    parser.add_argument("--consistency", type=float, default=defaults.TALES_ILLUSTRATOR_CONSISTENCY)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each side keeps its fastest (default 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_at_start = os.getloadavg()[0]

    print(f"building full-size Stable Diffusion 1.5 shapes (random weights, float32); torch threads={torch.get_num_threads()}",
          flush=True)
    started = time.perf_counter()
    scratch = tempfile.TemporaryDirectory()
    parts = full_size_sd15(Path(scratch.name))
    book, style = pages(args.pages), STYLES["watercolor"]
    denoising = int(max(args.steps, 1) * args.strength)
    print(f"built in {time.perf_counter() - started:.1f} s; {args.pages} pages of 1024x768 drawn at {args.size} px long side, "
          f"{args.steps} steps x strength {args.strength} = {denoising} denoising step(s), guidance {args.guidance}",
          flush=True)

    def illustrator(batch: int, consistency: float) -> DiffusersIllustrator:
        settings = Settings(TALES_ILLUSTRATOR="diffusers", TALES_DEVICE="cpu", TALES_ILLUSTRATOR_STRENGTH=args.strength,
                            TALES_ILLUSTRATOR_STEPS=args.steps, TALES_ILLUSTRATOR_GUIDANCE=args.guidance,
                            TALES_ILLUSTRATOR_BATCH=batch, TALES_ILLUSTRATOR_SIZE=args.size,
                            TALES_ILLUSTRATOR_CONSISTENCY=consistency)
        return DiffusersIllustrator(settings, parts=parts)

    single = illustrator(1, args.consistency)
    batched_plain = illustrator(args.pages, 0.0)
    batched = illustrator(args.pages, args.consistency)
    # Warm-up (first-call allocations, lazy imports, oneDNN kernels) so no side pays it.
    illustrator(2, args.consistency).draw(book[:2], style)

    # Each round runs every side once, starting from a different one, and each side keeps its best
    # round: other jobs on a shared machine slow whichever side runs beside them.
    sides = {"one": single, "plain": batched_plain, "batched": batched}
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    cpu_seconds: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    for round_ in range(args.repeat):
        for side in order[round_ % len(order):] + order[:round_ % len(order)]:
            pictures, took, cpu = timed(sides[side].draw, book, style)
            assert len(pictures) == args.pages and all(picture.size == (1024, 768) for picture in pictures)
            seconds[side].append(took)
            cpu_seconds[side].append(cpu)
    one_s, plain_s, batch_s = (min(seconds[side]) for side in order)
    one_cpu, plain_cpu, batch_cpu = (min(cpu_seconds[side]) for side in order)
    if args.repeat > 1:
        print("rounds: " + "; ".join(f"{side} " + ", ".join(f"{s:.1f}" for s in seconds[side]) + " s" for side in order))

    # CPU seconds count the work whatever else runs on the machine (wall seconds do not).
    def line(label: str, wall: float, cpu: float) -> str:
        return f"{label:<55} {wall:6.1f} s  {args.pages / wall:.3f} pages/s  cpu {cpu:6.1f} s"

    print(line(f"one page at a time ({args.pages} calls):", one_s, one_cpu))
    print(line("batched, one call, consistency off (batching alone):", plain_s, plain_cpu)
          + f"  batching ratio {one_s / plain_s:.2f} (cpu {one_cpu / plain_cpu:.2f})")
    print(line(f"batched, one call, consistency {args.consistency} (the worker's):", batch_s, batch_cpu))
    print(f"load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"ratio={one_s / batch_s:.2f}")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
