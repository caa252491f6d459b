"""KoT5 and the translator on CTranslate2: `talesrunner models convert`, detection, the same decoding,
one translate_batch per book, a book through the pipeline stages and through a real worker."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from shared.config import Settings
from shared.db import session_factory
from shared.models import Book
from shared.status import BookStatus
from shared.storage import LocalStorage
from talesrunner.cli import main
from tests.helpers import sample_form
from tests.web_helpers import ApiActions, wait_for
from worker import pipeline
from worker.ml import loading
from worker.ml.ctranslate import Ct2KoT5Writer, Ct2Translator, decoding_options, is_ct2_dir, load_kot5_ct2
from worker.ml.translator import get_translator
from worker.ml.writer import Kot5Decoding, KoT5Writer, SceneInput, get_writer, load_kot5

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def ct2_models(tiny_models, tmp_path_factory):
    """The tiny KoT5 and translator converted through the CLI (int8, the default)."""
    out = tmp_path_factory.mktemp("ct2")
    for name in ("kot5", "translator"):
        assert main(["models", "convert", str(tiny_models / name), str(out / name)]) == 0
    return out


def _settings(tiny_models, ct2_models, **extra) -> Settings:
    return Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(ct2_models / "kot5"), TALES_CAPTIONER="blip",
                    TALES_BLIP_MODEL=str(tiny_models / "blip"), TALES_TRANSLATOR="hf",
                    TALES_TRANSLATOR_MODEL=str(ct2_models / "translator"), TALES_DEVICE="cpu", **extra)


def _scenes(count: int = 4, **extra) -> list[SceneInput]:
    base = {"name": "나비", "i_action": "꽃밭을 날다", "classification": "자연탐구", "setting": "숲, 꽃밭", "feeling": "즐겁다"}
    return [SceneInput(index=i + 1, fields=base, caption=f"숲 속의 나비 {i + 1}", caption_lang="ko", **extra)
            for i in range(count)]


class BatchSpy:
    """Stands in for a ctranslate2.Translator: counts translate_batch calls and keeps what each was given."""

    def __init__(self, translator):
        self.translator, self.calls = translator, []

    def translate_batch(self, source, **options):
        self.calls.append((source, options))
        return self.translator.translate_batch(source, **options)


def test_convert_writes_the_weights_beside_the_tokenizer_and_generation_settings(tiny_models, ct2_models, capsys):
    from transformers import AutoTokenizer

    for name in ("kot5", "translator"):
        out = ct2_models / name
        assert (out / "model.bin").is_file() and is_ct2_dir(out)
        # The tokenizer the worker loads is the one saved with the model: the same ids for the same text.
        text = "<caption> 숲 속의 나비 <name> 나비" if name == "kot5" else "a child plays in the park"
        assert AutoTokenizer.from_pretrained(out)(text).input_ids == AutoTokenizer.from_pretrained(tiny_models / name)(text).input_ids
        assert json.loads((out / "generation_config.json").read_text()) == json.loads(
            (tiny_models / name / "generation_config.json").read_text())
        card = json.loads((out / "talesrunner_ct2.json").read_text())
        assert card["quantization"] == "int8" and card["model_type"] == ("t5" if name == "kot5" else "marian")
        assert card["talesrunner_test_model"] == "random weights from talesrunner make-tiny-models"
    assert main(["models", "convert", str(tiny_models / "kot5"), str(ct2_models / "kot5")]) == 2
    assert "not empty (pass --force" in capsys.readouterr().err
    assert main(["models", "convert", str(tiny_models / "blip"), str(ct2_models / "blip")]) == 2
    assert "blip model" in capsys.readouterr().err


def test_a_converted_folder_is_told_from_a_transformers_one(tiny_models, ct2_models, tmp_path):
    assert is_ct2_dir(ct2_models / "kot5") and is_ct2_dir(str(ct2_models / "translator"))
    assert not is_ct2_dir(tiny_models / "kot5") and not is_ct2_dir(tmp_path / "nowhere") and not is_ct2_dir(tmp_path)
    # An older transformers folder keeps its weights as pytorch_model.bin, and some as model.bin: its config has a model_type.
    (tmp_path / "model.bin").write_bytes(b"\0")
    (tmp_path / "config.json").write_text((tiny_models / "kot5" / "config.json").read_text())
    assert not is_ct2_dir(tmp_path)


def test_the_settings_run_a_converted_folder_with_ctranslate2_int8(tiny_models, ct2_models, fresh_models):
    settings = _settings(tiny_models, ct2_models)
    writer, translator = get_writer(settings), get_translator(settings)
    assert isinstance(writer, Ct2KoT5Writer) and isinstance(writer, KoT5Writer) and writer.name == "kot5"
    assert isinstance(translator, Ct2Translator) and translator.name == "hf"
    assert (writer.parts.device, writer.parts.compute_type) == ("cpu", "int8")
    assert writer.test_model == "random weights from talesrunner make-tiny-models"
    assert writer.decoding == Kot5Decoding()
    korean = translator.translate(["a child plays in the park", "a dog runs on the grass"])
    assert len(korean) == 2 and all(korean)
    assert len(writer.write(_scenes(3))) == 3
    # Loaded once per process, and reused by the next book.
    get_writer(settings).write(_scenes(1))
    assert sorted(key[0] for key in loading.load_counts) == ["kot5-ct2", "translator-ct2"]
    assert set(loading.load_counts.values()) == {1}


def test_decoding_is_the_torch_paths(tiny_models, ct2_models, fresh_models):
    settings = _settings(tiny_models, ct2_models)
    writer = get_writer(settings)
    options = writer.options()
    # The service's decoding; max_length counts the decoder start token, CTranslate2's length does not.
    assert {key: options[key] for key in ("beam_size", "length_penalty", "repetition_penalty", "no_repeat_ngram_size",
                                          "max_decoding_length", "min_decoding_length", "patience")} == {
        "beam_size": 3, "length_penalty": 0.8, "repetition_penalty": 1.5, "no_repeat_ngram_size": 3,
        "max_decoding_length": 127, "min_decoding_length": 4, "patience": 1}
    # The generation config's suppressed tokens (the tiny model's: <unk> and the 12 markers).
    assert sorted(token for [token] in options["suppress_sequences"]) == sorted(
        ["<unk>", *writer.parts.tokenizer.convert_ids_to_tokens(list(writer.parts.special_ids))])
    # A page written again samples (nucleus 0.92), as on torch.
    sampled = writer.options(sample=True)
    assert (sampled["beam_size"], sampled["sampling_topk"], sampled["sampling_topp"]) == (1, 0, 0.92)

    translator = get_translator(settings)
    options = decoding_options(translator.parts, translator.max_new_tokens, beams=translator.num_beams)
    assert (options["beam_size"], options["max_decoding_length"], options["min_decoding_length"]) == (4, 96, 4)
    # generate's forced end token takes the last place, and min_length counts the start token.
    forced = replace(translator.parts, generation={**translator.parts.generation, "forced_eos_token_id": 0,
                                                   "min_length": 10, "min_new_tokens": None, "bad_words_ids": [[1049]]})
    options = decoding_options(forced, 96, beams=4)
    assert (options["max_decoding_length"], options["min_decoding_length"]) == (95, 9)
    # Marian's <pad> (1049 here) is not in the converted vocabulary: nothing to suppress.
    assert options["suppress_sequences"] == [["<unk>"]]


def test_markers_are_dropped_from_the_source_and_inputs_cut_as_on_torch(tiny_models, ct2_models, fresh_models):
    writer = get_writer(_settings(tiny_models, ct2_models))
    torch_writer = KoT5Writer(load_kot5(str(tiny_models / "kot5"), loading.Placement("cpu", "float32")))
    texts = [writer.input_text(scene) for scene in _scenes(2)] + ["generate: " + "<caption> 나비 " * 100]
    masked = torch_writer.encode(texts)
    for row, ids, mask in zip(writer.encode(texts)["input_ids"], masked["input_ids"], masked["attention_mask"]):
        # What torch attends to (mask 1), in order: the markers are out, padding is out, the cut is the same.
        assert row == [int(i) for i, m in zip(ids, mask) if m] and not set(row) & set(writer.parts.special_ids)
    assert masked["input_ids"].shape[1] == 128 and len(writer.encode(texts[-1:])["input_ids"][0]) < 128
    assert Ct2KoT5Writer(writer.parts, markers="keep").encode(texts[-1:])["input_ids"][0] == masked["input_ids"][2].tolist()


def test_greedy_ctranslate2_float32_writes_what_torch_writes_for_the_same_tokens(tiny_models, tmp_path, fresh_models):
    """The decoding mapping (lengths, minimum length, suppressed tokens) is exact: without penalties and
    with the markers out of both inputs, the float32 engines write the same tokens for every scene."""
    import torch

    assert main(["models", "convert", str(tiny_models / "kot5"), str(tmp_path / "f32"), "--quantization", "float32"]) == 0
    decoding = Kot5Decoding(max_length=24, num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0)
    ct2 = Ct2KoT5Writer(load_kot5_ct2(str(tmp_path / "f32"), "cpu", "float32"), decoding)
    parts = load_kot5(str(tiny_models / "kot5"), loading.Placement("cpu", "float32"))
    scenes = [replace(scene, caption=f"{word} {scene.caption}") for scene, word in
              zip(_scenes(6), ("숲", "바다", "공원", "하늘", "집", "학교"))]
    sources = ct2.encode([ct2.input_text(scene) for scene in scenes])["input_ids"]
    eos = parts.tokenizer.eos_token_id
    for source, written in zip(sources, ct2.generate_ids(scenes)):
        with torch.inference_mode():
            row = parts.model.generate(input_ids=torch.tensor([source]), **decoding.generate_kwargs())[0].tolist()[1:]
        assert written == (row[:row.index(eos)] if eos in row else row)


@pytest.fixture
def client(db, service_env, spare_redis_url):
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client()


def test_a_book_through_the_stages_with_ctranslate2_kot5_and_translator(client, db, service_env, tiny_models, ct2_models,
                                                                           fresh_models):
    from tests.test_pipeline import Recorder

    settings = Settings(**{**service_env, **_settings(tiny_models, ct2_models).model_dump(
        include={"TALES_WRITER", "TALES_KOT5_DIR", "TALES_CAPTIONER", "TALES_BLIP_MODEL", "TALES_TRANSLATOR",
                 "TALES_TRANSLATOR_MODEL", "TALES_DEVICE"})})
    ctx = pipeline.Context(settings=settings, sessions=session_factory(db), storage=LocalStorage(settings.DATA_DIR),
                           enqueue=Recorder())
    # The process's models, as the stages will find them; each stands behind a spy that counts its calls.
    writer_parts, translator_parts = get_writer(settings).parts, get_translator(settings).parts
    writer_spy = writer_parts.model = BatchSpy(writer_parts.model)
    translator_spy = translator_parts.model = BatchSpy(translator_parts.model)

    headers = ApiActions(client).user()
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=sample_form()).json["id"]
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    pipeline.render_stage(ctx, book_id)
    with ctx.sessions() as session:
        book = session.get(Book, book_id)
        scenes = sorted(book.scenes, key=lambda scene: scene.index)
        assert book.status is BookStatus.DONE, book.error
        assert [(s.caption_lang, s.caption_source, s.text_source) for s in scenes] == [("ko", "blip+hf", "kot5")] * 4
        assert all(scene.caption and scene.text for scene in scenes)
        assert any("written by a test model: random weights" in note for note in book.notes)
    # One translate_batch per book for each model, with every scene in it.
    assert [len(source) for source, _ in translator_spy.calls] == [4]
    assert [len(source) for source, _ in writer_spy.calls] == [4]
    assert writer_spy.calls[0][1]["beam_size"] == 3
    loaded = {key[0]: count for key, count in loading.load_counts.items()}
    assert (loaded["kot5-ct2"], loaded["translator-ct2"]) == (1, 1) and "kot5" not in loaded and "translator" not in loaded


@pytest.mark.e2e
def test_a_real_worker_writes_a_book_with_ctranslate2_kot5(worker_with, tiny_models, ct2_models, db, tmp_path_factory):
    from web import create_app

    worker = worker_with(
        DATA_DIR=str(tmp_path_factory.mktemp("ct2-data")), TALES_CAPTIONER="blip", TALES_WRITER="kot5",
        TALES_TRANSLATOR="hf", TALES_DEVICE="auto", TALES_BLIP_MODEL=str(tiny_models / "blip"),
        TALES_KOT5_DIR=str(ct2_models / "kot5"), TALES_TRANSLATOR_MODEL=str(ct2_models / "translator"),
    )
    client = create_app(dict(worker.env)).test_client()
    headers = ApiActions(client).user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    assert created.status_code == 202
    book = wait_for(client, headers, created.json["url"], {"done", "failed"}, timeout=120)
    assert book["status"] == "done", book["error"]
    assert [(s["caption_lang"], s["caption_source"], s["text_source"]) for s in book["scenes"]] == [("ko", "blip+hf", "kot5")] * 4
    assert all(s["text"] for s in book["scenes"])
    log = worker.log_path.read_text(errors="replace")
    assert log.count("loading ('kot5-ct2'") == 1 and log.count("loading ('translator-ct2'") == 1
    assert "loading ('kot5'," not in log


def test_a_page_rewritten_samples_several_in_one_call_and_offers_the_others(tiny_models, ct2_models, fresh_models):
    """As on torch (test_rewrites): a first writing is one beam search; a rewrite samples REWRITE_CANDIDATES
    paragraphs of the page in the same translate_batch call, the best shown and the others offered."""
    from dataclasses import replace

    from tests.test_rewrites import _rewrite
    from worker.ml.plan import make_plan

    writer = get_writer(_settings(tiny_models, ct2_models))
    spy = BatchSpy(writer.parts.model)
    writer.parts = replace(writer.parts, model=spy)
    scenes = _scenes(3)
    texts = writer.write(scenes, make_plan(scenes))
    assert len(spy.calls[0][0]) == 3 and spy.calls[0][1]["beam_size"] == writer.decoding.num_beams
    assert "sampling_topp" not in spy.calls[0][1]
    shown = [texts[1]]
    for rewrites in (1, 2):
        draft = _rewrite(writer, scenes, texts, 2, shown, rewrites)
        source, options = spy.calls[-1]
        assert len(source) == writer.REWRITE_CANDIDATES and all(row == source[0] for row in source)  # one page, one call
        assert options["beam_size"] == 1 and options["sampling_topp"] == 0.92
        new, offered = draft.texts[0], draft.alternatives[0]
        assert new and new not in shown and len(set(offered)) >= 2 and not set(offered) & set(shown)
        shown += [new, *offered]
