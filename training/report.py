"""report.md: the evaluation's numbers as tables a person reads, beside the original's."""
from __future__ import annotations

from typing import Any

from training.metrics import METRICS, ORIGINAL, SCALES

NAMES = {"bleu": "BLEU", "chrf": "chrF", "rouge_l": "ROUGE-L", "meteor": "METEOR", "cider": "CIDEr-D",
         "bertscore_f1": "BERTScore F1", "spice": "SPICE"}


def _cell(value: float | None) -> str:
    return "not computed" if value is None else f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"


def _metrics_table(writers: dict[str, dict[str, Any]]) -> list[str]:
    names = list(writers)
    lines = [
        "| metric | scale | " + " | ".join(names) + " | original (5,000 validation rows) |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " | --- |",
    ]
    for metric in METRICS:
        cells = [_cell(writers[name]["metrics"][metric]) for name in names]
        original = ORIGINAL.get(metric)
        lines.append(f"| {NAMES[metric]} | {SCALES[metric]} | " + " | ".join(cells)
                     + f" | {original if original is not None else '—'} |")
    return lines


def _reasons(writers: dict[str, dict[str, Any]]) -> list[str]:
    seen: dict[str, str] = {}
    for result in writers.values():
        for metric, reason in result["not_computed"].items():
            seen.setdefault(metric, reason)
    return [f"- {NAMES[metric]}: {reason}" for metric, reason in seen.items()]


def _grid(report: dict[str, Any]) -> list[str]:
    best = (report.get("grid_best") or {}).get("label")
    lines = ["", "## Decoding grid (kot5)", "",
             "| beams | length penalty | repetition penalty | no-repeat n-gram | "
             + " | ".join(NAMES[m] for m in METRICS) + " | s |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in METRICS) + " | --- |"]
    for entry in report["grid"]:
        d = entry["decoding"]
        mark = " (default)" if entry["default"] else ""
        mark += " **best**" if entry["label"] == best else ""
        lines.append(f"| {d['num_beams']}{mark} | {d['length_penalty']} | {d['repetition_penalty']} | "
                     f"{d['no_repeat_ngram_size']} | " + " | ".join(_cell(entry["metrics"][m]) for m in METRICS)
                     + f" | {entry['seconds']} |")
    if best:
        lines += ["", f"Best by {report['grid_best']['by']}: `{best}`."]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    writers = report["writers"]
    lines = [
        f"# Story model evaluation: {report['rows']} {report['split']} rows",
        "",
        f"Model: `{report['model_dir']}`; data: `{report['dataset_dir']}`.",
    ]
    if report.get("test_model"):
        lines += ["", f"**Test model** ({report['test_model']}): these numbers show that the code runs, "
                      "not how good a story model is."]
    if report.get("decoding"):
        d = report["decoding"]
        lines += ["", f"KoT5 decoding: beams {d['num_beams']}, length penalty {d['length_penalty']}, repetition penalty "
                      f"{d['repetition_penalty']}, no-repeat n-gram {d['no_repeat_ngram_size']}, max length {d['max_length']}."]
    lines += ["", *_metrics_table(writers), ""]
    speed = ", ".join(f"{name} {result['rows_per_s']} rows/s" for name, result in writers.items() if result.get("rows_per_s"))
    if speed:
        lines += [f"Writing speed: {speed}.", ""]
    reasons = _reasons(writers)
    if reasons:
        lines += ["Not computed:", "", *reasons, ""]
    lines += ["The original's figures are its published scores on its own 5,000 validation rows; they compare with "
              "these only for a model trained and scored on the full AI Hub data."]
    if report.get("grid"):
        lines += _grid(report)
    if report.get("samples"):
        lines += ["", "## First rows", ""]
        for sample in report["samples"]:
            lines.append(f"- `{sample['id']}`")
            lines.append(f"  - reference: {sample['reference']}")
            for name in writers:
                lines.append(f"  - {name}: {sample.get(name, '')}")
    return "\n".join(lines) + "\n"
