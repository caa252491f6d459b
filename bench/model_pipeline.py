"""Batching, measured: the original's one-at-a-time loop against the worker's batched code.

    .venv/bin/python bench/model_pipeline.py                 # 10 scenes, full length (several minutes on 2 cores)
    .venv/bin/python bench/model_pipeline.py --scenes 3 --max-length 32 --caption-tokens 8   # a quick look

Options: --scenes, --max-length (KoT5 tokens), --caption-tokens, --beams (KoT5), --caption-beams,
--threads. Decoding defaults are the worker's (shared.config.Settings), the same on both sides.

Both sides run the same full-size models in one process: BLIP-base shapes (BlipConfig defaults:
ViT-B/16 at 384 px, a 12-layer BERT-base text decoder, vocab 30524) and KoT5-base shapes (docs/architecture.md:
T5, d_model 768, d_ff 3072, 12+12 layers, 12 heads, d_kv 64, relu, vocab 32100 + 12 = 32112),
with random weights. Every output is forced to the same length (minimum = maximum), so both sides
do the same number of decoding steps and only the batching differs.

Both start from ten 12-megapixel phone JPEGs on disk (shared.synthetic, some stored sideways
with an EXIF orientation, as phones store them).

- seed-style: as the original app did, open one upload and caption it with BLIP, then write one
  scene with KoT5, one at a time;
- ours: the worker's own code: the caption stage's photo loading (JPEG draft decode, EXIF turned
  upright), `BlipCaptioner.caption(images)` and `KoT5Writer.write(scenes)`, one batched generate
  per book for each.

"Ours" runs twice: in float32 like the seed-style side (batching alone), and at the worker's own
precision on this machine (TALES_CPU_DTYPE=auto: bfloat16 where the CPU computes it natively,
as on GPUs; float32 elsewhere, and then the two runs are one). The last line is
`ratio=<seed-style seconds / ours seconds at the worker's defaults>`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from shared.config import Settings  # noqa: E402
from shared.story_input import build_input_text, service_seed_key  # noqa: E402
from talesrunner import samples  # noqa: E402
from shared.synthetic import phone_jpeg  # noqa: E402
from worker.ml import loading  # noqa: E402
from worker.ml.captioner import BlipCaptioner, BlipParts  # noqa: E402
from worker.ml.tiny import blip_processor, korean_t5_tokenizer  # noqa: E402
from worker.ml.writer import Kot5Decoding, Kot5Parts, KoT5Writer, SceneInput, special_token_ids  # noqa: E402
from shared.decoding import open_for_captioning as open_photo  # noqa: E402

CAPTIONS = (
    "숲 속의 나비가 꽃 위에 앉아 있다",
    "아이가 공원에서 비눗방울을 불고 있다",
    "강아지가 잔디밭에서 공을 물고 뛰어간다",
    "가족이 바닷가에서 모래성을 쌓고 있다",
    "아이가 창가에서 그림책을 읽고 있다",
)


def full_size_blip(caption_tokens: int) -> BlipParts:
    """blip-image-captioning-base shapes, random weights; captions forced to `caption_tokens` tokens."""
    from transformers import BlipConfig, BlipForConditionalGeneration, GenerationConfig

    processor = blip_processor(image_size=384, pad_vocab_to=30522)
    tokenizer = processor.tokenizer
    config = BlipConfig(
        text_config={
            "vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.sep_token_id,
            "sep_token_id": tokenizer.sep_token_id, "pad_token_id": tokenizer.pad_token_id,
        }
    )
    model = BlipForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id,
        min_new_tokens=caption_tokens,
    )
    return BlipParts(processor=processor, model=model, placement=loading.Placement("cpu", "float32"))


def full_size_kot5(max_length: int) -> Kot5Parts:
    """KoT5-base shapes (docs/architecture.md), random weights; paragraphs forced to `max_length` tokens."""
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = korean_t5_tokenizer(pad_vocab_to=32100)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_decoder_layers=12, num_heads=12,
        feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    assert config.vocab_size == 32112, config.vocab_size
    model = T5ForConditionalGeneration(config).eval()
    # min_length counts the decoder start token, like max_length: equal means every paragraph is full length.
    model.generation_config.min_length = max_length
    return Kot5Parts(tokenizer=tokenizer, model=model, placement=loading.Placement("cpu", "float32"),
                     special_ids=special_token_ids(tokenizer))


ORIENTATIONS = (1, 6, 1, 8, 3, 6, 1, 6, 8, 1)  # a mix of upright and sideways phone shots


def photos(count: int, directory: Path) -> list[Path]:
    """12-megapixel phone JPEGs on disk, as a book's uploads are stored (shared.synthetic)."""
    paths = []
    for i in range(count):
        path = directory / f"photo{i + 1}.jpg"
        path.write_bytes(phone_jpeg(4000, 3000, seed=i, orientation=ORIENTATIONS[i % len(ORIENTATIONS)]))
        paths.append(path)
    return paths


def our_captions(captioner: BlipCaptioner, paths: list[Path]) -> list:
    """The caption stage's own work: open each stored photo (draft decode, EXIF upright), one batch."""
    return captioner.caption([open_photo(path) for path in paths])


def scenes(count: int) -> list[SceneInput]:
    result = []
    for i in range(count):
        fields = dict(samples.SCENES[i % len(samples.SCENES)])
        result.append(SceneInput(index=i + 1, fields=fields, caption=CAPTIONS[i % len(CAPTIONS)], caption_lang="ko"))
    return result


def seed_captions(blip: BlipParts, paths: list[Path], caption_tokens: int, beams: int) -> list[str]:
    """The original's captioning loop: open an upload, caption it, one photo per generate call
    (same model, same decoding)."""
    captions = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        inputs = blip.processor(images=image, return_tensors="pt")
        with torch.inference_mode():
            out = blip.model.generate(pixel_values=inputs["pixel_values"], generation_config=blip.model.generation_config,
                                      max_new_tokens=caption_tokens, num_beams=beams)
        captions.append(blip.processor.decode(out[0], skip_special_tokens=True))
    return captions


def seed_paragraphs(kot5: Kot5Parts, book: list[SceneInput], decoding: Kot5Decoding) -> list[str]:
    """The original's writing loop: one scene per generate call (same input text, mask and decoding)."""
    paragraphs = []
    special = torch.tensor(kot5.special_ids)
    for scene in book:
        fields = {**scene.fields, "caption": scene.caption}
        text = build_input_text(fields, service_seed_key(scene.caption, fields["name"], fields["i_action"]))
        inputs = kot5.tokenizer(text, max_length=decoding.max_input_tokens, truncation=True, return_tensors="pt")
        inputs["attention_mask"][torch.isin(inputs["input_ids"], special)] = 0
        with torch.inference_mode():
            out = kot5.model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                      **decoding.generate_kwargs())
        paragraphs.append(kot5.tokenizer.decode(out[0], skip_special_tokens=True))
    return paragraphs


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=10, help="scenes in the book (1-10)")
    parser.add_argument("--max-length", type=int, default=128, help="KoT5 paragraph length in tokens (the original's: 128)")
    parser.add_argument("--caption-tokens", type=int, default=20, help="BLIP caption length in tokens (BLIP's max 20)")
    # Decoding defaults are the worker's own (shared.config.Settings), on both sides.
    parser.add_argument("--beams", type=int, default=defaults.TALES_KOT5_NUM_BEAMS, help="KoT5 beams (default %(default)s)")
    parser.add_argument("--caption-beams", type=int, default=defaults.TALES_BLIP_NUM_BEAMS,
                        help="BLIP beams (default %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_at_start = os.getloadavg()[0]

    print(f"building full-size BLIP-base and KoT5-base shapes (random weights); torch threads={torch.get_num_threads()}",
          flush=True)
    started = time.perf_counter()
    blip = full_size_blip(args.caption_tokens)
    kot5 = full_size_kot5(args.max_length)
    print(f"built in {time.perf_counter() - started:.1f} s; {args.scenes} scenes; paragraphs {args.max_length} tokens, "
          f"{args.beams} beams; captions {args.caption_tokens} tokens, {args.caption_beams} beam(s)", flush=True)
    decoding = replace(Kot5Decoding.from_settings(defaults), max_length=args.max_length, num_beams=args.beams)
    scratch = tempfile.TemporaryDirectory()
    uploads, book = photos(args.scenes, Path(scratch.name)), scenes(args.scenes)
    captioner = BlipCaptioner(blip, max_new_tokens=args.caption_tokens, num_beams=args.caption_beams)
    writer = KoT5Writer(kot5, decoding)

    # Warm-up (first-call allocations, lazy imports) so neither side pays it.
    short = replace(decoding, max_length=8)
    seed_captions(blip, uploads[:1], 2, args.caption_beams)
    our_captions(BlipCaptioner(blip, max_new_tokens=2, num_beams=args.caption_beams), uploads[:2])
    seed_paragraphs(kot5, book[:1], short)
    KoT5Writer(kot5, short).write(book[:2])

    # The worker's own precision on this machine (TALES_DEVICE=auto, TALES_CPU_DTYPE=auto): bfloat16
    # where the CPU computes it natively, else float32. The seed-style side runs float32, as the original did.
    worker_dtype = loading.placement("auto", half_safe=False).dtype

    def at(dtype: str) -> tuple[BlipCaptioner, KoT5Writer]:
        """The worker's backends over the same weights cast to `dtype`."""
        torch_dtype = getattr(torch, dtype)
        where = loading.Placement("cpu", dtype)
        blip.model.to(torch_dtype)
        kot5.model.to(torch_dtype)
        return (BlipCaptioner(replace(blip, placement=where), max_new_tokens=args.caption_tokens,
                              num_beams=args.caption_beams),
                KoT5Writer(replace(kot5, placement=where), decoding))

    # Each stage is timed every way back to back, so a busy machine weighs on all sides alike.
    at("float32")
    seed_caps, seed_caption_s = timed(seed_captions, blip, uploads, args.caption_tokens, args.caption_beams)
    our_caps, our_caption_s = timed(our_captions, captioner, uploads)
    fast_caption_s = our_caption_s
    if worker_dtype != "float32":
        fast_captioner, _ = at(worker_dtype)
        our_captions(BlipCaptioner(fast_captioner.parts, max_new_tokens=2, num_beams=args.caption_beams), uploads[:2])
        fast_caps, fast_caption_s = timed(our_captions, fast_captioner, uploads)
        assert len(fast_caps) == args.scenes
        at("float32")
    print(f"captions:   seed-style {seed_caption_s:.1f} s, ours {our_caption_s:.1f} s (float32), "
          f"{fast_caption_s:.1f} s ({worker_dtype})", flush=True)
    seed_texts, seed_write_s = timed(seed_paragraphs, kot5, book, decoding)
    our_texts, our_write_s = timed(writer.write, book)
    fast_write_s = our_write_s
    if worker_dtype != "float32":
        _, fast_writer = at(worker_dtype)
        KoT5Writer(fast_writer.parts, short).write(book[:2])
        fast_texts, fast_write_s = timed(fast_writer.write, book)
        assert len(fast_texts) == args.scenes
        at("float32")
    print(f"paragraphs: seed-style {seed_write_s:.1f} s, ours {our_write_s:.1f} s (float32), "
          f"{fast_write_s:.1f} s ({worker_dtype})", flush=True)

    # Same work on both sides: as many outputs, each of the forced length.
    assert len(seed_caps) == len(our_caps) == len(seed_texts) == len(our_texts) == args.scenes
    seed_s, our_s, fast_s = seed_caption_s + seed_write_s, our_caption_s + our_write_s, fast_caption_s + fast_write_s
    print(f"seed-style (one image, one paragraph at a time, float32): {seed_s:.1f} s")
    print(f"ours, batching alone (float32):                           {our_s:.1f} s  batching ratio {seed_s / our_s:.2f}")
    print(f"ours, the worker's defaults on this machine ({worker_dtype}):    {fast_s:.1f} s")
    # Other jobs on the machine slow whichever side runs beside them; say how busy it was.
    print(f"load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"ratio={seed_s / fast_s:.2f}")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
