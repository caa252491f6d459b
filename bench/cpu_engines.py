"""KoT5 and the translator on a CPU: PyTorch against CTranslate2 int8, the same book side by side.

    .venv/bin/python bench/cpu_engines.py                              # 10 scenes, full length (several minutes on 2 cores)
    .venv/bin/python bench/cpu_engines.py --scenes 4 --max-length 48   # the bar: ratio >= 2.0
    .venv/bin/python bench/cpu_engines.py --blip                       # also BLIP-base, and BLIP with dynamic int8

Options: --scenes, --max-length (KoT5 tokens, decoder start included, as generate counts),
--translation-tokens (new tokens per caption), --beams (KoT5), --translation-beams, --threads, --blip.

Full-size shapes with random weights, built in memory, saved to a temporary folder as a deployment
keeps them, and converted there with `worker.ml.ctranslate.convert` (what `talesrunner models
convert` runs), int8:

- KoT5-base (SPEC §5): T5, d_model 768, d_ff 3072, 12+12 layers, 12 heads, d_kv 64, relu, vocab 32112;
- the translator as Helsinki-NLP/opus-mt-tc-big-en-ko is shaped (a Marian transformer-big: d_model
  1024, 16 heads, FFN 4096, 6+6 layers, relu, shared embeddings of 32001 ids, pad and decoder start
  32000, sinusoidal positions up to 1024, scaled embeddings; its generation config: 4 beams, the
  pad token barred, the end token forced at the last place).

The same inputs go to every engine: the book's scenes through the worker's own `KoT5Writer.input_text`
(the service's seed key) and English captions for the translator. Every output is forced to one
length (minimum = maximum in each model's generation config, which the conversion copies), so each
engine decodes the same number of steps with the worker's decoding (KoT5 beams 3, length penalty
0.8, repetition penalty 1.5, no repeated 3-grams; translation 4 beams); the bench checks the token
counts are equal. Engines, each through the worker's own classes (one batched call per book):

- torch float32: `KoT5Writer.generate`, `HfTranslator.translate`;
- torch at the worker's default on this machine (TALES_CPU_DTYPE=auto: bfloat16 where the CPU
  computes it natively, `cpu_bf16_native`; else float32, and then it is the line above);
- CTranslate2 int8: `Ct2KoT5Writer.generate`, `Ct2Translator.translate` (what the worker runs when
  TALES_KOT5_DIR / TALES_TRANSLATOR_MODEL name a converted folder), as many threads as torch.

Each stage runs every engine back to back, so a busy machine weighs on all alike. The last line
is `ratio=<worker's torch default seconds / CTranslate2 int8 seconds, writing + translation>`.
With --blip, BLIP-base (ViT-B/16 at 384 px, as bench/model_pipeline.py builds it) captions the
book's photos at the worker's default and with torch dynamic int8 Linear layers, to show how much
of the book's model time is left in BLIP.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from shared.config import Settings  # noqa: E402
from talesrunner import samples  # noqa: E402
from worker.ml import loading  # noqa: E402
from worker.ml.ctranslate import Ct2KoT5Writer, Ct2Translator, convert, load_ct2, load_kot5_ct2  # noqa: E402
from worker.ml.tiny import korean_t5_tokenizer, make_tiny_translator  # noqa: E402
from worker.ml.translator import HfTranslator, Seq2SeqParts  # noqa: E402
from worker.ml.writer import Kot5Decoding, Kot5Parts, KoT5Writer, SceneInput, special_token_ids  # noqa: E402

CAPTIONS_KO = (
    "숲 속의 나비가 꽃 위에 앉아 있다",
    "아이가 공원에서 비눗방울을 불고 있다",
    "강아지가 잔디밭에서 공을 물고 뛰어간다",
    "가족이 바닷가에서 모래성을 쌓고 있다",
    "아이가 창가에서 그림책을 읽고 있다",
)
CAPTIONS_EN = (
    "a butterfly sitting on a flower in the forest",
    "a little girl blowing bubbles in a park",
    "a dog running on the grass with a ball in its mouth",
    "a family building a sand castle on the beach",
    "a child reading a picture book by the window",
)
# Helsinki-NLP/opus-mt-tc-big-en-ko's shape (config.json of the published model and of fine-tunes made from it).
TC_BIG = {"d_model": 1024, "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 16,
          "decoder_attention_heads": 16, "encoder_ffn_dim": 4096, "decoder_ffn_dim": 4096,
          "max_position_embeddings": 1024, "activation_function": "relu", "scale_embedding": True,
          "share_encoder_decoder_embeddings": True, "static_position_embeddings": True}
TC_BIG_VOCAB = 32001


def kot5_base(directory: Path, max_length: int) -> Path:
    """KoT5-base shapes, random weights, saved with its tokenizer; paragraphs forced to `max_length`."""
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = korean_t5_tokenizer(pad_vocab_to=32100)
    config = T5Config(vocab_size=len(tokenizer), d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_decoder_layers=12,
                      num_heads=12, feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    assert config.vocab_size == 32112, config.vocab_size
    model = T5ForConditionalGeneration(config).eval()
    # min_length counts the decoder start token, like max_length: equal means every paragraph is full length.
    model.generation_config.min_length = max_length
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def tc_big_translator(directory: Path, new_tokens: int) -> Path:
    """opus-mt-tc-big-en-ko shapes, random weights, a Marian tokenizer with its 32001 ids; captions forced to
    `new_tokens` (the last one the forced end token)."""
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    small = make_tiny_translator(directory / "_tokenizer")  # the shipped-text sentencepiece models and vocabulary
    vocab = json.loads((small / "vocab.json").read_text(encoding="utf-8"))
    pieces = sorted((piece for piece in vocab if piece != "<pad>"), key=vocab.__getitem__)
    pieces += [f"<unused_{i}>" for i in range(TC_BIG_VOCAB - 1 - len(pieces))] + ["<pad>"]
    (directory / "vocab.json").write_text(json.dumps({p: i for i, p in enumerate(pieces)}, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(source_spm=str(small / "source.spm"), target_spm=str(small / "target.spm"),
                                vocab=str(directory / "vocab.json"), source_lang="en", target_lang="ko")
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    assert len(tokenizer) == TC_BIG_VOCAB and pad == TC_BIG_VOCAB - 1, (len(tokenizer), pad)
    config = MarianConfig(vocab_size=TC_BIG_VOCAB, decoder_vocab_size=TC_BIG_VOCAB, pad_token_id=pad, eos_token_id=eos,
                          decoder_start_token_id=pad, forced_eos_token_id=eos, **TC_BIG)
    model = MarianMTModel(config).eval()
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=eos, forced_eos_token_id=eos, pad_token_id=pad,
        max_length=512, num_beams=4, min_new_tokens=new_tokens,
    )
    for path in small.iterdir():
        path.unlink()
    small.rmdir()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def book(count: int) -> list[SceneInput]:
    return [SceneInput(index=i + 1, fields=dict(samples.SCENES[i % len(samples.SCENES)]),
                       caption=CAPTIONS_KO[i % len(CAPTIONS_KO)], caption_lang="ko") for i in range(count)]


class TorchLengths:
    """Wraps model.generate to keep the number of tokens each output holds between the decoder start and the end token."""

    def __init__(self, model: Any):
        self.model, self.original, self.lengths = model, model.generate, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        output = self.original(*args, **kwargs)
        eos = self.model.generation_config.eos_token_id
        rows = [row[1:].tolist() for row in output]
        self.lengths = [row.index(eos) if eos in row else len(row) for row in rows]
        return output


class Ct2Lengths:
    """Stands in for a ctranslate2.Translator and keeps the output lengths (the end token not included)."""

    def __init__(self, translator: Any):
        self.translator, self.lengths, self.calls = translator, [], 0

    def translate_batch(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        results = self.translator.translate_batch(*args, **kwargs)
        self.lengths = [len(result.hypotheses[0]) for result in results]
        return results


def timed(function: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def torch_parts(directory: Path, dtype: str, kot5: bool) -> Any:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    where = loading.Placement("cpu", dtype)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSeq2SeqLM.from_pretrained(directory, dtype=where.torch_dtype()).eval()
    if kot5:
        return Kot5Parts(tokenizer=tokenizer, model=model, placement=where, special_ids=special_token_ids(tokenizer))
    return Seq2SeqParts(tokenizer=tokenizer, model=model, placement=where)


def blip_times(scenes: int, caption_tokens: int, beams: int, worker_dtype: str) -> dict[str, float]:
    """BLIP-base captions for the book's photos at the worker's default and with dynamic int8 Linear layers."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from model_pipeline import full_size_blip, our_captions, photos

    from worker.ml.captioner import BlipCaptioner

    scratch = tempfile.TemporaryDirectory()
    uploads = photos(scenes, Path(scratch.name))
    blip = full_size_blip(caption_tokens)
    times = {}
    blip.model.to(getattr(torch, worker_dtype))
    parts = replace(blip, placement=loading.Placement("cpu", worker_dtype))
    our_captions(BlipCaptioner(parts, max_new_tokens=2, num_beams=beams), uploads[:1])
    _, times[f"torch {worker_dtype}"] = timed(our_captions, BlipCaptioner(parts, max_new_tokens=caption_tokens,
                                                                           num_beams=beams), uploads)
    blip.model.to(torch.float32)
    quantized = torch.ao.quantization.quantize_dynamic(blip.model, {torch.nn.Linear}, dtype=torch.qint8)
    parts = replace(blip, model=quantized, placement=loading.Placement("cpu", "float32"))
    our_captions(BlipCaptioner(parts, max_new_tokens=2, num_beams=beams), uploads[:1])
    _, times["torch dynamic int8"] = timed(our_captions, BlipCaptioner(parts, max_new_tokens=caption_tokens,
                                                                       num_beams=beams), uploads)
    scratch.cleanup()
    return times


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=10, help="scenes (and captions) in the book")
    parser.add_argument("--max-length", type=int, default=defaults.TALES_KOT5_MAX_LENGTH,
                        help="KoT5 paragraph length in tokens, decoder start included (the worker's: %(default)s)")
    parser.add_argument("--translation-tokens", type=int, default=24, help="new tokens per translated caption")
    parser.add_argument("--beams", type=int, default=defaults.TALES_KOT5_NUM_BEAMS, help="KoT5 beams (%(default)s)")
    parser.add_argument("--translation-beams", type=int, default=4, help="translation beams (the worker's: %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for every engine (0: torch's default)")
    parser.add_argument("--blip", action="store_true", help="also time BLIP-base captions, and with dynamic int8")
    parser.add_argument("--caption-tokens", type=int, default=20, help="BLIP caption length with --blip")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    load_at_start = os.getloadavg()[0]
    worker_dtype = loading.placement("auto", half_safe=False).dtype
    print(f"torch {torch.__version__}, {threads} threads; the worker's torch default here: {worker_dtype}", flush=True)

    scratch = tempfile.TemporaryDirectory()
    root = Path(scratch.name)
    started = time.perf_counter()
    kot5_dir = kot5_base(root / "kot5", args.max_length)
    translator_dir = tc_big_translator(root / "translator", args.translation_tokens)
    built = time.perf_counter()
    convert(str(kot5_dir), root / "kot5-ct2", "int8")
    convert(str(translator_dir), root / "translator-ct2", "int8")
    print(f"built and saved in {built - started:.0f} s, converted to CTranslate2 int8 in "
          f"{time.perf_counter() - built:.0f} s; {args.scenes} scenes, paragraphs {args.max_length} tokens "
          f"({args.beams} beams), captions {args.translation_tokens} tokens ({args.translation_beams} beams)", flush=True)

    scenes = book(args.scenes)
    captions = [CAPTIONS_EN[i % len(CAPTIONS_EN)] for i in range(args.scenes)]
    decoding = replace(Kot5Decoding.from_settings(defaults), max_length=args.max_length, num_beams=args.beams)
    short = replace(decoding, max_length=6)

    def kot5_engine(kind: str) -> tuple[Any, Any]:
        if kind == "ct2":
            parts = load_kot5_ct2(str(root / "kot5-ct2"), "cpu", "int8", threads)
            spy = parts.model = Ct2Lengths(parts.model)
            Ct2KoT5Writer(parts, short).generate(scenes[:2])  # warm-up
            return Ct2KoT5Writer(parts, decoding), spy
        parts = torch_parts(kot5_dir, kind, kot5=True)
        spy = TorchLengths(parts.model)
        parts.model.generate = spy
        KoT5Writer(parts, short).generate(scenes[:2])
        return KoT5Writer(parts, decoding), spy

    def translator_engine(kind: str) -> tuple[Any, Any]:
        if kind == "ct2":
            parts = load_ct2(str(root / "translator-ct2"), "cpu", "int8", "translation model", "-", threads)
            spy = parts.model = Ct2Lengths(parts.model)
            Ct2Translator(parts, max_new_tokens=4, num_beams=args.translation_beams).translate(captions[:2])
            return Ct2Translator(parts, max_new_tokens=args.translation_tokens, num_beams=args.translation_beams), spy
        parts = torch_parts(translator_dir, kind, kot5=False)
        spy = TorchLengths(parts.model)
        parts.model.generate = spy
        HfTranslator(parts, max_new_tokens=4, num_beams=args.translation_beams).translate(captions[:2])
        return HfTranslator(parts, max_new_tokens=args.translation_tokens, num_beams=args.translation_beams), spy

    engines = ["float32"] + ([worker_dtype] if worker_dtype != "float32" else []) + ["ct2"]
    names = {"float32": "torch float32", "bfloat16": "torch bfloat16 (worker default)", "ct2": "CTranslate2 int8"}
    seconds: dict[str, dict[str, float]] = {engine: {} for engine in engines}
    for stage, make, run, inputs in (("translation", translator_engine, "translate", captions),
                                     ("writing", kot5_engine, "generate", scenes)):
        lengths = {}
        for engine in engines:
            worker, spy = make(engine)
            out, seconds[engine][stage] = timed(getattr(worker, run), inputs)
            assert len(out) == args.scenes and all(out)
            lengths[engine] = spy.lengths
            if engine == "ct2":
                assert spy.calls == 2, spy.calls  # the warm-up and the book: one translate_batch per book
            del worker, spy
        assert len({tuple(v) for v in lengths.values()}) == 1, lengths  # the same work for every engine
        print(f"{stage:12s} " + ", ".join(f"{names[e]} {seconds[e][stage]:.1f} s" for e in engines)
              + f"  ({lengths['ct2'][0]} tokens each)", flush=True)

    total = {engine: sum(seconds[engine].values()) for engine in engines}
    print("writing + translation: " + ", ".join(f"{names[e]} {total[e]:.1f} s" for e in engines))
    print(f"CTranslate2 int8 against torch float32: x{total['float32'] / total['ct2']:.2f}")
    if args.blip:
        blip = blip_times(args.scenes, args.caption_tokens, defaults.TALES_BLIP_NUM_BEAMS, worker_dtype)
        print("BLIP captions: " + ", ".join(f"{name} {value:.1f} s" for name, value in blip.items()))
        book_torch = blip[f"torch {worker_dtype}"] + total[worker_dtype]
        book_ct2 = blip[f"torch {worker_dtype}"] + total["ct2"]
        print(f"the book's model time: torch {book_torch:.1f} s, with CTranslate2 {book_ct2:.1f} s "
              f"(BLIP {100 * blip[f'torch {worker_dtype}'] / book_ct2:.0f}% of it)")
    print(f"load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    scratch.cleanup()
    print(f"ratio={total[worker_dtype] / total['ct2']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
