"""Output agreement, CTranslate2 against PyTorch, on a tiny *trained* KoT5 (and the tiny translator).

    .venv/bin/python bench/ct2_agreement.py                 # trains the micro T5 on 16 rows (about 30 s), 48 rows compared
    .venv/bin/python bench/ct2_agreement.py --train-rows 8 --rows 40 --steps 200

The model is the training tests' micro T5 (tests/training_helpers.MICRO_T5: the tiny KoT5's tokenizer
and code path) fine-tuned with `talesrunner train` on synthetic fixture rows (training.fixtures), so
its outputs are real sentences rather than random-weight noise. It writes --rows fixture scenes
(the trained rows first, then rows it never saw) with the service's decoding (beams 3, length
penalty 0.8, repetition penalty 1.5, no repeated 3-grams, max length 128), through the worker's own
`KoT5Writer` (torch float32, markers masked) and `Ct2KoT5Writer` (converted with
`worker.ml.ctranslate.convert`, float32 and int8 weights). Agreement is the share of outputs
identical token for token. Also printed, to tell the causes apart:

- the markers kept in the CTranslate2 source instead of dropped (the alternative to masking);
- "same source": torch given the source CTranslate2 gets (markers dropped, nothing masked), so the
  only difference left is the engine's decoding;
- the same without the repetition penalty and the n-gram block (plain beam search);
- the tiny random-weight translator (4 beams), English captions.

The last line is `agreement=<share identical, float32, service decoding, markers dropped>`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from talesrunner.cli import main as cli  # noqa: E402
from tests.training_helpers import MICRO_T5, fixture_rows, write_dataset  # noqa: E402
from worker.ml import loading  # noqa: E402
from worker.ml.ctranslate import Ct2KoT5Writer, Ct2Translator, convert, load_ct2, load_kot5_ct2  # noqa: E402
from worker.ml.tiny import make_tiny_kot5, make_tiny_translator  # noqa: E402
from worker.ml.translator import HfTranslator, load_seq2seq  # noqa: E402
from worker.ml.writer import Kot5Decoding, KoT5Writer, load_kot5  # noqa: E402

CAPTIONS = ("a child plays in the park", "a dog runs on the grass", "a family on the beach", "a girl reads a book",
            "a boy rides a bicycle", "a cat sleeps on the sofa", "two friends eat ice cream", "a baby laughs",
            "a rabbit in the garden", "children build a sand castle", "a bird on a tree", "a father and a son fish")


def torch_ids(writer: KoT5Writer, sources: list[list[int]]) -> list[list[int]]:
    """torch's own tokens for sources given as they are (no mask), one batch, as generate writes them."""
    tokenizer = writer.parts.tokenizer
    width = max(len(ids) for ids in sources)
    input_ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids in sources])
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in sources])
    with torch.inference_mode():
        output = writer.parts.model.generate(input_ids=input_ids, attention_mask=mask, **writer.decoding.generate_kwargs())
    rows = [row[1:].tolist() for row in output]
    eos = tokenizer.eos_token_id
    return [row[:row.index(eos)] if eos in row else row for row in rows]


def share(a: list, b: list) -> str:
    same = sum(x == y for x, y in zip(a, b, strict=True))
    return f"{same}/{len(a)} ({100 * same / len(a):.0f}%)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-rows", type=int, default=16)
    parser.add_argument("--rows", type=int, default=48, help="scenes compared (the trained rows first)")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load_at_start = os.getloadavg()[0]
    scratch = tempfile.TemporaryDirectory()
    root = Path(scratch.name)

    base = make_tiny_kot5(root / "micro", MICRO_T5)
    rows = fixture_rows(root / "rows", max(args.rows, args.train_rows))
    data = write_dataset(root / "data", rows[:args.train_rows])
    assert cli(["train", str(data), str(root / "model"), "--base", str(base), "--max-steps", str(args.steps),
                "--lr", "5e-3", "--eval-steps", str(args.steps), "--precision", "fp32", "--no-progress",
                "--threads", "1"]) == 0
    scenes = [row.scene(i + 1) for i, row in enumerate(rows[:args.rows])]
    seen = min(args.train_rows, args.rows)

    service = Kot5Decoding()
    plain = replace(service, repetition_penalty=1.0, no_repeat_ngram_size=0)
    parts = load_kot5(str(root / "model"), loading.Placement("cpu", "float32"))
    reference = {name: KoT5Writer(parts, decoding).generate(scenes) for name, decoding in (("service", service),
                                                                                           ("plain", plain))}
    print(f"tiny trained KoT5 ({args.train_rows} rows, {args.steps} steps); {args.rows} scenes, the first {seen} trained on")
    results = {}
    for quantization in ("float32", "int8"):
        out = convert(str(root / "model"), root / f"ct2-{quantization}", quantization)
        ct2_parts = load_kot5_ct2(str(out.out), "cpu", quantization, threads=1)
        for name, decoding in (("service", service), ("plain", plain)):
            dropped = Ct2KoT5Writer(ct2_parts, decoding)
            written = dropped.generate(scenes)
            kept = Ct2KoT5Writer(ct2_parts, decoding, markers="keep").generate(scenes)
            same_source = torch_ids(KoT5Writer(parts, decoding), dropped.encode([dropped.input_text(s) for s in scenes])["input_ids"])
            results[(quantization, name)] = sum(a == b for a, b in zip(written, reference[name]))
            print(f"{quantization:7s} {name:7s} decoding: markers dropped {share(written, reference[name])} "
                  f"[trained rows {share(written[:seen], reference[name][:seen])}, unseen "
                  f"{share(written[seen:], reference[name][seen:]) if seen < len(scenes) else '-'}]; "
                  f"markers kept {share(kept, reference[name])}; same source (engine alone) "
                  f"{share(dropped.generate_ids(scenes), same_source)}", flush=True)

    translator_dir = make_tiny_translator(root / "translator")
    captions = [CAPTIONS[i % len(CAPTIONS)] + ("" if i < len(CAPTIONS) else f" {i}") for i in range(args.rows)]
    torch_translator = HfTranslator(load_seq2seq(str(translator_dir), loading.Placement("cpu", "float32")))
    korean = torch_translator.translate(captions)
    for quantization in ("float32", "int8"):
        out = convert(str(translator_dir), root / f"translator-{quantization}", quantization)
        ct2 = Ct2Translator(load_ct2(str(out.out), "cpu", quantization, "translation model", "-", threads=1))
        print(f"{quantization:7s} tiny random translator (4 beams): {share(ct2.translate(captions), korean)}")
    print(f"torch {torch.__version__}, 1 thread; load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    scratch.cleanup()
    print(f"agreement={results[('float32', 'service')] / len(scenes):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
