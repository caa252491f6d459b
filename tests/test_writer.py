"""The KoT5 writer on the tiny model: seed-exact input, masked special tokens, one batched generate."""
from __future__ import annotations

import pytest

from shared.config import Settings
from shared.story_input import SPECIAL_TOKENS, build_input_text, service_seed_key
from worker.errors import StageError
from worker.ml import loading
from worker.ml.writer import SceneInput, TemplateWriter, get_writer, special_token_ids

pytestmark = pytest.mark.models


def _settings(tiny_models, **extra) -> Settings:
    return Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(tiny_models / "kot5"), TALES_DEVICE="cpu", **extra)


def _scenes(count: int = 4, **fields: str) -> list[SceneInput]:
    base = {"name": "나비", "i_action": "꽃밭을 날다", "classification": "자연탐구", "setting": "숲, 꽃밭", "feeling": "즐겁다"}
    return [
        SceneInput(index=i + 1, fields={**base, **fields}, caption=f"숲 속의 나비 {i + 1}", caption_lang="ko")
        for i in range(count)
    ]


class GenerateSpy:
    """Wraps model.generate to count calls and keep what each call was given."""

    def __init__(self, model):
        self.model, self.original, self.calls = model, model.generate, []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        return self.original(*args, **kwargs)


@pytest.fixture
def writer(tiny_models, fresh_models, monkeypatch):
    writer = get_writer(_settings(tiny_models))
    spy = GenerateSpy(writer.parts.model)
    monkeypatch.setattr(writer.parts.model, "generate", spy)
    writer.spy = spy
    return writer


def test_all_scenes_of_a_book_go_through_one_generate_call(writer):
    texts = writer.write(_scenes(6))
    assert len(writer.spy.calls) == 1
    assert writer.spy.calls[0]["input_ids"].shape[0] == 6
    assert len(texts) == 6 and all(text.strip() for text in texts)


def test_input_text_is_the_training_format_with_the_service_seed_key(writer):
    scene = _scenes(1, character="다람쥐, 토끼")[0]
    expected = build_input_text(
        {**scene.fields, "caption": scene.caption}, service_seed_key(scene.caption, "나비", "꽃밭을 날다")
    )
    assert writer.input_text(scene) == expected
    assert expected.startswith("generate: ") and "<character> 다람쥐" in expected and "<prediction> <empty>" in expected


def test_attention_mask_is_zero_exactly_on_the_special_tokens(writer):
    batch = writer.encode([writer.input_text(scene) for scene in _scenes(3)])
    special = set(special_token_ids(writer.parts.tokenizer))
    pad = writer.parts.tokenizer.pad_token_id
    seen_special = 0
    for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist()):
        for token, attend in zip(ids, mask):
            if token in special:
                seen_special += 1
                assert attend == 0
            elif token != pad:
                assert attend == 1
    assert seen_special >= 3 * 11  # every scene has at least the 4 required + 7 optional markers


def test_the_mask_reaches_generate(writer):
    import torch

    writer.write(_scenes(2))
    call = writer.spy.calls[0]
    special = torch.tensor(special_token_ids(writer.parts.tokenizer))
    on_special = call["attention_mask"][torch.isin(call["input_ids"], special)]
    assert on_special.numel() > 0 and int(on_special.sum()) == 0


def test_special_token_ids_follow_spec_order(writer):
    ids = special_token_ids(writer.parts.tokenizer)
    assert list(ids) == sorted(ids) and len(set(ids)) == len(SPECIAL_TOKENS) == 12


def test_decoding_defaults_are_the_seed_parameters(writer):
    writer.write(_scenes(1))
    call = writer.spy.calls[0]
    assert {k: call[k] for k in ("max_length", "num_beams", "length_penalty", "repetition_penalty",
                                 "no_repeat_ngram_size", "early_stopping")} == {
        "max_length": 128, "num_beams": 3, "length_penalty": 0.8, "repetition_penalty": 1.5,
        "no_repeat_ngram_size": 3, "early_stopping": True,
    }
    assert "do_sample" not in call


def test_decoding_is_configurable(tiny_models, fresh_models, monkeypatch):
    writer = get_writer(_settings(tiny_models, TALES_KOT5_NUM_BEAMS=2, TALES_KOT5_MAX_LENGTH=24))
    spy = GenerateSpy(writer.parts.model)
    monkeypatch.setattr(writer.parts.model, "generate", spy)
    writer.write(_scenes(2))
    assert spy.calls[0]["num_beams"] == 2 and spy.calls[0]["max_length"] == 24


def test_inputs_are_cut_at_128_tokens(writer):
    long_hint = ", ".join(f"아주 긴 힌트 {i}" for i in range(80))
    batch = writer.encode([writer.input_text(_scenes(1, action=long_hint)[0])])
    assert batch["input_ids"].shape[1] == 128


def test_a_missing_caption_is_a_clear_error(writer):
    scene = SceneInput(index=2, fields={"name": "나비", "i_action": "날다", "classification": "자연탐구"}, caption=None)
    with pytest.raises(StageError, match=r"장면 2.*caption"):
        writer.write([scene])
    assert writer.spy.calls == []


def test_a_blank_required_hint_is_a_clear_error(writer):
    with pytest.raises(StageError, match=r"장면 1.*i_action"):
        writer.write(_scenes(1, i_action="  "))


def test_a_tokenizer_without_the_special_tokens_is_refused(tiny_models):
    from transformers import AutoTokenizer

    plain = AutoTokenizer.from_pretrained(tiny_models / "translator")
    with pytest.raises(StageError, match="lacks the special tokens <caption>"):
        special_token_ids(plain)


def test_same_book_same_paragraphs(writer):
    assert writer.write(_scenes(2)) == writer.write(_scenes(2))


def test_a_page_written_again_is_sampled_not_the_beam_search_answer(writer):
    scene = _scenes(1)[0]
    again = SceneInput(index=1, fields=scene.fields, caption=scene.caption, caption_lang="ko", neighbours={2: "다음 장"})
    writer.write([again])
    assert writer.spy.calls[0]["do_sample"] is True


def test_model_loads_once_per_process_and_is_reused(tiny_models, fresh_models):
    first = get_writer(_settings(tiny_models))
    second = get_writer(_settings(tiny_models, TALES_KOT5_NUM_BEAMS=2))  # decoding is not part of the model
    assert first.parts is second.parts
    assert list(loading.load_counts.values()) == [1]
    first.write(_scenes(1))
    second.write(_scenes(1))
    assert list(loading.load_counts.values()) == [1]


def test_another_directory_is_another_model(tiny_models, fresh_models, tmp_path):
    import shutil

    shutil.copytree(tiny_models / "kot5", tmp_path / "kot5")
    first = get_writer(_settings(tiny_models))
    other = get_writer(Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(tmp_path / "kot5"), TALES_DEVICE="cpu"))
    assert first.parts is not other.parts and len(loading.load_counts) == 2


def test_a_missing_model_directory_names_the_setting(tmp_path, fresh_models):
    with pytest.raises(StageError, match="TALES_KOT5_DIR"):
        get_writer(Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(tmp_path / "nowhere"), TALES_DEVICE="cpu"))
    assert loading.load_counts == {}  # a failed load is not cached: the next book tries again


def test_device_auto_is_cpu_without_cuda_and_cuda_is_refused(monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr(loading, "cpu_bf16_native", lambda: False)
    assert loading.placement("auto") == loading.Placement("cpu", "float32")
    assert loading.placement("cpu", cpu_dtype="bfloat16") == loading.Placement("cpu", "bfloat16")
    monkeypatch.setattr(loading, "cpu_bf16_native", lambda: True)
    assert loading.placement("cpu") == loading.Placement("cpu", "bfloat16")
    assert loading.placement("auto", cpu_dtype="float32") == loading.Placement("cpu", "float32")
    with pytest.raises(RuntimeError, match="TALES_DEVICE=cuda"):
        loading.placement("cuda")


@pytest.mark.parametrize("bf16, half_safe, dtype", [(True, True, "bfloat16"), (False, True, "float16"),
                                                     (True, False, "bfloat16"), (False, False, "float32")])
def test_cuda_runs_half_precision_where_the_model_allows(monkeypatch, bf16, half_safe, dtype):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert loading.placement("auto", half_safe=half_safe) == loading.Placement("cuda", dtype)


def test_template_writer_is_still_the_default():
    assert isinstance(get_writer(Settings()), TemplateWriter)


def test_the_plan_shapes_the_models_paragraphs_but_never_its_input(writer):
    from worker.ml.writer import make_plan

    scenes = _scenes(3)
    plan = make_plan(scenes, age="유아")
    inputs = [writer.input_text(scene) for scene in scenes]
    raw = writer.generate(scenes)
    draft = writer.write_book(scenes, plan)
    assert draft.texts == [plan.shape(scene.index, text) for scene, text in zip(scenes, raw)]
    assert all(text.startswith(plan.connectives[i + 1]) or text == " ".join(r.split()) for i, (text, r) in enumerate(zip(draft.texts, raw)))
    assert draft.title == plan.title == make_plan(scenes).title
    assert [writer.input_text(scene) for scene in scenes] == inputs  # the trained input format is untouched
    assert writer.spy.calls[-1]["input_ids"].shape[0] == 3 and "do_sample" not in writer.spy.calls[-1]


def test_a_page_written_again_for_safety_is_sampled(writer):
    import dataclasses

    writer.write([dataclasses.replace(_scenes(1)[0], again=True)])
    assert writer.spy.calls[0]["do_sample"] is True
