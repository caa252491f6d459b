"""`talesrunner models import CHECKPOINT.pt OUT --base MODEL_DIR`: a training checkpoint -> a model folder."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from shared.config import Settings
from shared.story_input import SPECIAL_TOKENS
from talesrunner.cli import main
from training.importing import CARD_FILE
from worker.ml.writer import SceneInput, get_writer

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def tiny_state(tiny_models) -> dict[str, torch.Tensor]:
    """The tiny KoT5's weights, as the original's training loop would have saved them (model.state_dict())."""
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_models / "kot5")
    return {key: value.clone() for key, value in model.state_dict().items()}


def _saved(state, path, shape: str):
    if shape == "plain":
        checkpoint = state
    elif shape == "model_state_dict":  # the original's kot5_checkpoint_final.pt shape, beside the optimizer's
        checkpoint = {"epoch": 8, "model_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 2.79e-4}]},
                      "val_loss": 0.93}
    elif shape == "state_dict":
        checkpoint = {"state_dict": state, "step": 5000}
    elif shape == "module":  # saved from DataParallel / DDP
        checkpoint = {"model_state_dict": {f"module.{key}": value for key, value in state.items()}}
    else:
        raise AssertionError(shape)
    torch.save(checkpoint, path)
    return path


def _weights(directory):
    from transformers import AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM.from_pretrained(directory).state_dict()


def _scenes():
    fields = {"name": "나비", "i_action": "꽃밭을 날다", "classification": "자연탐구", "setting": "숲"}
    return [SceneInput(index=i, fields=fields, caption=f"숲 속의 나비 {i}", caption_lang="ko") for i in (1, 2)]


@pytest.mark.parametrize("shape", ["plain", "model_state_dict", "state_dict", "module"])
def test_every_checkpoint_shape_imports_with_its_weights_unchanged(shape, tiny_models, tiny_state, tmp_path, capsys):
    checkpoint = _saved(tiny_state, tmp_path / "kot5_checkpoint_final.pt", shape)
    out = tmp_path / "story"
    assert main(["models", "import", str(checkpoint), str(out), "--base", str(tiny_models / "kot5")]) == 0
    assert f"TALES_KOT5_DIR={out.resolve()}" in capsys.readouterr().out
    imported = _weights(out)
    assert imported.keys() == tiny_state.keys()
    unequal = [key for key, value in tiny_state.items() if not torch.equal(imported[key], value)]
    assert not unequal
    card = json.loads((out / CARD_FILE).read_text())
    assert card["tensors"] == len(tiny_state) and len(card["checkpoint_sha256"]) == 64 and not card["markers_added"]
    # config, generation config and tokenizer come from --base
    assert json.loads((out / "generation_config.json").read_text())["suppress_tokens"] == \
        json.loads((tiny_models / "kot5" / "generation_config.json").read_text())["suppress_tokens"]


def test_the_imported_folder_writes_in_the_workers_kot5_writer(tiny_models, tiny_state, tmp_path, fresh_models):
    checkpoint = _saved(tiny_state, tmp_path / "ck.pt", "model_state_dict")
    out = tmp_path / "story"
    assert main(["models", "import", str(checkpoint), str(out), "--base", str(tiny_models / "kot5")]) == 0
    settings = Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(out), TALES_DEVICE="cpu", TALES_KOT5_MAX_LENGTH=16)
    imported = get_writer(settings)
    texts = imported.write(_scenes())
    assert len(texts) == 2 and all(text.strip() for text in texts)
    # The same weights write the same paragraphs as the folder they came from.
    original = get_writer(settings.model_copy(update={"TALES_KOT5_DIR": str(tiny_models / "kot5")}))
    assert imported.generate(_scenes()) == original.generate(_scenes())


def test_a_checkpoint_with_one_of_the_tied_embeddings_fills_the_others(tiny_models, tiny_state, tmp_path, capsys):
    tied = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")
    state = {key: value for key, value in tiny_state.items() if key not in tied}  # only shared.weight
    out = tmp_path / "story"
    assert main(["models", "import", str(_saved(state, tmp_path / "ck.pt", "plain")), str(out),
                 "--base", str(tiny_models / "kot5")]) == 0
    assert "lm_head.weight <- shared.weight" in capsys.readouterr().out
    imported = _weights(out)
    assert all(torch.equal(imported[key], tiny_state["shared.weight"]) for key in tied)


def test_tied_weights_that_differ_are_refused(tiny_models, tiny_state, tmp_path, capsys):
    state = dict(tiny_state, **{"lm_head.weight": tiny_state["lm_head.weight"] + 1})
    out = tmp_path / "story"
    assert main(["models", "import", str(_saved(state, tmp_path / "ck.pt", "plain")), str(out),
                 "--base", str(tiny_models / "kot5")]) == 2
    err = capsys.readouterr().err
    assert "tied weights differ: lm_head.weight vs shared.weight" in err
    assert not out.exists()


def test_a_missing_and_an_unknown_key_fail_naming_them(tiny_models, tiny_state, tmp_path, capsys):
    state = {key: value for key, value in tiny_state.items() if key != "encoder.final_layer_norm.weight"}
    state["encoder.block.9.layer.0.SelfAttention.q.weight"] = torch.zeros(2, 2)
    out = tmp_path / "story"
    assert main(["models", "import", str(_saved(state, tmp_path / "ck.pt", "model_state_dict")), str(out),
                 "--base", str(tiny_models / "kot5")]) == 2
    err = capsys.readouterr().err
    assert "1 key(s) the checkpoint lacks: encoder.final_layer_norm.weight" in err
    assert "1 key(s) the model does not have: encoder.block.9.layer.0.SelfAttention.q.weight" in err
    assert not out.exists()


def test_many_missing_keys_are_named_a_few_then_counted(tiny_models, tiny_state, tmp_path, capsys):
    dropped = sorted(key for key in tiny_state if key.startswith("decoder.block."))
    assert len(dropped) > 8
    state = {key: value for key, value in tiny_state.items() if key not in dropped}
    assert main(["models", "import", str(_saved(state, tmp_path / "ck.pt", "plain")), str(tmp_path / "story"),
                 "--base", str(tiny_models / "kot5")]) == 2
    err = capsys.readouterr().err
    assert f"{len(dropped)} key(s) the checkpoint lacks: {', '.join(dropped[:5])} and {len(dropped) - 5} more" in err


def test_a_base_without_the_markers_gets_them_as_training_adds_them(tiny_models, tiny_state, tmp_path, capsys):
    """The original's base (KoT5-base) has no markers; its checkpoint was trained with 12 more embedding rows."""
    from transformers import AutoConfig, AutoTokenizer

    from worker.ml.tiny import korean_t5_tokenizer

    base = tmp_path / "kot5-base"  # config and tokenizer only: the base's weights are not needed
    tokenizer = korean_t5_tokenizer(markers=False)
    tokenizer.save_pretrained(base)
    config = AutoConfig.from_pretrained(tiny_models / "kot5")
    config.vocab_size = len(tokenizer)
    config.save_pretrained(base)
    assert len(tokenizer) + len(SPECIAL_TOKENS) == tiny_state["shared.weight"].shape[0]

    out = tmp_path / "story"
    assert main(["models", "import", str(_saved(tiny_state, tmp_path / "ck.pt", "model_state_dict")), str(out),
                 "--base", str(base)]) == 0
    assert "the 12 field markers were added" in capsys.readouterr().out
    imported, trained_with = AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(tiny_models / "kot5")
    assert imported.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == trained_with.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    weights = _weights(out)
    assert all(torch.equal(weights[key], value) for key, value in tiny_state.items())
    assert json.loads((out / "config.json").read_text())["vocab_size"] == len(imported)


def test_a_checkpoint_with_pickled_objects_is_not_unpickled(tiny_models, tiny_state, tmp_path, capsys):
    checkpoint = tmp_path / "ck.pt"
    torch.save({"model_state_dict": tiny_state, "args": argparse.Namespace(lr=2.79e-4)}, checkpoint)
    assert main(["models", "import", str(checkpoint), str(tmp_path / "story"), "--base", str(tiny_models / "kot5")]) == 2
    assert "weights_only=True" in capsys.readouterr().err


def test_what_is_not_a_state_dict_is_refused_with_its_keys(tiny_models, tmp_path, capsys):
    checkpoint = tmp_path / "ck.pt"
    torch.save({"weights": {"a": torch.zeros(1)}, "epoch": 3}, checkpoint)
    assert main(["models", "import", str(checkpoint), str(tmp_path / "story"), "--base", str(tiny_models / "kot5")]) == 2
    err = capsys.readouterr().err
    assert "model_state_dict or state_dict" in err and "epoch, weights" in err
