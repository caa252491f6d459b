"""Builders shared by the training tests: model flags for the CLI, made-up rows, a micro T5."""
from __future__ import annotations

import json
from pathlib import Path

from training.fixtures import fixture_rows  # noqa: F401 - the tests take it from here
from training.rows import DatasetRow, write_rows

# A T5 small enough to memorise eight rows in a few hundred CPU steps (tiny.py's own shape takes longer).
MICRO_T5 = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 4,
            "dropout_rate": 0.0}


def caption_flags(tiny_models: Path, translator: str = "hf") -> list[str]:
    """`dataset build` flags that caption with the tiny BLIP (and translate with the tiny Marian)."""
    return ["--captioner", "blip", "--blip-model", str(tiny_models / "blip"), "--translator", translator,
            "--translator-model", str(tiny_models / "translator"), "--device", "cpu", "--caption-tokens", "8"]


def write_dataset(directory: Path, train: list[DatasetRow], validation: list[DatasetRow] | None = None,
                  test: list[DatasetRow] | None = None) -> Path:
    """A data set folder as `dataset build` writes it."""
    directory.mkdir(parents=True, exist_ok=True)
    write_rows(directory / "train.jsonl", train)
    write_rows(directory / "validation.jsonl", validation if validation is not None else train)
    write_rows(directory / "test.jsonl", test if test is not None else train)
    (directory / "build_report.json").write_text(json.dumps({"synthetic_fixtures": True}), encoding="utf-8")
    return directory


def log_lines(model_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (model_dir / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]
