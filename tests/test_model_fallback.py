"""A first start with no models (an empty ./models under docker compose) still makes books.

Each model a setting names that is not there is reported once when a worker starts, and a book
falls back to the offline backend for that part with a note for the operator; a model that is
there but broken still fails the book as before. Stages are called directly with a Context
(the pattern of tests/test_pipeline.py).
"""
from __future__ import annotations

import json
import logging

import pytest
import yaml

from shared.config import Settings
from shared.db import session_factory
from shared.lifecycle import note_for_parents
from shared.models import Book
from shared.status import BookStatus
from shared.storage import LocalStorage
from tests.helpers import REPO, sample_form
from tests.test_pipeline import Recorder
from worker import pipeline
from worker.errors import StageError
from worker.ml import presence
from worker.pipeline.draw import DRAWING_FAILED
from worker.pipeline.narrate import NARRATION_FAILED


@pytest.fixture
def client(db, service_env, spare_redis_url):
    """An app whose messages go to a Redis database no worker reads, so only the test runs stages."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client()


@pytest.fixture(autouse=True)
def offline_hub(monkeypatch):
    """No test here may wait on the real hub: it counts as unreachable."""
    monkeypatch.setattr(presence, "hub_unusable", lambda: "HF_HUB_OFFLINE is set")
    presence.forget_hub_answer()


def _ctx(db, service_env, **settings) -> pipeline.Context:
    config = Settings(**{**service_env, **settings})
    return pipeline.Context(settings=config, sessions=session_factory(db), storage=LocalStorage(config.DATA_DIR),
                            enqueue=Recorder())


def _create(client, api, **book) -> str:
    form = sample_form()
    if book:
        data = json.loads(form["book"])
        form["book"] = json.dumps({**data, **book}, ensure_ascii=False)
    response = client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data", data=form)
    assert response.status_code == 202, response.json
    return response.json["id"]


def _book(ctx, book_id) -> Book:
    with ctx.sessions() as session:
        book = session.get(Book, book_id)
        _ = book.scenes
        return book


def _note(book: Book, start: str) -> str:
    found = [note for note in book.notes if note.startswith(start)]
    assert len(found) == 1, book.notes
    return found[0]


def test_kot5_missing_writes_the_book_with_the_template_writer_and_a_note(client, api, db, service_env, tmp_path):
    missing = tmp_path / "models" / "kot5"
    ctx = _ctx(db, service_env, TALES_WRITER="kot5", TALES_KOT5_DIR=str(missing))
    book_id = _create(client, api)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE and book.pdf_name
    assert all(scene.text and scene.text_source == "template" for scene in book.scenes)
    note = _note(book, "이야기 모델이 아직 없어 규칙 기반 문장으로 썼어요")
    assert f"TALES_KOT5_DIR={missing} names no KoT5 story model: it does not exist" in note
    assert "talesrunner models import" in note and "TALES_WRITER=template" in note
    assert note_for_parents(note) == "이야기 모델이 아직 없어 규칙 기반 문장으로 썼어요."
    assert not any(note.startswith("모델 없이") for note in book.notes)  # one note on the writer, not two


def test_a_kot5_folder_holding_only_the_checkpoint_is_missing_and_says_to_import_it(client, api, db, service_env, tmp_path):
    folder = tmp_path / "kot5"
    folder.mkdir()
    (folder / "kot5_checkpoint_final.pt").write_bytes(b"not read")
    ctx = _ctx(db, service_env, TALES_WRITER="kot5", TALES_KOT5_DIR=str(folder))
    book_id = _create(client, api)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE
    note = _note(book, "이야기 모델이 아직 없어")
    assert "the folder holds no config.json or model.bin (it holds kot5_checkpoint_final.pt" in note


def test_a_kot5_folder_that_is_there_but_broken_still_fails_as_before(client, api, db, service_env, tmp_path):
    folder = tmp_path / "kot5"
    folder.mkdir()
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    ctx = _ctx(db, service_env, TALES_WRITER="kot5", TALES_KOT5_DIR=str(folder))
    book_id = _create(client, api)
    pipeline.caption_stage(ctx, book_id)
    with pytest.raises(StageError, match="TALES_KOT5_DIR"):  # the task turns this into a failed book naming the setting
        pipeline.write_stage(ctx, book_id)


def test_a_first_start_with_no_models_at_all_still_makes_the_book(client, api, db, service_env, tmp_path, caplog):
    """docker compose's settings, every /models/<folder> absent: each part falls back and says so."""
    models = tmp_path / "models"
    models.mkdir()
    ctx = _ctx(db, service_env, TALES_CAPTIONER="blip", TALES_TRANSLATOR="hf", TALES_WRITER="kot5",
               TALES_NARRATOR="mms", TALES_ILLUSTRATOR="diffusers", TALES_BLIP_MODEL=str(models / "blip"),
               TALES_TRANSLATOR_MODEL=str(models / "translator"), TALES_KOT5_DIR=str(models / "kot5"),
               TALES_MMS_MODEL=str(models / "mms"), TALES_ILLUSTRATOR_MODEL=str(models / "illustrator"))
    with caplog.at_level(logging.WARNING, logger="worker.ml.presence"):
        reported = presence.report_missing(ctx.settings)
    assert [gone.slot.setting for gone in reported] == [
        "TALES_BLIP_MODEL", "TALES_TRANSLATOR_MODEL", "TALES_KOT5_DIR", "TALES_MMS_MODEL", "TALES_ILLUSTRATOR_MODEL"]
    lines = [record.getMessage() for record in caplog.records if record.name == "worker.ml.presence"]
    assert len(lines) == 5
    assert all("talesrunner models" in line and "or set TALES_" in line for line in lines)
    assert f"TALES_BLIP_MODEL={models / 'blip'} names no BLIP captioning model: it does not exist" in lines[0]

    book_id = _create(client, api, style="watercolor")
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    pipeline.draw_stage(ctx, book_id)
    pipeline.narrate_stage(ctx, book_id)
    pipeline.render_stage(ctx, book_id, narrated=True)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE and book.pdf_name, (book.status, book.error)
    assert all(scene.caption is None and scene.text_source == "template" for scene in book.scenes)
    assert all(scene.picture_source == "photo" and not scene.audio for scene in book.scenes)
    assert "TALES_BLIP_MODEL=" in _note(book, "사진 설명 모델이 아직 없어 힌트만으로 썼어요")
    assert "TALES_KOT5_DIR=" in _note(book, "이야기 모델이 아직 없어")
    assert "TALES_MMS_MODEL=" in _note(book, f"{NARRATION_FAILED}: 읽어 줄 목소리 모델이 아직 없어요")
    assert "TALES_ILLUSTRATOR_MODEL=" in _note(book, f"{DRAWING_FAILED}: 그림 모델이 아직 없어요")
    assert not any(note.startswith("사진 설명 없이") for note in book.notes)
    for note in book.notes:  # the parents read Korean only
        assert "TALES_" not in note_for_parents(note), note


@pytest.mark.models
def test_the_translator_missing_keeps_english_captions_with_a_note(client, api, db, service_env, tmp_path, tiny_models,
                                                                   fresh_models):
    ctx = _ctx(db, service_env, TALES_CAPTIONER="blip", TALES_TRANSLATOR="hf", TALES_DEVICE="cpu",
               TALES_BLIP_MODEL=str(tiny_models / "blip"), TALES_BLIP_MAX_NEW_TOKENS=6,
               TALES_TRANSLATOR_MODEL=str(tmp_path / "models" / "translator"))
    book_id = _create(client, api)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE
    assert all(scene.caption_lang == "en" and scene.caption for scene in book.scenes)
    note = _note(book, "번역을 쓸 수 없어 사진 설명을 영어로 두었어요")
    assert "TALES_TRANSLATOR_MODEL=" in note and "it does not exist" in note and "TALES_TRANSLATOR=none" in note


def test_kot5_present_but_blip_missing_writes_with_the_template_writer(client, api, db, service_env, tmp_path):
    """KoT5 cannot write without captions: when they are missing because BLIP is, the template writes."""
    kot5 = tmp_path / "kot5"
    kot5.mkdir()
    (kot5 / "config.json").write_text("{}", encoding="utf-8")  # there (never loaded: the fallback comes first)
    ctx = _ctx(db, service_env, TALES_CAPTIONER="blip", TALES_BLIP_MODEL=str(tmp_path / "blip"), TALES_WRITER="kot5",
               TALES_KOT5_DIR=str(kot5))
    book_id = _create(client, api)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE and all(scene.text_source == "template" for scene in book.scenes)
    assert "the kot5 writer needs captions" in _note(book, "사진 설명 모델이 아직 없어 이야기 모델 대신")


def test_what_counts_as_absent(tmp_path, monkeypatch):
    slot = presence.BY_KEY["kot5"]
    assert presence.absence(slot, str(tmp_path / "nothing")) == "it does not exist"
    (tmp_path / "empty").mkdir()
    assert presence.absence(slot, str(tmp_path / "empty")) == "the folder is empty"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert presence.absence(slot, str(tmp_path / "model")) is None
    (tmp_path / "ck.pt").write_bytes(b"x")
    assert "models import" in presence.absence(slot, str(tmp_path / "ck.pt"))
    diffusers = presence.BY_KEY["illustrator"]
    assert presence.absence(diffusers, str(tmp_path / "model")).startswith("the folder holds no model_index.json")
    # A hub id: present when cached or downloadable, absent when neither.
    monkeypatch.setattr(presence, "_in_hub_cache", lambda repo, markers: False)
    assert presence.absence(slot, "org/model", hub_check=lambda: None) is None
    assert "the hub cannot be used (HF_HUB_OFFLINE is set)" in presence.absence(slot, "org/model",
                                                                               hub_check=lambda: "HF_HUB_OFFLINE is set")
    monkeypatch.setattr(presence, "_in_hub_cache", lambda repo, markers: True)
    assert presence.absence(slot, "org/model", hub_check=lambda: "offline") is None
    assert presence.is_hub_id("Salesforce/blip-image-captioning-base") and not presence.is_hub_id("/models/blip")


def test_only_the_models_the_settings_use_are_reported(tmp_path):
    quiet = Settings(TALES_CAPTIONER="none", TALES_WRITER="template", TALES_NARRATOR="espeak", TALES_ILLUSTRATOR="filter",
                     TALES_KOT5_DIR=str(tmp_path / "nothing"), TALES_BLIP_MODEL=str(tmp_path / "nothing"))
    assert presence.all_missing(quiet) == []


def test_a_starting_gpu_worker_reports_and_a_cpu_worker_does_not(monkeypatch, tmp_path, caplog):
    from worker import tasks

    monkeypatch.setattr(tasks, "get_settings", lambda: Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(tmp_path / "k")))

    class Queue:
        def __init__(self, name):
            self.name = name

    class Consumer:
        def __init__(self, *names):
            self.task_consumer = type("TaskConsumer", (), {"queues": [Queue(name) for name in names]})()

    with caplog.at_level(logging.WARNING, logger="worker.ml.presence"):
        tasks._report_missing_models(sender=Consumer("cpu"))
        assert not caplog.records
        tasks._report_missing_models(sender=Consumer("gpu", "cpu"))
    assert [record.getMessage() for record in caplog.records] == [
        f"model not present: {presence.missing(tasks.get_settings(), 'kot5').detail}"]


def test_docker_compose_names_the_folders_models_fetch_writes():
    """`talesrunner models fetch ./models` fills what the compose file's settings name (/models/<folder>)."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["x-app"]["environment"]
    for slot in presence.SLOTS:
        if slot.setting in Settings.model_fields:
            assert env[slot.setting].endswith(f":-/models/{slot.key}}}"), (slot.setting, env.get(slot.setting))
