"""build -> train -> evaluate through the CLI, then a real worker writes a book with the trained model."""
from __future__ import annotations

import json

import pytest

from talesrunner.cli import main
from tests.helpers import sample_form
from tests.training_helpers import caption_flags
from tests.web_helpers import ApiActions, wait_for
from training.fixtures import write_fixtures
from training.metrics import METRICS

pytestmark = [pytest.mark.e2e, pytest.mark.models]


@pytest.fixture(scope="module")
def trained(tiny_models, tmp_path_factory):
    """A KoT5 directory trained by `talesrunner train` on a data set built by `talesrunner dataset build`."""
    root = tmp_path_factory.mktemp("walkthrough")
    aihub = write_fixtures(root / "aihub", rows=6, bad=False)
    assert main(["dataset", "build", str(aihub), str(root / "data"), *caption_flags(tiny_models, translator="none")]) == 0
    assert main(["train", str(root / "data"), str(root / "model"), "--base", str(tiny_models / "kot5"),
                 "--max-steps", "6", "--eval-steps", "3", "--no-progress"]) == 0
    return root


def test_evaluate_scores_the_trained_model_and_the_template_writer_on_the_same_rows(trained):
    out = trained / "eval"
    assert main(["evaluate", str(trained / "model"), str(trained / "data"), "--split", "validation",
                 "--writer", "kot5,template", "--out", str(out), "--grid", "--grid-values", "num_beams=1,3",
                 "--max-length", "24"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["metrics"]) == set(METRICS)
    assert report["rows"] == len((trained / "data" / "validation.jsonl").read_text().splitlines()) > 0
    for name in ("kot5", "template"):
        result = report["writers"][name]
        for metric, value in result["metrics"].items():
            assert isinstance(value, float) or (value is None and result["not_computed"][metric]), (name, metric)
    assert report["metrics"] == report["writers"]["kot5"]["metrics"]
    assert report["writers"]["template"]["metrics"]["chrf"] > 0
    assert report["original"]["metrics"] == {"bertscore_f1": 0.807, "meteor": 0.346, "cider": 0.976, "spice": 0.192}
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 2 * report["rows"] and all(p["reference"] for p in predictions)
    assert {p["writer"] for p in predictions} == {"kot5", "template"}
    assert [entry["decoding"]["num_beams"] for entry in report["grid"]] == [3, 1]  # the service's default first
    assert len(list((out / "grid").glob("*.jsonl"))) == 2
    markdown = (out / "report.md").read_text()
    assert "| METEOR | 0-1 |" in markdown and "0.346" in markdown and "Test model" in markdown


@pytest.fixture(scope="module")
def trained_worker(worker_with, tiny_models, trained, tmp_path_factory):
    return worker_with(
        DATA_DIR=str(tmp_path_factory.mktemp("trained-data")),
        TALES_CAPTIONER="blip", TALES_WRITER="kot5", TALES_TRANSLATOR="hf", TALES_DEVICE="cpu",
        TALES_BLIP_MODEL=str(tiny_models / "blip"), TALES_KOT5_DIR=str(trained / "model"),
        TALES_TRANSLATOR_MODEL=str(tiny_models / "translator"), TALES_SUGGESTER="kiwi",
        TALES_BLIP_MAX_NEW_TOKENS="8", TALES_KOT5_MAX_LENGTH="32",
    ).env


def test_the_trained_directory_writes_a_book_through_a_real_worker(trained_worker, db):
    from web import create_app

    client = create_app(dict(trained_worker)).test_client()
    headers = ApiActions(client).user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    assert created.status_code == 202
    book = wait_for(client, headers, created.json["url"], {"done", "failed"}, timeout=180)
    assert book["status"] == "done", book["error"]
    assert all(scene["text_source"] == "kot5" and scene["text"] for scene in book["scenes"])
    # Made by test models, and the book says so (the operator detail in parentheses).
    assert any("written by a test model" in note and "fine-tuned on" in note for note in book["notes"])
    assert any("captions by a test model" in note for note in book["notes"])
