"""The `dataset`, `train` and `evaluate` subcommands of the talesrunner CLI.

Only argparse here; torch, transformers and the metric libraries load inside each command.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _settings(args: argparse.Namespace):  # noqa: ANN202
    """The worker's settings from the environment, with the model flags on top."""
    from shared.config import get_settings

    overrides = {
        "TALES_CAPTIONER": args.captioner, "TALES_BLIP_MODEL": args.blip_model, "TALES_TRANSLATOR": args.translator,
        "TALES_TRANSLATOR_MODEL": args.translator_model, "TALES_DEVICE": getattr(args, "device", None),
        "TALES_BLIP_MAX_NEW_TOKENS": getattr(args, "caption_tokens", None),
        "TALES_KOT5_MAX_LENGTH": getattr(args, "max_length", None),
        "TALES_KOT5_NUM_BEAMS": getattr(args, "num_beams", None),
    }
    settings = get_settings()
    return settings.model_copy(update={key: value for key, value in overrides.items() if value is not None})


def _fixtures(args: argparse.Namespace) -> int:
    from training.fixtures import write_fixtures

    root = write_fixtures(args.directory, rows=args.rows, bad=not args.no_bad, pages_per_book=args.pages_per_book)
    books = -(-args.rows // max(1, args.pages_per_book))
    print(f"wrote {args.rows} synthetic AI Hub pages of {books} books{'' if args.no_bad else ' and 5 bad ones'} to {root}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from training.build import BuildError, build_dataset
    from training.rows import Ratios
    from worker.errors import StageError

    try:
        report = build_dataset(
            Path(args.aihub_dir), Path(args.out), _settings(args), ratios=Ratios.parse(args.split),
            batch_size=args.batch_size, limit=args.limit, allow_no_captions=args.no_captions, recaption=args.recaption,
        )
    except (BuildError, StageError, ValueError) as exc:
        print(f"dataset build: {exc}", file=sys.stderr)
        return 2
    splits = ", ".join(f"{name} {size['pages']} in {size['books']} books" for name, size in report.split_sizes.items())
    bad = ", ".join(f"{reason} {count}" for reason, count in report.bad.items()) or "none"
    print(f"{report.rows} rows of {report.books} books ({splits}) from {report.pages} pages in {report.seconds:.1f} s; "
          f"bad pages: {bad}")
    print(f"captions: {report.captions_made} made, {report.captions_reused} reused "
          f"(captioner {report.captioner}, translator {report.translator})")
    for note in report.notes:
        print(f"note: {note}")
    print(f"wrote {args.out}/train.jsonl, validation.jsonl, test.jsonl and build_report.json")
    return 0


def _train(args: argparse.Namespace) -> int:
    from training.train import TrainError, TrainOptions, train
    from worker.errors import StageError

    options = TrainOptions(
        base=args.base, revision=args.revision or None, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, lr=args.lr, patience=args.patience, eval_steps=args.eval_steps,
        precision=args.precision, device=args.device, group_by_length=not args.no_group_by_length,
        seed=args.seed, resume=args.resume, threads=args.threads,
    )
    try:
        result = train(Path(args.dataset_dir), Path(args.out_dir), options, progress=not args.no_progress)
    except (TrainError, StageError, FileNotFoundError, ValueError) as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 2
    losses = result.card["losses"]
    print(f"trained {result.card['steps']} steps in {result.card['seconds']:.0f} s "
          f"({result.card['settings']['precision']}, {result.card['settings']['device']}); "
          f"train loss {losses['first_train_loss']:.4f} -> {losses['final_train_loss']:.4f}, "
          f"best validation loss {losses['best_eval_loss']:.4f}")
    print(f"model: {result.out_dir} (TALES_KOT5_DIR={result.out_dir.resolve()})")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import EvalOptions, evaluate
    from worker.errors import StageError

    options = EvalOptions(
        split=args.split, writers=tuple(w.strip() for w in args.writer.split(",") if w.strip()), limit=args.limit,
        grid=args.grid, grid_values=args.grid_values, batch_size=args.batch_size,
        bertscore_model=args.bertscore_model, bertscore_layers=args.bertscore_layers, device=args.device,
        select=args.select,
    )
    out = Path(args.out or Path(args.model_dir) / "eval")
    try:
        report = evaluate(Path(args.model_dir), Path(args.dataset_dir), out, _settings(args), options)
    except (StageError, FileNotFoundError, ValueError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"rows": report["rows"], "metrics": report["metrics"], "not_computed": report["not_computed"]},
                     ensure_ascii=False, indent=1))
    print(f"wrote {out}/report.json, report.md and predictions.jsonl")
    return 0


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--captioner", choices=("blip", "openai", "none"), help="default: TALES_CAPTIONER")
    parser.add_argument("--blip-model", help="default: TALES_BLIP_MODEL")
    parser.add_argument("--translator", choices=("hf", "openai", "none"), help="default: TALES_TRANSLATOR")
    parser.add_argument("--translator-model", help="default: TALES_TRANSLATOR_MODEL")
    parser.add_argument("--caption-tokens", type=int, help="BLIP caption length (default: TALES_BLIP_MAX_NEW_TOKENS)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `dataset build|fixtures`, `train` and `evaluate`."""
    from training.train import DEFAULT_BASE, DEFAULT_REVISION, TrainOptions

    dataset = commands.add_parser("dataset", help="build the story model's data set")
    dataset_commands = dataset.add_subparsers(dest="dataset_command", required=True)
    build = dataset_commands.add_parser("build", help="AI Hub folder -> OUT/{train,validation,test}.jsonl")
    build.add_argument("aihub_dir")
    build.add_argument("out")
    build.add_argument("--split", default="8:1:1", help="train:validation:test shares (default %(default)s)")
    build.add_argument("--batch-size", type=int, default=16, help="images per captioning batch")
    build.add_argument("--limit", type=int, help="read at most N pages (a quick look)")
    build.add_argument("--no-captions", action="store_true",
                       help="allow TALES_CAPTIONER=none: rows without captions (not trainable with kot5)")
    build.add_argument("--recaption", action="store_true", help="forget OUT/captions.jsonl and caption every image again")
    build.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: TALES_DEVICE")
    _model_flags(build)
    build.set_defaults(func=_build)
    fixtures = dataset_commands.add_parser("fixtures", help="write a small synthetic AI Hub folder (tests, walkthrough)")
    fixtures.add_argument("directory")
    fixtures.add_argument("--rows", type=int, default=40)
    fixtures.add_argument("--no-bad", action="store_true", help="leave out the five deliberately bad pages")
    fixtures.add_argument("--pages-per-book", type=int, default=1, help="pages that share a book (an ISBN) (default %(default)s)")
    fixtures.set_defaults(func=_fixtures)

    defaults = TrainOptions()
    train = commands.add_parser("train", help="fine-tune KoT5 on a built data set -> a TALES_KOT5_DIR model directory")
    train.add_argument("dataset_dir")
    train.add_argument("out_dir")
    train.add_argument("--base", default=DEFAULT_BASE, help="hub id or directory (default %(default)s)")
    train.add_argument("--revision", default=DEFAULT_REVISION, help="hub revision of --base (default %(default)s)")
    train.add_argument("--epochs", type=float, default=defaults.epochs)
    train.add_argument("--max-steps", type=int, default=defaults.max_steps, help="stop after N optimizer steps")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--lr", type=float, default=defaults.lr)
    train.add_argument("--patience", type=int, default=defaults.patience, help="evaluations without a better validation loss")
    train.add_argument("--eval-steps", type=int, help="steps between evaluations (default: once an epoch, at least 20 in all)")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=defaults.precision)
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default=defaults.device)
    train.add_argument("--no-group-by-length", action="store_true", help="plain shuffled batches")
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT_DIR/checkpoints")
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser("evaluate", help="score a model (and other writers) -> OUT/report.json, report.md")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("dataset_dir")
    evaluate.add_argument("--split", choices=("test", "validation"), default="test")
    evaluate.add_argument("--writer", default="kot5",
                          help="kot5, template or openai; several comma-separated are scored on the same rows")
    evaluate.add_argument("--limit", type=int)
    evaluate.add_argument("--out", help="default MODEL_DIR/eval")
    evaluate.add_argument("--grid", action="store_true", help="also search decoding settings (kot5)")
    evaluate.add_argument("--grid-values", help="e.g. 'num_beams=1,3,5;length_penalty=0.8,1.2'")
    evaluate.add_argument("--select", default="chrf", help="metric that picks the best grid point (default %(default)s)")
    evaluate.add_argument("--batch-size", type=int, default=16, help="rows per generate call")
    evaluate.add_argument("--bertscore-model", default="bert-base-multilingual-cased", help="hub id or directory")
    evaluate.add_argument("--bertscore-layers", type=int, help="hidden layer to use (default: bert_score's for the model)")
    evaluate.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: TALES_DEVICE")
    evaluate.add_argument("--max-length", type=int, help="KoT5 paragraph tokens (default: TALES_KOT5_MAX_LENGTH)")
    evaluate.add_argument("--num-beams", type=int, help="KoT5 beams (default: TALES_KOT5_NUM_BEAMS)")
    evaluate.set_defaults(func=_evaluate, captioner=None, blip_model=None, translator=None, translator_model=None)
