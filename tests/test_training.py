"""`talesrunner train`: the service's own inputs, -100 label padding, a loop that learns, resume, fast offline failure."""
from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys

import pytest

from shared.config import Settings
from shared.story_input import SPECIAL_TOKENS, build_input_text
from talesrunner.cli import main
from tests.conftest import REPO
from tests.training_helpers import MICRO_T5, fixture_rows, log_lines, write_dataset
from training.train import TrainOptions, add_markers, collator, features, input_text
from worker.ml import loading
from worker.ml.writer import Kot5Decoding, SceneInput, get_writer, load_kot5

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def micro_t5(tmp_path_factory):
    """A very small KoT5-shaped model (same tokenizer and code path as make-tiny-models)."""
    from worker.ml.tiny import make_tiny_kot5

    return make_tiny_kot5(tmp_path_factory.mktemp("micro") / "kot5", MICRO_T5)


@pytest.fixture
def one_thread():
    """Training runs on one torch thread: on a shared 2-core machine a second thread mostly waits."""
    import torch

    before = torch.get_num_threads()
    yield ["--threads", "1"]
    torch.set_num_threads(before)


def test_training_inputs_are_the_services_inputs_for_the_same_row(tiny_models, tmp_path, fresh_models):
    rows = fixture_rows(tmp_path, 3)
    settings = Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(tiny_models / "kot5"), TALES_DEVICE="cpu")
    writer = get_writer(settings)
    made = features(rows, writer.parts.tokenizer, writer.parts.special_ids, TrainOptions())
    for row, feature in zip(rows, made):
        # The training text is the shared builder's, seeded by the row id ...
        assert input_text(row) == build_input_text({**row.hints, "caption": row.caption}, row.id)
        # ... and its tokens and attention mask are the worker's for the same scene (markers masked).
        scene = SceneInput(index=1, fields=row.hints, caption=row.caption, caption_lang="ko", seed_key=row.id)
        served = writer.encode([writer.input_text(scene)])
        assert feature["input_ids"] == served["input_ids"][0].tolist()
        assert feature["attention_mask"] == served["attention_mask"][0].tolist()
        markers = [i for i, token in enumerate(feature["input_ids"]) if token in writer.parts.special_ids]
        assert markers and all(feature["attention_mask"][i] == 0 for i in markers)
    # A row whose id is the service's own seed key gets exactly the text a book's scene gets.
    row = rows[0]
    service_key_row = type(row)(**{**row.__dict__, "id": row.caption + row.name + row.i_action})
    book_scene = SceneInput(index=1, fields=row.hints, caption=row.caption, caption_lang="ko")
    assert input_text(service_key_row) == writer.input_text(book_scene)


def test_label_padding_is_minus_100_and_inputs_pad_with_the_pad_id(tiny_models, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_models / "kot5")
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_models / "kot5")
    rows = fixture_rows(tmp_path, 2)
    rows[1] = type(rows[1])(**{**rows[1].__dict__, "target": "짧아요."})
    made = features(rows, tokenizer, add_markers(tokenizer, model), TrainOptions())
    batch = collator(tokenizer, model)(made)
    short, long_ = sorted(range(2), key=lambda i: len(made[i]["labels"]))
    length = len(made[short]["labels"])
    assert batch["labels"].shape[1] == len(made[long_]["labels"]) > length
    assert batch["labels"][short, :length].tolist() == made[short]["labels"]
    assert (batch["labels"][short, length:] == -100).all()
    assert tokenizer.pad_token_id not in batch["labels"][short, :length].tolist()
    # The decoder reads the labels shifted right from the start token (pad 0), with pads where labels are -100.
    assert batch["decoder_input_ids"][short, 0] == model.config.decoder_start_token_id


def test_markers_are_added_in_their_fixed_order_and_the_embeddings_grow(tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    from worker.ml.tiny import korean_t5_tokenizer

    tokenizer = korean_t5_tokenizer(markers=False)
    size = len(tokenizer)
    model = T5ForConditionalGeneration(T5Config(vocab_size=size, d_model=16, d_ff=32, d_kv=4, num_layers=1,
                                                num_heads=2, feed_forward_proj="relu"))
    ids = add_markers(tokenizer, model)
    assert list(ids) == list(range(size, size + len(SPECIAL_TOKENS)))
    assert model.get_input_embeddings().num_embeddings == size + 12
    assert add_markers(tokenizer, model) == ids  # a second time changes nothing


def test_a_tiny_model_trained_on_eight_rows_writes_them_back(micro_t5, tmp_path, one_thread, fresh_models):
    rows = fixture_rows(tmp_path, 8)
    data = write_dataset(tmp_path / "data", rows)
    out = tmp_path / "model"
    code = main(["train", str(data), str(out), "--base", str(micro_t5), "--max-steps", "200", "--lr", "5e-3",
                 "--eval-steps", "50", "--precision", "fp32", "--no-progress", *one_thread])
    assert code == 0
    card = json.loads((out / "training_card.json").read_text())
    losses = card["losses"]
    assert losses["final_train_loss"] * 10 <= losses["first_train_loss"], losses
    assert card["steps"] == 200 and card["data"]["rows"] == {"train": 8, "validation": 8}
    assert card["settings"]["lr"] == 5e-3 and card["settings"]["warmup_ratio"] == 0.2
    log = log_lines(out)
    assert [entry["step"] for entry in log if "loss" in entry] == list(range(1, 201))
    assert [entry["step"] for entry in log if "eval_loss" in entry] == [50, 100, 150, 200]

    # The directory is a model the worker loads as TALES_KOT5_DIR, with the service's own decoding.
    writer = get_writer(Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(out), TALES_DEVICE="cpu"))
    assert writer.decoding == Kot5Decoding()
    # The model's own paragraphs (the book plan only shapes the words around them for a book) are
    # its training targets, near enough: the service's decoding (no repeated trigram, repetition
    # penalty 1.5) may block a copy of a few tokens, so exact copies of most rows are asked, and of
    # none before training.
    scenes, targets = [row.scene(i + 1) for i, row in enumerate(rows)], [row.target for row in rows]
    written = writer.generate(scenes)
    assert sum(got == want for got, want in zip(written, targets)) >= 6, written
    assert all(difflib.SequenceMatcher(None, got, want).ratio() >= 0.8 for got, want in zip(written, targets)), written
    untrained = get_writer(Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(micro_t5), TALES_DEVICE="cpu"))
    assert not any(got == want for got, want in zip(untrained.generate(scenes), targets))
    assert "fine-tuned on 8 synthetic fixture rows" in writer.test_model

    # The weights kept are the best checkpoint's: their validation loss is the best one logged.
    import torch

    model = load_kot5(str(out), loading.Placement("cpu", "float32")).model
    batch = collator(writer.parts.tokenizer, model)(features(rows, writer.parts.tokenizer, writer.parts.special_ids,
                                                             TrainOptions()))
    with torch.inference_mode():
        loss = model(**batch).loss.item()
    assert loss == pytest.approx(losses["best_eval_loss"], rel=1e-3)


def test_resume_continues_from_the_last_checkpoint_step(micro_t5, tmp_path, one_thread, capsys):
    data = write_dataset(tmp_path / "data", fixture_rows(tmp_path, 4))
    out = tmp_path / "model"
    flags = ["--base", str(micro_t5), "--eval-steps", "3", "--precision", "fp32", "--no-progress", *one_thread]
    assert main(["train", str(data), str(out), "--resume", *flags]) == 2
    assert "no checkpoint" in capsys.readouterr().err

    assert main(["train", str(data), str(out), "--max-steps", "6", *flags]) == 0
    assert (out / "checkpoints" / "checkpoint-6").is_dir()
    assert main(["train", str(data), str(out), "--max-steps", "9", "--resume", *flags]) == 0
    steps = [entry["step"] for entry in log_lines(out) if "loss" in entry]
    assert steps == list(range(1, 10))  # 1-6 from the first run, 7-9 after resuming: none done twice
    card = json.loads((out / "training_card.json").read_text())
    assert card["steps"] == 9 and (out / "checkpoints" / "checkpoint-9").is_dir()


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("offline", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}],
                         ids=["HF_HUB_OFFLINE", "hub unreachable"])
def test_a_hub_id_without_network_fails_in_seconds_with_a_clear_message(offline, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env.update({"HF_HOME": str(tmp_path / "hf"), **offline})
    # The clock starts after the imports: what is measured is the hub lookup (about a minute of retries before).
    code = ("import time; from worker.ml.writer import load_kot5; from worker.ml.loading import Placement\n"
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer\n"
            "started = time.monotonic()\n"
            "try:\n    load_kot5('wisenut-nlp-team/KoT5-base', Placement('cpu', 'float32'))\n"
            "except Exception as exc:\n    print(type(exc).__name__, round(time.monotonic() - started, 1), exc)\n")
    result = _run(code, env)
    kind, seconds, message = result.stdout.split(" ", 2)
    assert kind == "StageError" and float(seconds) < 10, result.stdout + result.stderr
    assert "not a local directory nor in the Hugging Face cache" in message and "TALES_KOT5_DIR" in message
    assert ("HF_HUB_OFFLINE" in message) if "HF_HUB_OFFLINE" in offline else ("127.0.0.1:9 cannot be reached" in message)
