"""A Whisper model (and a LoRA adapter merged into it) -> a CTranslate2 directory faster-whisper runs.

    python -m worker.transcription.convert MODEL OUT [--adapter ADAPTER] [--quantization int8] [--force]

MODEL is a hub id or a transformers directory (`talesrunner models fetch DIR --only whisper`);
the adapter, when given, is merged first (AI-Book's children's adapter on whisper-large-v2, say), so
the int8 model is the fine-tuned one. OUT holds `model.bin`, CTranslate2's config and vocabulary,
`tokenizer.json` and `preprocessor_config.json` (faster-whisper reads both from the folder and never
downloads them), and `talesrunner_ct2.json` saying what it came from. Point TALES_WHISPER_MODEL at OUT.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from worker.ml import loading
from worker.transcription.whisper import SIDECAR, merged

QUANTIZATIONS = ("int8", "int8_float16", "float16", "float32")
COPIED = ("tokenizer.json", "preprocessor_config.json")


def convert_whisper(model: str, out: str | Path, *, adapter: str | None = None, quantization: str = "int8",
                    force: bool = False) -> Path:
    """Write the CTranslate2 conversion of `model` (with `adapter` merged) to `out`; returns `out`."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, not {quantization!r}")
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} exists and is not empty (pass --force to replace it)")
    whisper = WhisperForConditionalGeneration.from_pretrained(model)
    if adapter:
        whisper = merged(whisper, adapter)
    with tempfile.TemporaryDirectory() as scratch:
        # The converter reads a folder; the processor is saved there too, so tokenizer.json exists
        # even for a model published with vocab.json and merges.txt only.
        whisper.save_pretrained(scratch)
        WhisperProcessor.from_pretrained(model).save_pretrained(scratch)
        TransformersConverter(scratch, copy_files=list(COPIED)).convert(str(out), quantization=quantization, force=True)
    (out / SIDECAR).write_text(json.dumps({
        "source": model, "adapter": adapter, "model_type": "whisper", "quantization": quantization,
        "ctranslate2": ctranslate2.__version__,
        loading.TEST_MODEL_KEY: getattr(whisper.config, loading.TEST_MODEL_KEY, None) or None,
    }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.transcription.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a Whisper hub id or transformers directory")
    parser.add_argument("out", help="the CTranslate2 directory to write")
    parser.add_argument("--adapter", help="a PEFT LoRA adapter (directory or hub id) to merge first")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default="int8",
                        help="weights as stored (default int8; faster-whisper runs float16 on CUDA either way)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT")
    args = parser.parse_args(argv)
    try:
        out = convert_whisper(args.model, args.out, adapter=args.adapter, quantization=args.quantization, force=args.force)
    except (OSError, ValueError) as exc:
        print(f"convert: {exc}", file=sys.stderr)
        return 2
    print(f"converted {args.model}{' + ' + args.adapter if args.adapter else ''} to CTranslate2 ({args.quantization}) "
          f"in {out}; set TALES_WHISPER_MODEL={out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
