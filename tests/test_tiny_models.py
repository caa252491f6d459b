"""`talesrunner make-tiny-models`: real architectures and tokenizer classes, built offline."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from shared.config import Settings
from shared.story_input import SPECIAL_TOKENS
from worker.ml.captioner import get_captioner
from worker.ml.translator import get_translator
from worker.ml.writer import SceneInput, get_writer

pytestmark = pytest.mark.models


def _settings(tiny_models, **extra) -> Settings:
    return Settings(
        TALES_CAPTIONER="blip", TALES_WRITER="kot5", TALES_TRANSLATOR="hf", TALES_DEVICE="cpu",
        TALES_BLIP_MODEL=str(tiny_models / "blip"), TALES_KOT5_DIR=str(tiny_models / "kot5"),
        TALES_TRANSLATOR_MODEL=str(tiny_models / "translator"), **extra,
    )


def test_directories_hold_the_real_model_and_tokenizer_classes(tiny_models):
    from transformers import AutoConfig, AutoTokenizer, BlipProcessor

    assert sorted(p.name for p in tiny_models.iterdir()) == ["blip", "illustrator", "kot5", "translator", "vits", "whisper"]
    assert AutoConfig.from_pretrained(tiny_models / "blip").architectures == ["BlipForConditionalGeneration"]
    processor = BlipProcessor.from_pretrained(tiny_models / "blip")
    assert type(processor.image_processor).__name__ == "BlipImageProcessor"
    assert type(processor.tokenizer).__name__ == "BertTokenizerFast"

    kot5 = AutoConfig.from_pretrained(tiny_models / "kot5")
    assert kot5.model_type == "t5" and kot5.feed_forward_proj == "relu"
    assert (kot5.pad_token_id, kot5.eos_token_id, kot5.decoder_start_token_id) == (0, 1, 0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_models / "kot5")
    assert type(tokenizer).__name__ == "T5TokenizerFast"
    assert kot5.vocab_size == len(tokenizer)

    translator = AutoConfig.from_pretrained(tiny_models / "translator")
    assert translator.model_type == "marian"
    assert type(AutoTokenizer.from_pretrained(tiny_models / "translator")).__name__ == "MarianTokenizer"

    vits = AutoConfig.from_pretrained(tiny_models / "vits")
    assert vits.model_type == "vits" and vits.sampling_rate == 16000
    vits_tokenizer = AutoTokenizer.from_pretrained(tiny_models / "vits")
    assert type(vits_tokenizer).__name__ == "VitsTokenizer" and vits_tokenizer.is_uroman
    assert vits.vocab_size == len(vits_tokenizer)


def test_kot5_tokenizer_has_the_twelve_special_tokens_in_spec_order_as_whole_tokens(tiny_models):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_models / "kot5")
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    # Added after the trained vocabulary, one after another in the fixed order (as KoT5's 32100..32111).
    assert ids == list(range(len(tokenizer) - 12, len(tokenizer)))
    pieces = tokenizer.tokenize("<caption> 숲 속의 나비 <name> 나비 <empty>")
    assert "<caption>" in pieces and "<name>" in pieces and "<empty>" in pieces
    # A Korean tokenizer: common syllables never fall back to <unk>.
    encoded = tokenizer("자연탐구 할머니 댁에서 군고구마를 먹었어요").input_ids
    assert tokenizer.unk_token_id not in encoded
    assert tokenizer.decode(encoded, skip_special_tokens=True) == "자연탐구 할머니 댁에서 군고구마를 먹었어요"


def test_generation_configs_keep_outputs_non_empty(tiny_models):
    for name in ("blip", "kot5", "translator"):
        config = json.loads((tiny_models / name / "generation_config.json").read_text())
        assert config["min_new_tokens"] >= 1, name


def test_every_tiny_model_writes_visible_text_through_the_worker_backends(tiny_models, fresh_models):
    settings = _settings(tiny_models)
    images = [Image.new("RGB", (80, 60), (30 * i, 90, 160)) for i in range(3)]
    captions = get_captioner(settings).caption(images)
    assert [c.lang for c in captions] == ["en"] * 3 and all(c.text for c in captions)

    korean = get_translator(settings).translate([c.text for c in captions])
    assert len(korean) == 3 and all(text.strip() for text in korean)

    scenes = [
        SceneInput(index=i + 1, fields={"name": "토끼", "i_action": "뛰다", "classification": "자연탐구"},
                   caption=text, caption_lang="ko")
        for i, text in enumerate(korean)
    ]
    paragraphs = get_writer(settings).write(scenes)
    assert len(paragraphs) == 3 and all(p.strip() for p in paragraphs)


def test_model_files_are_the_same_on_every_run(tiny_models, tmp_path):
    """Seeded weights and deterministic tokenizer training: two runs write identical models."""
    from worker.ml.tiny import make_tiny_models

    make_tiny_models(tmp_path)
    for name, files in {
        "blip": ("model.safetensors", "tokenizer.json"),
        "kot5": ("model.safetensors", "tokenizer.json"),
        "translator": ("model.safetensors", "vocab.json", "source.spm", "target.spm"),
        "vits": ("model.safetensors", "vocab.json"),
    }.items():
        for file in files:
            assert (tmp_path / name / file).read_bytes() == (tiny_models / name / file).read_bytes(), (name, file)


def test_corpus_ships_with_the_package():
    import tomllib

    from tests.helpers import REPO
    from worker.ml.tiny import ENGLISH_TEXT, KOREAN_TEXT

    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "data/*.txt" in package_data["worker.ml"]
    assert len(KOREAN_TEXT.read_text(encoding="utf-8").splitlines()) >= 200
    assert len(ENGLISH_TEXT.read_text(encoding="utf-8").splitlines()) >= 100
