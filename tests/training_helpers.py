"""Builders shared by the training tests: model flags for the CLI, made-up rows, a micro T5."""
from __future__ import annotations

import json
from pathlib import Path

from training import aihub
from training.fixtures import write_fixtures
from training.rows import DatasetRow, clean_target, write_rows

# A T5 small enough to memorise eight rows in a few hundred CPU steps (tiny.py's own shape takes longer).
MICRO_T5 = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 4,
            "dropout_rate": 0.0}


def caption_flags(tiny_models: Path, translator: str = "hf") -> list[str]:
    """`dataset build` flags that caption with the tiny BLIP (and translate with the tiny Marian)."""
    return ["--captioner", "blip", "--blip-model", str(tiny_models / "blip"), "--translator", translator,
            "--translator-model", str(tiny_models / "translator"), "--device", "cpu", "--caption-tokens", "8"]


def fixture_rows(directory: Path, count: int) -> list[DatasetRow]:
    """Rows made straight from the synthetic pages, with short hand-written captions (no captioner)."""
    root = write_fixtures(directory / "aihub", rows=count, bad=False)
    pages = [item for item in aihub.scan(root) if isinstance(item, aihub.Page)]
    rows = []
    for number, page in enumerate(pages):
        target = clean_target(page.src_text).split(". ")[0] + "."  # one sentence: quick to learn
        rows.append(DatasetRow(
            id=page.id, age_band=page.age_band, caption=f"아이가 {page.optional['setting']}에서 놀고 있다",
            caption_lang="ko", caption_en=None, caption_source="test", name=page.name, i_action=page.i_action,
            classification=page.classification, target=target, image=page.image.name, **page.optional,
        ))
        assert number < count
    return rows


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
