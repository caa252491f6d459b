"""A tiny random-weight Stable Diffusion img2img pipeline: `talesrunner make-tiny-models` writes it as DIR/illustrator.

It has the real architecture and the real classes a deployment loads (StableDiffusionImg2ImgPipeline:
UNet2DConditionModel, AutoencoderKL, CLIPTextModel, CLIPTokenizer, DPMSolverMultistepScheduler), so the
`diffusers` illustrator runs the very code it runs on stable-diffusion-v1-5, offline and in a few seconds
on a CPU. Its pictures are coloured noise shaped by the photos.

The CLIP tokenizer is built here, without a download: a byte-level BPE like CLIP's (the 256 byte symbols,
each also as a word end "</w>", then merges learnt from the shipped English captions and the style prompts,
then <|startoftext|> and <|endoftext|>), as diffusers' own tests use a tiny random CLIP from the hub.

It has NO safety checker (safety_checker None, requires_safety_checker False): a random-weight model draws
nothing a checker could judge, and a tiny CLIP vision model would flag at random. Only this test model may
go without one; real models keep theirs (stable_diffusion.py never turns it off).

The UNet's config carries loading.TEST_MODEL_KEY = worker.ml.tiny.TEST_MODEL_NOTE, so books drawn with
it say a test model drew their pictures.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from worker.ml.loading import TEST_MODEL_KEY
from worker.ml.tiny import ENGLISH_TEXT, SEED, TEST_MODEL_NOTE, _lines

BPE_MERGES = 300
# CLIP's pre-tokenizer (transformers' CLIPTokenizer.pat): the pieces BPE runs on.
CLIP_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
BOS, EOS = "<|startoftext|>", "<|endoftext|>"

# The tiny shapes: a UNet with attention in its mid block and its first (lowest resolution) up block
# (where the consistent self-attention goes), a VAE that halves the picture, a 2-layer CLIP text model.
TINY_UNET: dict[str, Any] = {
    "block_out_channels": (32, 64), "layers_per_block": 1, "sample_size": 32, "in_channels": 4, "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"), "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32, "attention_head_dim": 4, "norm_num_groups": 16,
}
TINY_VAE: dict[str, Any] = {
    "block_out_channels": (16, 32), "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 1,
    "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"), "up_block_types": ("UpDecoderBlock2D", "UpDecoderBlock2D"),
    "norm_num_groups": 16, "sample_size": 64,
}
TINY_CLIP_TEXT: dict[str, Any] = {
    "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
    "max_position_embeddings": 77, "layer_norm_eps": 1e-5,
}
# Stable Diffusion 1.x's noise schedule.
SD_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1,
}


def _bpe_corpus() -> list[str]:
    from shared.styles import STYLES

    return _lines(ENGLISH_TEXT) + [style.prompt for style in STYLES.values() if style.prompt] + [
        "photo-realistic, photograph, text, letters, watermark, signature, deformed, blurry, ugly"
    ]


def clip_bpe(merges: int = BPE_MERGES) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP byte-level BPE vocabulary and merges, learnt deterministically from the shipped English text.

    Ties between equally frequent pairs go to the smallest pair, so every run writes the same files.
    """
    import regex
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    byte_symbols = bytes_to_unicode()
    words: Counter[tuple[str, ...]] = Counter()
    for line in _bpe_corpus():
        for piece in regex.findall(CLIP_PATTERN, " ".join(line.lower().split())):
            chars = "".join(byte_symbols[b] for b in piece.encode("utf-8"))
            words[tuple(chars[:-1]) + (chars[-1] + "</w>",)] += 1
    learnt: list[tuple[str, str]] = []
    for _ in range(merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        learnt.append(best)
        merged: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    symbols = list(byte_symbols.values())
    vocab: dict[str, int] = {}
    for token in symbols + [s + "</w>" for s in symbols] + ["".join(pair) for pair in learnt] + [BOS, EOS]:
        vocab.setdefault(token, len(vocab))  # two merges can make the same string: one id for it
    return vocab, learnt


def clip_tokenizer(scratch: Path) -> Any:
    """A CLIPTokenizer over clip_bpe(), padded with <|endoftext|> to 77 tokens as Stable Diffusion's is."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe()
    vocab_file, merges_file = scratch / "vocab.json", scratch / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")
    return CLIPTokenizer(vocab_file=str(vocab_file), merges_file=str(merges_file), bos_token=BOS, eos_token=EOS,
                         unk_token=EOS, pad_token=EOS, model_max_length=77)


def tiny_components(scratch: Path) -> dict[str, Any]:
    """The pipeline's parts with tiny shapes and seeded random weights."""
    import torch
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer(scratch)
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(**TINY_UNET)
    unet.register_to_config(**{TEST_MODEL_KEY: TEST_MODEL_NOTE})
    vae = AutoencoderKL(**TINY_VAE)
    text_config = CLIPTextConfig(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **TINY_CLIP_TEXT,
    )
    setattr(text_config, TEST_MODEL_KEY, TEST_MODEL_NOTE)
    text_encoder = CLIPTextModel(text_config)
    scheduler = DPMSolverMultistepScheduler(**SD_SCHEDULE)
    return {"unet": unet.eval(), "vae": vae.eval(), "text_encoder": text_encoder.eval(), "tokenizer": tokenizer,
            "scheduler": scheduler}


def make_tiny_illustrator(directory: Path) -> Path:
    """Write a tiny StableDiffusionImg2ImgPipeline (safetensors, under 5 MB) to `directory`; returns it."""
    import tempfile

    from diffusers import StableDiffusionImg2ImgPipeline

    directory = Path(directory)
    with tempfile.TemporaryDirectory() as scratch:
        parts = tiny_components(Path(scratch))
        # The test model alone goes without a safety checker (see the module's docstring).
        pipeline = StableDiffusionImg2ImgPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
        pipeline.save_pretrained(directory, safe_serialization=True)
    return directory
