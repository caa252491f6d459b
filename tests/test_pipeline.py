"""Stages, state moves and the queue, against the real database and Redis (no worker)."""
from __future__ import annotations

import json
import os
from datetime import UTC, timedelta

import pytest
import redis
from sqlalchemy import select

from shared.config import Settings
from shared.db import session_factory
from shared.jobs import TaskName, enqueue_after_commit, make_celery
from shared.lifecycle import claim
from shared.models import Book, EmailRequest, utcnow
from shared.status import BookStatus, InvalidTransition, check_transition
from shared.storage import LocalStorage
from tests.helpers import sample_form
from tests.web_helpers import ApiActions
from worker import pipeline


class Recorder:
    """An enqueue that records what a stage asks for, only when the session commits."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def __call__(self, session, task: TaskName, arg: str, *more) -> None:
        from sqlalchemy import event

        @event.listens_for(session, "after_commit", once=True)
        def _sent(_session):
            self.sent.append((task.value, arg))


@pytest.fixture
def client(db, service_env, spare_redis_url):
    """An app whose messages go to a Redis database no worker reads, so only the test runs stages."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client()


@pytest.fixture
def ctx(db, service_env) -> pipeline.Context:
    settings = Settings(**service_env)
    return pipeline.Context(settings=settings, sessions=session_factory(db), storage=LocalStorage(settings.DATA_DIR), enqueue=Recorder())


def _create(client, api, with_scenes=True, headers=None) -> str:
    headers = headers or api.user()
    return client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form(with_scenes)).json["id"]


def _book(ctx, book_id) -> Book:
    with ctx.sessions() as session:
        book = session.get(Book, book_id)
        _ = book.scenes, book.emails
        return book


def _run_all(ctx, book_id):
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    pipeline.render_stage(ctx, book_id)


def test_stages_take_a_book_to_done(client, api, ctx):
    book_id = _create(client, api)
    _run_all(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE
    assert (book.progress_done, book.progress_total) == (4, 4)
    assert all(scene.text and scene.text_source == "template" for scene in book.scenes)
    assert ctx.storage.path(book.pdf_name).stat().st_size == book.pdf_bytes
    assert ctx.enqueue.sent == [(TaskName.WRITE.value, book_id), (TaskName.RENDER.value, book_id)]


def test_a_one_page_rewrite_counts_that_page_alone(client, api, ctx, monkeypatch):
    headers = api.user()
    book_id = _create(client, api, headers=headers)
    _run_all(ctx, book_id)
    rewrite = client.post(f"/api/v1/books/{book_id}/scenes/2/regenerate", headers=headers).json
    assert rewrite["progress"] == {"done": 0, "total": 1}
    seen = []
    real = pipeline.write.set_progress
    monkeypatch.setattr(pipeline.write, "set_progress", lambda book, stage, done, total: (seen.append((stage.value, done, total)), real(book, stage, done, total)))
    pipeline.write_stage(ctx, book_id)
    # The worker says what the web said: 0 of the 1 page written this time, not "3 / 4" with the others.
    assert seen[0] == ("write", 0, 1)
    assert _book(ctx, book_id).scenes[1].text


def test_every_stage_run_twice_leaves_one_result(client, api, ctx):
    book_id = _create(client, api)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
        stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE
    # Each next step was enqueued once, not twice.
    assert ctx.enqueue.sent == [(TaskName.WRITE.value, book_id), (TaskName.RENDER.value, book_id)]
    pdfs = list(ctx.storage.book_dir(book_id).glob("*.pdf"))
    assert [p.name for p in pdfs] == ["book.pdf"]
    assert not list(ctx.storage.book_dir(book_id).glob(".tmp-*"))
    texts = [scene.text for scene in book.scenes]
    pipeline.write_stage(ctx, book_id)  # a late duplicate after done changes nothing
    assert [scene.text for scene in _book(ctx, book_id).scenes] == texts


def _narrating(ctx, **settings) -> pipeline.Context:
    """The same stages with narration on (espeak-ng unless told otherwise)."""
    changed = ctx.settings.model_copy(update={"TALES_NARRATOR": "espeak", **settings})
    return pipeline.Context(settings=changed, sessions=ctx.sessions, storage=ctx.storage, enqueue=Recorder())


def test_narration_is_its_own_stage_between_writing_and_rendering(client, api, ctx):
    ctx = _narrating(ctx)
    book_id = _create(client, api)
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert (book.status, book.stage, book.progress_done, book.progress_total) == (BookStatus.RENDERING, "narrate", 0, 4)
    # What a narration killed before it recorded its files leaves behind: removed once one succeeds.
    stray = ctx.storage.audio_name(book_id, 1, book.scenes[0].text, b"a killed run's audio")
    ctx.storage.write_bytes(stray, b"ID3")
    assert pipeline.resume_task(book) is TaskName.NARRATE  # what the reconciler sends if it is lost
    pipeline.narrate_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert all(scene.audio for scene in book.scenes) and book.stage == "render"
    assert [name for name, _ in ctx.storage.files_under(ctx.storage.audio_prefix(book_id))] == sorted(scene.audio.name for scene in book.scenes)
    written = {scene.audio.name: ctx.storage.path(scene.audio.name).stat().st_mtime_ns for scene in book.scenes}
    pipeline.narrate_stage(ctx, book_id)  # a duplicate reads nothing again and only passes the book on
    pipeline.render_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE and book.epub_name
    assert {scene.audio.name: ctx.storage.path(scene.audio.name).stat().st_mtime_ns for scene in book.scenes} == written
    assert ctx.enqueue.sent == [(TaskName.WRITE.value, book_id), (TaskName.NARRATE.value, book_id),
                                (TaskName.RENDER.value, book_id), (TaskName.RENDER.value, book_id)]


def test_a_failed_narration_goes_on_to_render_once_and_that_render_does_not_send_it_back(client, api, ctx):
    # A speech server nobody listens on: the narrator fails at once.
    ctx = _narrating(ctx, TALES_NARRATOR="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="test",
                    TALES_OPENAI_TIMEOUT=2, TALES_OPENAI_MAX_RETRIES=0)
    book_id = _create(client, api)
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    pipeline.narrate_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.stage == "render" and any("읽어 주기 소리는 만들지 못했어요" in note for note in book.notes)
    pipeline.render_stage(ctx, book_id, narrated=True)  # as the narrate task sends it
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE and not any(scene.audio for scene in book.scenes)
    assert [task for task, _ in ctx.enqueue.sent] == [TaskName.WRITE.value, TaskName.NARRATE.value, TaskName.RENDER.value]


def test_a_render_sent_by_a_web_tier_that_does_not_narrate_hands_the_book_to_narration(client, api, ctx):
    """The web tier's TALES_NARRATOR is its default (none), the workers' is espeak: an edit still gets read."""
    headers = api.user()
    ctx = _narrating(ctx)
    book_id = _create(client, api, headers=headers)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.narrate_stage):
        stage(ctx, book_id)
    pipeline.render_stage(ctx, book_id, narrated=True)
    edited = client.patch(f"/api/v1/books/{book_id}/scenes/2", headers=headers, json={"text": "다람쥐가 웃었어요."}).json
    assert edited["stage"] == "render"  # what that web tier believes
    ctx.enqueue.sent.clear()
    pipeline.render_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert (book.status, book.stage, book.progress_total, book.worker_id) == (BookStatus.RENDERING, "narrate", 1, None)
    assert ctx.enqueue.sent == [(TaskName.NARRATE.value, book_id)]
    pipeline.narrate_stage(ctx, book_id)
    pipeline.render_stage(ctx, book_id, narrated=True)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE and all(scene.audio for scene in book.scenes)


def test_a_narration_that_keeps_stopping_its_worker_is_given_up_and_the_book_made_without_it(client, api, ctx):
    ctx = _narrating(ctx)
    book_id = _create(client, api)
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    with ctx.sessions.begin() as session:  # as the reconciler leaves a book whose narrating worker died that often
        session.get(Book, book_id).lost_runs = ctx.settings.TALES_MAX_LOST_RUNS
    ctx.worker_id = "a-worker-with-a-lease"  # a leased take keeps the count (a handoff clears it)
    pipeline.narrate_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.RENDERING and book.stage == "render" and book.lost_runs == 0
    assert any("작업이" in note and "멈췄어요" in note for note in book.notes)
    assert not any(scene.audio for scene in book.scenes)
    pipeline.render_stage(ctx, book_id, narrated=True)
    assert _book(ctx, book_id).status is BookStatus.DONE


def test_a_narration_that_succeeds_takes_away_the_note_of_one_that_failed(client, api, ctx):
    failing = _narrating(ctx, TALES_NARRATOR="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="test",
                         TALES_OPENAI_TIMEOUT=2, TALES_OPENAI_MAX_RETRIES=0)
    book_id = _create(client, api)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.narrate_stage, pipeline.render_stage):
        stage(failing, book_id)
    assert any(note.startswith(pipeline.NARRATION_FAILED) for note in _book(ctx, book_id).notes)
    with ctx.sessions.begin() as session:  # an edit later, with the narrator working again
        book = session.get(Book, book_id)
        book.status, book.stage = BookStatus.RENDERING, "narrate"
    pipeline.narrate_stage(_narrating(ctx), book_id)
    book = _book(ctx, book_id)
    assert all(scene.audio for scene in book.scenes)
    assert not any(note.startswith(pipeline.NARRATION_FAILED) for note in book.notes), book.notes
    assert book.notes  # the other notes stay


def test_an_edit_of_a_narrated_book_reads_that_page_before_rendering(db, service_env, spare_redis_url, ctx):
    from web import create_app

    client = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_NARRATOR": "espeak"}).test_client()
    headers = ApiActions(client).user()
    ctx = _narrating(ctx)
    book_id = _create(client, None, headers=headers)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.narrate_stage, pipeline.render_stage):
        stage(ctx, book_id)
    edited = client.patch(f"/api/v1/books/{book_id}/scenes/3", headers=headers, json={"text": "토끼가 달을 보았어요."}).json
    assert (edited["stage"], edited["progress"]) == ("narrate", {"done": 0, "total": 1})
    pipeline.narrate_stage(ctx, book_id)
    pipeline.render_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE and book.scenes[2].audio.name.startswith(f"books/{book_id}/audio/page-3-")
    # A new title changes no page: straight to the render task.
    renamed = client.patch(f"/api/v1/books/{book_id}", headers=headers, json={"title": "달 보는 토끼"}).json
    assert (renamed["stage"], renamed["progress"]) == ("render", {"done": 0, "total": 4})


def test_a_page_read_again_with_other_audio_gets_a_new_file_and_the_old_one_goes(client, api, ctx):
    """The same text read again is not the same audio (here a new bit rate; VITS draws noise): the
    file gets a new name, so a browser's cached copy of the old URL is never played for it."""
    ctx = _narrating(ctx)
    book_id = _create(client, api)
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.narrate_stage, pipeline.render_stage):
        stage(ctx, book_id)
    old = _book(ctx, book_id).scenes[0].audio.name
    with ctx.sessions.begin() as session:  # page 1 rewritten and then undone: its text is back, to be read again
        book = session.get(Book, book_id)
        book.status, book.stage, book.scenes[0].audio_text = BookStatus.RENDERING, "narrate", None
    pipeline.narrate_stage(_narrating(ctx, TALES_NARRATION_KBPS=64), book_id)
    new = _book(ctx, book_id).scenes[0].audio.name
    assert new != old and new.startswith(f"books/{book_id}/audio/page-1-")
    assert ctx.storage.exists(new) and not ctx.storage.exists(old)


def test_email_when_done_makes_one_request_even_if_render_repeats(client, api, ctx):
    headers = api.user()
    form = sample_form()
    form["book"] = json.dumps({**json.loads(form["book"]), "email_when_done": True}, ensure_ascii=False)
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=form).json["id"]
    _run_all(ctx, book_id)
    with ctx.sessions.begin() as session:  # an edit re-renders the finished book
        book = session.get(Book, book_id)
        book.status = BookStatus.RENDERING
    pipeline.render_stage(ctx, book_id)
    with ctx.sessions() as session:
        requests_ = session.scalars(select(EmailRequest).where(EmailRequest.book_id == book_id)).all()
        assert [r.to_address for r in requests_] == ["parent@example.com"]
    assert [t for t, _ in ctx.enqueue.sent].count(TaskName.EMAIL.value) == 1


def test_draft_flow_stops_for_annotations_with_suggestions(client, api, ctx):
    book_id = _create(client, api, with_scenes=False)
    pipeline.caption_stage(ctx, book_id)
    assert ctx.enqueue.sent == [(TaskName.SUGGEST.value, book_id)]
    pipeline.suggest_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.AWAITING_ANNOTATIONS
    for scene in book.scenes:
        assert set(scene.suggestions) == {"setting", "action", "feeling"}
        assert all(3 <= len(words) <= 5 for words in scene.suggestions.values())
    pipeline.write_stage(ctx, book_id)  # nothing to write before the user annotates
    assert _book(ctx, book_id).status is BookStatus.AWAITING_ANNOTATIONS


def test_claim_is_compare_and_set(client, api, ctx):
    book_id = _create(client, api)
    with ctx.sessions.begin() as session:
        assert claim(session, book_id, [BookStatus.QUEUED], BookStatus.CAPTIONING) is not None
    with ctx.sessions.begin() as session:
        assert claim(session, book_id, [BookStatus.QUEUED], BookStatus.CAPTIONING) is None


def test_transitions_refuse_going_back_from_done_to_queued():
    with pytest.raises(InvalidTransition):
        check_transition(BookStatus.DONE, BookStatus.QUEUED)
    check_transition(BookStatus.FAILED, BookStatus.QUEUED)


def test_reconciler_resends_stale_books_only(client, api, ctx):
    headers = api.user()
    stale, fresh = _create(client, api, headers=headers), _create(client, api, headers=headers)
    with ctx.sessions.begin() as session:
        book = session.get(Book, stale)
        book.status = BookStatus.WRITING
        book.updated_at = utcnow() - timedelta(hours=1)
    assert pipeline.reconcile(ctx, timedelta(minutes=15)) == [stale]
    assert ctx.enqueue.sent == [(TaskName.WRITE.value, stale)]
    assert fresh not in [arg for _, arg in ctx.enqueue.sent]
    # Touched: the next sweep does not resend it again at once.
    assert pipeline.reconcile(ctx, timedelta(minutes=15)) == []


def test_enqueue_happens_only_after_commit(db, spare_redis_url):
    celery = make_celery(Settings(REDIS_URL=spare_redis_url))
    queue = redis.Redis.from_url(spare_redis_url)
    sessions = session_factory(db)

    with sessions() as session:
        enqueue_after_commit(session, celery, TaskName.RENDER, "rolled-back")
        session.rollback()
    assert queue.llen("cpu") == 0

    with sessions() as session:
        enqueue_after_commit(session, celery, TaskName.RENDER, "committed")
        assert queue.llen("cpu") == 0  # not before the commit
        session.commit()
    assert queue.llen("cpu") == 1
    message = json.loads(queue.lindex("cpu", 0))
    assert message["headers"]["task"] == TaskName.RENDER.value
    assert message["headers"]["argsrepr"] == "['committed']"  # ids only


def test_cover_date_is_the_local_day(client, api, ctx):
    import subprocess
    from datetime import datetime

    book_id = _create(client, api)
    with ctx.sessions.begin() as session:
        session.get(Book, book_id).created_at = datetime(2026, 1, 1, 20, 30)  # UTC: already 2 January in Seoul
    _run_all(ctx, book_id)
    pdf = ctx.storage.path(_book(ctx, book_id).pdf_name)
    cover = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "2026년 1월 2일" in cover


def test_a_book_without_a_title_is_named_by_its_story_and_keeps_the_name(client, api, ctx):
    import subprocess

    from talesrunner import samples
    from tests.helpers import book_form

    headers = api.user()
    photos = [data for _, data in samples.sample_photos()]
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form(photos, {"scenes": samples.SCENES, "age": "초등 고학년"}))
    book_id = created.json["id"]
    _run_all(ctx, book_id)
    book = _book(ctx, book_id)
    assert (book.title, book.generated_title, book.age) == (None, "우주인 아저씨와 로켓", "초등 고학년")
    shown = client.get(f"/api/v1/books/{book_id}", headers=headers).json
    assert shown["title"] == "우주인 아저씨와 로켓" and shown["title_generated"] is True and shown["age"] == "초등 고학년"
    cover = subprocess.run(["pdftotext", "-l", "1", str(ctx.storage.path(book.pdf_name)), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert "우주인 아저씨와 로켓" in cover and "초등 고학년 (4~6학년) 그림책" in cover
    pages = [scene.text for scene in book.scenes]
    assert pages[0].startswith("어느") and "아저씨" in pages[2] and "우주인 아저씨" not in pages[3]

    # One page written again: a new text, the same plan (title, names, connecting words) around it.
    from worker.ml.arc import first_words

    assert client.post(f"/api/v1/books/{book_id}/scenes/3/regenerate", headers=headers).status_code == 202
    pipeline.write_stage(ctx, book_id)
    again = _book(ctx, book_id)
    assert again.generated_title == "우주인 아저씨와 로켓"
    texts = [scene.text for scene in again.scenes]
    assert texts[:2] + texts[3:] == pages[:2] + pages[3:] and texts[2] != pages[2]
    assert "아저씨" in texts[2] and "우주인 아저씨" not in texts[2]  # already introduced on page 1
    assert first_words(texts[2]) not in {first_words(text) for text in texts[:2] + texts[3:]}


def test_files_of_a_book_without_a_row_are_removed_once_old_and_no_other(client, api, ctx):
    kept = _create(client, api)
    orphan, being_created = "ab" * 16, "cd" * 16
    for book_id in (orphan, being_created):
        ctx.storage.save_photo(book_id, b"photo", "jpg")
    old = (utcnow() - timedelta(hours=2)).replace(tzinfo=UTC).timestamp()
    for path in [*ctx.storage.book_dir(orphan).rglob("*"), *ctx.storage.book_dir(kept).rglob("*")]:
        os.utime(path, (old, old))

    assert pipeline.remove_orphans(ctx, timedelta(hours=1)) == [orphan]
    assert not ctx.storage.book_dir(orphan).exists()
    assert ctx.storage.book_dir(being_created).is_dir()  # its row may be about to commit
    assert list(ctx.storage.book_dir(kept).glob("photos/*"))
    assert pipeline.remove_orphans(ctx, timedelta(hours=1)) == []
