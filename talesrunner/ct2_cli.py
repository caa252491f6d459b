"""`talesrunner models convert MODEL_DIR OUT`: KoT5, the translator or Whisper as a CTranslate2 directory
(worker/ml/ctranslate.py, worker/transcription/convert.py). Only argparse here; ctranslate2 and
transformers load inside the command.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

QUANTIZATIONS = ("int8", "int8_float16", "float16", "float32")  # worker.ml.ctranslate.QUANTIZATIONS


def _is_whisper(model: str) -> bool:
    """Whether MODEL_DIR (a directory, or a hub id) is a Whisper model, by its config or its name."""
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "whisper"
        except (OSError, ValueError):
            return False
    return "whisper" in model.lower()


def _convert_whisper(args: argparse.Namespace) -> int:
    from worker.transcription.convert import convert_whisper

    try:
        out = convert_whisper(args.model_dir, args.out, adapter=args.adapter, quantization=args.quantization,
                              force=args.force)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"models convert: {exc}", file=sys.stderr)
        return 2
    merged = f" with the adapter {args.adapter} merged" if args.adapter else ""
    print(f"converted the whisper model{merged} to CTranslate2 ({args.quantization} weights) in {out}; "
          "the worker runs it with faster-whisper")
    print(f"TALES_WHISPER_MODEL={out.resolve()}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from worker.ml.ctranslate import convert

    if _is_whisper(args.model_dir):
        return _convert_whisper(args)
    if args.adapter:
        print("models convert: --adapter is for a Whisper model (a LoRA adapter merged before converting)", file=sys.stderr)
        return 2
    try:
        done = convert(args.model_dir, args.out, args.quantization, force=args.force)
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: CTranslate2 refusing a model
        print(f"models convert: {exc}", file=sys.stderr)
        return 2
    setting = "TALES_KOT5_DIR" if done.model_type in ("t5", "mt5") else "TALES_TRANSLATOR_MODEL"
    print(f"converted the {done.model_type} model to CTranslate2 ({done.quantization} weights) in {done.out}; "
          f"copied {', '.join(done.copied)}")
    if done.test_model:
        print(f"note: a test model ({done.test_model})")
    print(f"{setting}={done.out.resolve()}")
    return 0


def add_command(models: argparse._SubParsersAction) -> None:
    """Register `models convert` on the `models` group's subparsers."""
    convert = models.add_parser(
        "convert", help="KoT5, the translation model or Whisper -> a CTranslate2 directory (int8 on a CPU)",
        description="Convert a KoT5 (T5), MarianMT or Whisper model directory (or hub id) with CTranslate2's converter; "
                    "the tokenizer and generation settings are copied beside the weights. Point TALES_KOT5_DIR, "
                    "TALES_TRANSLATOR_MODEL or TALES_WHISPER_MODEL at OUT and the worker runs it with CTranslate2 "
                    "(Whisper through faster-whisper).",
    )
    convert.add_argument("model_dir", help="the transformers model directory (or hub id)")
    convert.add_argument("out", help="the CTranslate2 directory to write (new or empty)")
    convert.add_argument("--quantization", choices=QUANTIZATIONS, default="int8",
                         help="how the weights are stored (default int8; the worker computes int8 on a CPU, "
                              "int8 with 16-bit activations on CUDA, whatever is stored)")
    convert.add_argument("--adapter", help="Whisper only: a PEFT LoRA adapter directory merged into the model first")
    convert.add_argument("--force", action="store_true", help="replace a non-empty OUT")
    convert.set_defaults(func=_convert)
