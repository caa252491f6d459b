"""`talesrunner train DATASET_DIR OUT_DIR`: fine-tune KoT5 on a built data set with transformers' Seq2SeqTrainer.

Inputs are made by the worker's own code (`KoT5Writer.input_text` with the row id as seed key,
`encode_inputs` with attention off on the 12 field markers), so what the model learns from is
exactly what the service feeds it. Labels are the cleaned paragraphs, padded with -100 (the
original padded them with the pad id, so its loss also counted learning to write padding).

Defaults are the original fine-tuning's: AdamW, lr 2.79e-4, linear schedule with 20% warm-up,
8 epochs, batch 8, grad-norm clip 1.0, early stopping after 5 evaluations without a lower
validation loss; the best checkpoint is the one kept. OUT_DIR becomes a model directory the
worker loads as TALES_KOT5_DIR: config, weights, the tokenizer with the markers, plus
`training_card.json` (data, settings, losses), `train_log.jsonl` (loss per step) and
`checkpoints/` (for --resume; delete it to ship the model).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from shared.story_input import SPECIAL_TOKENS
from training.build import REPORT_FILE
from training.rows import DatasetRow, read_rows
from worker.ml import loading
from worker.ml.writer import KoT5Writer, encode_inputs, special_token_ids

DEFAULT_BASE = "wisenut-nlp-team/KoT5-base"
DEFAULT_REVISION = "paraphrase"
LOG_FILE = "train_log.jsonl"
CARD_FILE = "training_card.json"
CHECKPOINTS = "checkpoints"
# A run evaluates (and saves a checkpoint) once an epoch, but at least this many times in all,
# so short runs still have validation losses for early stopping to watch.
MIN_EVALUATIONS = 20


class TrainError(Exception):
    """Training cannot start as asked (the message says what to change)."""


@dataclass(frozen=True)
class TrainOptions:
    """How to fine-tune; the defaults are the original's."""

    base: str = DEFAULT_BASE
    revision: str | None = DEFAULT_REVISION
    epochs: float = 8.0
    max_steps: int = -1
    batch_size: int = 8
    lr: float = 2.79e-4
    warmup_ratio: float = 0.2
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    patience: int = 5
    eval_steps: int | None = None
    max_input_tokens: int = 128
    max_target_tokens: int = 128
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    group_by_length: bool = True
    seed: int = 42
    resume: bool = False
    threads: int = 0  # torch CPU threads; 0 leaves torch's default


@dataclass
class TrainResult:
    """Where the model went and what its card says."""

    out_dir: Path
    card: dict[str, Any] = field(default_factory=dict)


def resolve_precision(options: TrainOptions) -> str:
    """fp32 or bf16: bf16 on GPUs that have it and on CPUs that compute it natively; never fp16 (T5 overflows it)."""
    import torch

    if options.precision != "auto":
        return options.precision
    if options.device != "cpu" and torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if loading.cpu_bf16_native() else "fp32"


def load_base(options: TrainOptions) -> tuple[Any, Any, tuple[int, ...]]:
    """The base tokenizer and model (hub id at a revision, or a directory) with the 12 markers added."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    name = options.base
    revision = None if loading.is_local_dir(name) else options.revision
    tokenizer, model = loading.load_pretrained(
        "base model", name, "--base", loading.Placement("cpu", "float32"),
        lambda offline: (AutoTokenizer.from_pretrained(name, revision=revision, local_files_only=offline),
                         AutoModelForSeq2SeqLM.from_pretrained(name, revision=revision, local_files_only=offline)),
    )
    return tokenizer, model, add_markers(tokenizer, model)


def add_markers(tokenizer: Any, model: Any) -> tuple[int, ...]:
    """Add the 12 field markers in their fixed order (nothing when they are there) and fit the embeddings."""
    # Keep the tokenizer's own additional tokens (T5's <extra_id_*>) rather than replacing them.
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)},
                                 replace_additional_special_tokens=False)
    if model.get_input_embeddings().num_embeddings != len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    ids = special_token_ids(tokenizer, "the base tokenizer")
    if list(ids) != sorted(ids):
        raise TrainError(f"the base tokenizer holds the field markers out of their fixed order: {dict(zip(SPECIAL_TOKENS, ids))}")
    return ids


def input_text(row: DatasetRow) -> str:
    """The model input for a row: the worker's own builder, seeded by the row id."""
    return KoT5Writer.input_text(row.scene())


def features(
    rows: list[DatasetRow], tokenizer: Any, special_ids: tuple[int, ...], options: TrainOptions
) -> list[dict[str, list[int]]]:
    """Unpadded input ids, attention masks (off on the markers) and label ids; the collator pads each batch."""
    result = []
    for row in rows:
        encoded = encode_inputs(tokenizer, [input_text(row)], special_ids, options.max_input_tokens)
        labels = tokenizer(text_target=row.target, max_length=options.max_target_tokens, truncation=True)["input_ids"]
        result.append({
            "input_ids": encoded["input_ids"][0].tolist(),
            "attention_mask": encoded["attention_mask"][0].tolist(),
            "labels": labels,
        })
    return result


def collator(tokenizer: Any, model: Any) -> Any:
    """Pads each batch to its longest row; label padding is -100, which the loss ignores."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, padding="longest")


def _callbacks(log_path: Path, append: bool, progress: bool) -> tuple[Any, Any]:
    from transformers import ProgressCallback, TrainerCallback

    class LossLog(TrainerCallback):
        """One JSON line per logged step (training loss, learning rate, grad norm) and per evaluation."""

        def __init__(self) -> None:
            if not append:
                log_path.write_text("", encoding="utf-8")

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            kept = {k: v for k, v in (logs or {}).items() if k in ("loss", "eval_loss", "learning_rate", "grad_norm")}
            if kept and state.is_world_process_zero:
                with log_path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), **kept}) + "\n")

    class QuietProgress(ProgressCallback):
        """The progress bar with the loss beside it, without a printed line for every step."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if not state.is_world_process_zero or self.training_bar is None or not logs:
                return
            if "loss" in logs:
                self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
            if "eval_loss" in logs:
                self.training_bar.write(f"step {state.global_step}: validation loss {logs['eval_loss']:.4f}")

    return LossLog(), (QuietProgress() if progress else None)


def _schedule(train_rows: int, options: TrainOptions) -> tuple[int, int]:
    """(planned optimizer steps, steps between evaluations)."""
    per_epoch = max(1, math.ceil(train_rows / options.batch_size))
    total = options.max_steps if options.max_steps > 0 else math.ceil(options.epochs * per_epoch)
    every = options.eval_steps or max(1, min(per_epoch, math.ceil(total / MIN_EVALUATIONS)))
    return total, every


def train(dataset_dir: Path, out_dir: Path, options: TrainOptions = TrainOptions(), progress: bool = True) -> TrainResult:
    """Fine-tune, keep the best checkpoint by validation loss, and write OUT_DIR as a worker-loadable model."""
    from transformers import EarlyStoppingCallback, PrinterCallback, ProgressCallback, Seq2SeqTrainer, Seq2SeqTrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    started = time.monotonic()
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    train_rows, validation_rows = read_rows(dataset_dir, "train"), read_rows(dataset_dir, "validation")
    _check_rows(dataset_dir, train_rows, validation_rows)
    checkpoints = out_dir / CHECKPOINTS
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if options.resume and last is None:
        raise TrainError(f"--resume: there is no checkpoint in {checkpoints}; run without --resume to start")
    out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer, model, special_ids = load_base(options)
    train_set = features(train_rows, tokenizer, special_ids, options)
    validation_set = features(validation_rows, tokenizer, special_ids, options)
    total_steps, eval_every = _schedule(len(train_set), options)
    precision = resolve_precision(options)
    use_cpu = options.device == "cpu" or not _cuda()
    args = Seq2SeqTrainingArguments(
        output_dir=str(checkpoints), per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size, learning_rate=options.lr, num_train_epochs=options.epochs,
        max_steps=options.max_steps, lr_scheduler_type="linear", warmup_ratio=options.warmup_ratio,
        optim="adamw_torch", weight_decay=options.weight_decay, max_grad_norm=options.max_grad_norm,
        eval_strategy="steps", eval_steps=eval_every, save_strategy="steps", save_steps=eval_every,
        save_total_limit=2, load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False,
        logging_strategy="steps", logging_steps=1, report_to=[], bf16=precision == "bf16", use_cpu=use_cpu,
        group_by_length=options.group_by_length, seed=options.seed, data_seed=options.seed,
        dataloader_num_workers=0, disable_tqdm=False, predict_with_generate=False,
    )
    loss_log, progress_bar = _callbacks(out_dir / LOG_FILE, append=options.resume, progress=progress)
    trainer = Seq2SeqTrainer(
        model=model, args=args, train_dataset=train_set, eval_dataset=validation_set,
        data_collator=collator(tokenizer, model), processing_class=tokenizer,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=options.patience), loss_log],
    )
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if progress_bar is not None:
        trainer.add_callback(progress_bar)
    trainer.train(resume_from_checkpoint=last if options.resume else None)

    note = _test_model_note(model, dataset_dir, len(train_set))
    if note:
        setattr(model.config, loading.TEST_MODEL_KEY, note)
    elif hasattr(model.config, loading.TEST_MODEL_KEY):
        delattr(model.config, loading.TEST_MODEL_KEY)
    trainer.save_model(str(out_dir))  # the best checkpoint's weights (load_best_model_at_end)
    tokenizer.save_pretrained(str(out_dir))
    card = _card(trainer, options, dataset_dir, train_set, validation_set, precision, use_cpu, total_steps,
                 eval_every, note, time.monotonic() - started)
    (out_dir / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return TrainResult(out_dir=out_dir, card=card)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _check_rows(dataset_dir: Path, train_rows: list[DatasetRow], validation_rows: list[DatasetRow]) -> None:
    uncaptioned = [row.id for row in train_rows + validation_rows if not row.caption.strip()]
    if uncaptioned:
        raise TrainError(f"{len(uncaptioned)} row(s) have no caption (e.g. {uncaptioned[0]}): the KoT5 input starts with "
                         "the caption; build the data set with a captioner (TALES_CAPTIONER=blip)")
    if not train_rows:
        raise TrainError(f"{dataset_dir}/train.jsonl has no rows")
    if not validation_rows:
        raise TrainError(f"{dataset_dir}/validation.jsonl has no rows: early stopping and the best checkpoint need a "
                         "validation split (build with --split 8:1:1)")


def _test_model_note(model: Any, dataset_dir: Path, rows: int) -> str | None:
    """A note for books written by this model when its base was a test model or its data made up."""
    base_note = getattr(model.config, loading.TEST_MODEL_KEY, None)
    synthetic = _build_report(dataset_dir).get("synthetic_fixtures", False)
    if not base_note and not synthetic:
        return None
    parts = [f"base: {base_note}"] if base_note else []
    parts.append(f"fine-tuned on {rows} {'synthetic fixture' if synthetic else 'training'} rows")
    return "; ".join(parts)


def _build_report(dataset_dir: Path) -> dict[str, Any]:
    path = dataset_dir / REPORT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _losses(history: list[dict[str, Any]]) -> dict[str, float | None]:
    train = [entry["loss"] for entry in history if "loss" in entry]
    evals = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
    return {
        "first_train_loss": train[0] if train else None,
        "final_train_loss": train[-1] if train else None,
        "best_eval_loss": min(evals) if evals else None,
        "final_eval_loss": evals[-1] if evals else None,
    }


def _card(trainer: Any, options: TrainOptions, dataset_dir: Path, train_set: list, validation_set: list, precision: str,
          use_cpu: bool, total_steps: int, eval_every: int, note: str | None, seconds: float) -> dict[str, Any]:
    """training_card.json: what the model was trained from, how, and how far its loss went."""
    import torch
    import transformers

    state = trainer.state
    build = _build_report(dataset_dir)
    return {
        "made_by": "talesrunner train",
        "base": options.base,
        "revision": None if loading.is_local_dir(options.base) else options.revision,
        "data": {
            "dir": str(dataset_dir.resolve()),
            "rows": {"train": len(train_set), "validation": len(validation_set)},
            "target_tokens": {"train": sum(len(f["labels"]) for f in train_set)},
            **{key: build[key] for key in ("source", "captioner", "translator", "synthetic_fixtures") if key in build},
        },
        "input": "build_input_text(row, seed_key=row id), attention off on the 12 field markers; labels padded with -100",
        "settings": {**asdict(options), "precision": precision, "device": "cpu" if use_cpu else "cuda",
                     "planned_steps": total_steps, "eval_every_steps": eval_every},
        "losses": _losses(state.log_history),
        "steps": state.global_step,
        "epochs": round(state.epoch or 0.0, 4),
        "stopped_early": state.global_step < total_steps,
        "best_checkpoint": Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
        "test_model": note,
        "seconds": round(seconds, 1),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
