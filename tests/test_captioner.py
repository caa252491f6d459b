"""BLIP captions in one batch, translated to Korean, with the caption's language on the scene."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from shared.config import Settings
from shared.db import session_factory
from shared.models import Book
from shared.storage import LocalStorage
from tests.helpers import book_form, scene
from worker import pipeline
from worker.errors import StageError
from worker.ml import loading
from worker.ml.captioner import Caption, get_captioner
from worker.ml.translator import get_translator

pytestmark = pytest.mark.models


def _settings(tiny_models, **extra) -> Settings:
    values = {
        "TALES_CAPTIONER": "blip", "TALES_TRANSLATOR": "hf", "TALES_DEVICE": "cpu",
        "TALES_BLIP_MODEL": str(tiny_models / "blip"), "TALES_TRANSLATOR_MODEL": str(tiny_models / "translator"),
    }
    return Settings(**{**values, **extra})


class GenerateSpy:
    def __init__(self, model):
        self.original, self.calls = model.generate, []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        return self.original(*args, **kwargs)


def _photos() -> list[Image.Image]:
    # Different sizes and modes, as uploads come; the processor brings them to one shape.
    return [
        Image.new("RGB", (640, 480), (200, 120, 40)),
        Image.new("RGB", (300, 900), (20, 160, 90)),
        Image.new("L", (128, 128), 90).convert("RGB"),
    ]


def test_blip_captions_every_photo_of_a_book_in_one_generate_call(tiny_models, fresh_models, monkeypatch):
    captioner = get_captioner(_settings(tiny_models))
    spy = GenerateSpy(captioner.parts.model)
    monkeypatch.setattr(captioner.parts.model, "generate", spy)
    captions = captioner.caption(_photos())
    assert len(spy.calls) == 1 and spy.calls[0]["pixel_values"].shape[0] == 3
    assert [(c.lang, c.source) for c in captions] == [("en", "blip")] * 3
    assert all(c.text and c.text.strip() == c.text for c in captions)
    # The generation config saved with the model (its minimum length) reaches BLIP's text decoder.
    assert spy.calls[0]["generation_config"].min_new_tokens >= 1


def test_blip_loads_once_and_a_second_book_reuses_it(tiny_models, fresh_models):
    first = get_captioner(_settings(tiny_models))
    first.caption(_photos()[:1])
    second = get_captioner(_settings(tiny_models, TALES_BLIP_NUM_BEAMS=1))
    second.caption(_photos()[:2])
    assert first.parts is second.parts
    assert [count for key, count in loading.load_counts.items() if key[0] == "blip"] == [1]


def test_a_missing_blip_model_names_the_setting(tmp_path, fresh_models):
    with pytest.raises(StageError, match="TALES_BLIP_MODEL"):
        get_captioner(Settings(TALES_CAPTIONER="blip", TALES_BLIP_MODEL=str(tmp_path / "none"), TALES_DEVICE="cpu"))


def test_hf_translator_translates_a_batch_in_one_call(tiny_models, fresh_models, monkeypatch):
    translator = get_translator(_settings(tiny_models))
    spy = GenerateSpy(translator.parts.model)
    monkeypatch.setattr(translator.parts.model, "generate", spy)
    korean = translator.translate(["a dog running on the grass", "a girl reading a book", "two cats"])
    assert len(spy.calls) == 1 and spy.calls[0]["input_ids"].shape[0] == 3
    assert len(korean) == 3 and all(korean)


def test_no_translator_when_it_is_off():
    assert get_translator(Settings(TALES_TRANSLATOR="none")) is None


# The caption stage, against the real database.

def _ctx(db, service_env, **settings) -> pipeline.Context:
    values = Settings(**{**service_env, **settings})
    return pipeline.Context(settings=values, sessions=session_factory(db), storage=LocalStorage(values.DATA_DIR),
                            enqueue=lambda session, task, arg: None)


@pytest.fixture
def client(db, service_env, spare_redis_url):
    """The web tier sending to a Redis database no worker reads: these tests run the stages themselves."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client()


def _create(client, api, images: list[bytes] | None = None) -> str:
    images = images or [_jpeg((64, 48)), _jpeg((48, 64))]
    form = book_form(images, {"scenes": [scene() for _ in images]})
    return client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data", data=form).json["id"]


def _jpeg(size, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 200)).save(buffer, "JPEG", exif=exif or Image.Exif())
    return buffer.getvalue()


def _book(ctx, book_id) -> Book:
    with ctx.sessions() as session:
        book = session.get(Book, book_id)
        _ = book.scenes
        return book


def test_caption_stage_translates_blip_captions_to_korean(client, api, db, service_env, tiny_models, fresh_models):
    ctx = _ctx(db, service_env, **_settings(tiny_models).model_dump(include={
        "TALES_CAPTIONER", "TALES_TRANSLATOR", "TALES_DEVICE", "TALES_BLIP_MODEL", "TALES_TRANSLATOR_MODEL"}))
    book_id = _create(client, api)
    pipeline.caption_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert [(s.caption_lang, s.caption_source) for s in book.scenes] == [("ko", "blip+hf")] * 2
    assert all(s.caption for s in book.scenes)
    assert not any("English" in note for note in book.notes)


def test_without_a_translator_captions_stay_english_and_the_book_says_so(client, api, db, service_env, tiny_models,
                                                                         fresh_models):
    ctx = _ctx(db, service_env, TALES_CAPTIONER="blip", TALES_TRANSLATOR="none", TALES_DEVICE="cpu",
               TALES_BLIP_MODEL=str(tiny_models / "blip"))
    book_id = _create(client, api)
    pipeline.caption_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert [(s.caption_lang, s.caption_source) for s in book.scenes] == [("en", "blip")] * 2
    assert any("captions kept in English: translation is off" in note for note in book.notes)


def test_a_failing_translator_keeps_english_and_says_why(client, api, db, service_env, tiny_models, fresh_models, tmp_path):
    broken = tmp_path / "broken"  # there but unloadable (a model not there at all: tests/test_model_fallback.py)
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    ctx = _ctx(db, service_env, TALES_CAPTIONER="blip", TALES_TRANSLATOR="hf", TALES_DEVICE="cpu",
               TALES_BLIP_MODEL=str(tiny_models / "blip"), TALES_TRANSLATOR_MODEL=str(broken))
    book_id = _create(client, api)
    pipeline.caption_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert [s.caption_lang for s in book.scenes] == ["en", "en"]
    assert any("translation failed" in note and "TALES_TRANSLATOR_MODEL" in note for note in book.notes)


def test_the_captioner_sees_photos_upright(client, api, db, service_env, monkeypatch):
    """A phone photo stored sideways with an EXIF rotation reaches the captioner the right way up."""
    seen: list[tuple[int, int]] = []

    class Recorder:
        name = "recorder"

        def caption(self, images):
            seen.extend(image.size for image in images)
            assert all(image.mode == "RGB" for image in images)
            return [Caption(text="사진", lang="ko", source="recorder") for _ in images]

    monkeypatch.setattr(pipeline.caption, "get_captioner", lambda settings: Recorder())
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    book_id = _create(client, api, [_jpeg((64, 48), exif)])
    pipeline.caption_stage(_ctx(db, service_env), book_id)
    assert seen == [(48, 64)]
