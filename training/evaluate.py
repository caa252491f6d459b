"""`talesrunner evaluate MODEL_DIR DATASET_DIR`: write every row of a split with the worker's writers and score it.

The kot5 writer is the worker's own `KoT5Writer` (batched generate, the service's decoding
settings); each row's input is seeded by its id, as in training. The template and openai writers
write each row as a one-page book. With `--grid` the KoT5 model is also scored over a grid of
decoding settings, as the original searched them. OUT gets report.json, report.md and
predictions.jsonl (and grid/*.jsonl).
"""
from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from shared.config import Settings
from training.metrics import METRICS, ORIGINAL, SCALES, BertScore, Score, score_all
from training.report import render_markdown
from training.rows import DatasetRow, read_rows
from worker.errors import StageError
from worker.ml import loading
from worker.ml.writer import Kot5Decoding, KoT5Writer, OpenAIWriter, TemplateWriter, load_kot5

log = logging.getLogger(__name__)

WRITERS = ("kot5", "template", "openai")
# The decoding settings the grid tries by default; the service's defaults are among them.
DEFAULT_GRID: dict[str, tuple[Any, ...]] = {
    "num_beams": (1, 3, 5),
    "length_penalty": (0.8, 1.2),
    "repetition_penalty": (1.0, 1.5),
}
_GRID_TYPES = {"num_beams": int, "no_repeat_ngram_size": int, "max_length": int,
               "length_penalty": float, "repetition_penalty": float}


@dataclass(frozen=True)
class EvalOptions:
    """What to score and how."""

    split: str = "test"
    writers: tuple[str, ...] = ("kot5",)
    limit: int | None = None
    grid: bool = False
    grid_values: str | None = None
    batch_size: int = 16
    bertscore_model: str = "bert-base-multilingual-cased"
    bertscore_layers: int | None = None
    device: str | None = None
    select: str = "chrf"


def parse_grid(text: str | None) -> dict[str, tuple[Any, ...]]:
    """'num_beams=1,3;length_penalty=0.8,1.0' -> {"num_beams": (1, 3), "length_penalty": (0.8, 1.0)}."""
    if not text:
        return dict(DEFAULT_GRID)
    grid: dict[str, tuple[Any, ...]] = {}
    for part in filter(None, (piece.strip() for piece in text.split(";"))):
        name, _, values = part.partition("=")
        name = name.strip()
        if name not in _GRID_TYPES or not values:
            raise ValueError(f"grid setting {part!r}: use name=v1,v2 with a name from {', '.join(_GRID_TYPES)}")
        grid[name] = tuple(_GRID_TYPES[name](value) for value in values.split(","))
    return grid


def grid_points(base: Kot5Decoding, grid: dict[str, tuple[Any, ...]]) -> list[Kot5Decoding]:
    """Every combination of the grid's values over the base decoding; the base itself first."""
    points = [replace(base, **dict(zip(grid, values))) for values in itertools.product(*grid.values())]
    return [base] + [point for point in points if point != base]


def _label(decoding: Kot5Decoding) -> str:
    return (f"beams{decoding.num_beams}_lp{decoding.length_penalty:g}_rp{decoding.repetition_penalty:g}"
            f"_nr{decoding.no_repeat_ngram_size}")


def write_kot5(writer: KoT5Writer, rows: list[DatasetRow], batch_size: int, progress: bool = True) -> list[str]:
    """Every row through the worker's KoT5Writer, `batch_size` rows per generate call."""
    from tqdm import tqdm

    texts: list[str] = []
    with tqdm(total=len(rows), unit="row", desc=f"kot5 {_label(writer.decoding)}", disable=not progress) as bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            scenes = [row.scene(i + 1) for i, row in enumerate(batch)]
            try:
                texts.extend(writer.write(scenes))
            except StageError as exc:
                if "wrote nothing" not in str(exc):
                    raise
                # An empty paragraph is a (bad) answer to score, not a reason to stop: find which rows.
                texts.extend(_one_by_one(writer, scenes))
            bar.update(len(batch))
    return texts


def _one_by_one(writer: Any, scenes: list) -> list[str]:
    texts = []
    for scene in scenes:
        try:
            texts.append(writer.write([scene])[0])
        except StageError:
            texts.append("")
    return texts


def write_other(writer: Any, rows: list[DatasetRow], progress: bool = True) -> list[str]:
    """Each row as a one-page book through a template or openai writer."""
    from tqdm import tqdm

    return [writer.write([row.scene()])[0] for row in tqdm(rows, unit="row", desc=writer.name, disable=not progress)]


def _kot5(model_dir: Path, settings: Settings) -> KoT5Writer:
    where = loading.placement(settings.TALES_DEVICE, half_safe=False, cpu_dtype=settings.TALES_CPU_DTYPE)
    return KoT5Writer(load_kot5(str(model_dir), where), Kot5Decoding.from_settings(settings))


def _scored(scores: dict[str, Score]) -> dict[str, Any]:
    return {
        "metrics": {name: (None if scores[name].value is None else round(scores[name].value, 4)) for name in METRICS},
        "not_computed": {name: scores[name].not_computed for name in METRICS if scores[name].value is None},
    }


def _predictions(path: Path, rows: list[DatasetRow], texts: list[str], writer: str, kot5: KoT5Writer | None) -> None:
    with path.open("a", encoding="utf-8") as out:
        for row, text in zip(rows, texts, strict=True):
            entry = {"id": row.id, "writer": writer, "prediction": text, "reference": row.target}
            if kot5 is not None:
                entry["input"] = kot5.input_text(row.scene())
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def evaluate(model_dir: Path, dataset_dir: Path, out: Path, settings: Settings, options: EvalOptions = EvalOptions(),
             progress: bool = True) -> dict[str, Any]:
    """Write, score and report; returns what report.json holds."""
    started = time.monotonic()
    unknown = [name for name in options.writers if name not in WRITERS]
    if unknown or not options.writers:
        raise ValueError(f"unknown writer(s) {unknown}: use {', '.join(WRITERS)}")
    if options.select not in METRICS:
        raise ValueError(f"--select must be one of {', '.join(METRICS)}")
    if options.device:
        settings = settings.model_copy(update={"TALES_DEVICE": options.device})
    rows = read_rows(dataset_dir, options.split)[: options.limit]
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions.jsonl").write_text("", encoding="utf-8")
    bertscore = BertScore(options.bertscore_model, options.bertscore_layers,
                          device="cuda" if settings.TALES_DEVICE == "cuda" else "cpu")
    references = [row.target for row in rows]

    kot5 = _kot5(model_dir, settings) if "kot5" in options.writers or options.grid else None
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[str]] = {}
    for name in options.writers:
        began = time.monotonic()
        if name == "kot5":
            texts = write_kot5(kot5, rows, options.batch_size, progress)
        else:
            writer = TemplateWriter() if name == "template" else OpenAIWriter(settings)
            texts = write_other(writer, rows, progress)
        seconds = time.monotonic() - began
        _predictions(out / "predictions.jsonl", rows, texts, name, kot5 if name == "kot5" else None)
        results[name] = {**_scored(score_all(texts, references, bertscore)), "seconds": round(seconds, 2),
                         "rows_per_s": round(len(rows) / seconds, 2) if seconds > 0 else None}
        samples[name] = texts[:5]

    primary = options.writers[0]
    report: dict[str, Any] = {
        "metrics": results[primary]["metrics"],
        "not_computed": results[primary]["not_computed"],
        "rows": len(rows),
        "split": options.split,
        "writer": primary,
        "writers": results,
        "model_dir": str(model_dir),
        "dataset_dir": str(dataset_dir),
        "decoding": asdict(kot5.decoding) if kot5 else None,
        "test_model": kot5.test_model if kot5 else None,
        "original": {"metrics": ORIGINAL, "rows": 5000, "split": "validation",
                     "note": "the original project's published scores (KoT5 fine-tuned on the full AI Hub set)"},
        "scales": SCALES,
        "samples": [{"id": row.id, "reference": row.target, **{name: samples[name][i] for name in samples}}
                    for i, row in enumerate(rows[:5])],
    }
    if options.grid and kot5 is not None:
        report["grid"], report["grid_best"] = _grid(kot5, rows, references, out, options, bertscore, progress)
    report["seconds"] = round(time.monotonic() - started, 2)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def _grid(kot5: KoT5Writer, rows: list[DatasetRow], references: list[str], out: Path, options: EvalOptions,
          bertscore: BertScore, progress: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Score the model at every grid point; the best is the one highest on `options.select`."""
    (out / "grid").mkdir(exist_ok=True)
    base = kot5.decoding
    entries = []
    for decoding in grid_points(base, parse_grid(options.grid_values)):
        writer = KoT5Writer(kot5.parts, decoding)
        began = time.monotonic()
        texts = write_kot5(writer, rows, options.batch_size, progress)
        seconds = time.monotonic() - began
        path = out / "grid" / f"{_label(decoding)}.jsonl"
        path.write_text("", encoding="utf-8")
        _predictions(path, rows, texts, "kot5", None)
        entries.append({"label": _label(decoding), "decoding": asdict(decoding), "default": decoding == base,
                        **_scored(score_all(texts, references, bertscore)), "seconds": round(seconds, 2)})
    ranked = [entry for entry in entries if entry["metrics"][options.select] is not None]
    best = max(ranked, key=lambda entry: entry["metrics"][options.select]) if ranked else None
    return entries, ({"by": options.select, "label": best["label"], "decoding": best["decoding"]} if best else None)
