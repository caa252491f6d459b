"""Spoken hints through the API: limits before anything is stored, ownership, the worker's result, recovery.

Recordings are real: a Korean sentence spoken by espeak-ng (WAV) and tones encoded by ffmpeg
(WebM/Opus, what Chrome's MediaRecorder makes). The end-to-end tests run a real worker process
with the tiny random-weight Whisper (`make-tiny-models`) or against the local OpenAI-compatible stub.
"""
from __future__ import annotations

import io
import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shared import leases
from shared.config import Settings
from shared.db import session_factory
from shared.jobs import TaskName
from shared.models import DeadLetter, Transcription, TranscriptionStatus, User, WorkerProcess, new_public_id, utcnow
from shared.storage import LocalStorage
from tests.test_pipeline import Recorder
from tests.web_helpers import Pages
from worker import pipeline
from worker.pipeline import transcribe

HANGUL = re.compile(r"[가-힣]")
SENTENCE = "민호가 공원에서 자전거를 탔어요"
GONE = "elsewhere:4242:0123abcd"  # a worker on another host nobody has heard from: gone at once


def spoken(text: str, folder: Path) -> bytes:
    """`text` said by espeak-ng's Korean voice, as a WAV file's bytes."""
    path = folder / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), text], check=True, timeout=60)
    return path.read_bytes()


def tone_webm(seconds: float, folder: Path) -> bytes:
    """A quiet tone `seconds` long, WebM/Opus as MediaRecorder makes it."""
    path = folder / f"tone-{seconds:g}.webm"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}",
                    "-c:a", "libopus", "-b:a", "16k", str(path)], check=True, timeout=120)
    return path.read_bytes()


def send(client, headers, data: bytes, filename: str = "hint.webm", content_type: str = "audio/webm"):
    return client.post("/api/v1/transcriptions", headers=headers,
                       data={"audio": (io.BytesIO(data), filename, content_type)}, content_type="multipart/form-data")


def user_headers(client, email: str = "parent@example.com") -> dict[str, str]:
    password = "correct horse"
    assert client.post("/api/v1/users", json={"email": email, "password": password}).status_code == 201
    token = client.post("/api/v1/tokens", json={"email": email, "password": password}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def stored_recordings(data_dir) -> list[Path]:
    folder = Path(data_dir) / "transcriptions"
    return sorted(folder.glob("*")) if folder.is_dir() else []


def rows(db_url: str) -> list[Transcription]:
    with session_factory(db_url)() as session:
        return list(session.scalars(select(Transcription)))


def korean_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json["error"]
    assert error["code"] == code and error["field"] == "audio"
    assert HANGUL.search(error["message"]), error["message"]
    assert "TALES_" not in error["message"] and "Traceback" not in error["message"]
    return error


@pytest.fixture
def app(db, service_env, spare_redis_url, tmp_path):
    """The web tier taking spoken hints; its messages go to a Redis database no worker reads."""
    from web import create_app

    data_dir = tmp_path / "data"
    return create_app({**service_env, "REDIS_URL": spare_redis_url, "DATA_DIR": str(data_dir), "TALES_TRANSCRIBER": "whisper",
                       "TALES_MAX_AUDIO_BYTES": str(2**20)})


@pytest.fixture
def client(app):
    return app.test_client()


def test_a_recording_is_stored_and_queued_and_its_owner_polls_it(client, app, db, tmp_path, spare_redis_url):
    headers = user_headers(client)
    response = send(client, headers, tone_webm(2, tmp_path))
    assert response.status_code == 202, response.text
    body = response.json
    assert body["status"] == "queued" and body["url"] == f"/api/v1/transcriptions/{body['id']}"
    assert response.headers["Location"] == body["url"]
    assert client.get(body["url"], headers=headers).json == {"id": body["id"], "url": body["url"], "status": "queued"}
    [row] = rows(db)
    assert row.audio_format == "webm" and row.audio_name == f"transcriptions/{row.id}.webm"
    assert (Path(app.extensions["talesrunner.settings"].DATA_DIR) / row.audio_name).is_file()
    from worker.broker import queued_ids

    assert row.id in queued_ids(spare_redis_url)  # sent after the commit, to the transcribe task


def test_someone_elses_transcription_is_not_found(client, tmp_path):
    mine = user_headers(client, "me@example.com")
    theirs = user_headers(client, "them@example.com")
    url = send(client, mine, tone_webm(1, tmp_path)).json["url"]
    assert client.get(url, headers=theirs).status_code == 404
    assert client.get(url).status_code == 401
    assert client.get("/api/v1/transcriptions/../../etc", headers=mine).status_code == 404
    assert client.get("/api/v1/transcriptions/" + "0" * 32, headers=mine).json["error"]["code"] == "not_found"


def test_a_text_file_sent_as_audio_is_refused_in_korean_and_nothing_is_stored(client, app, db):
    headers = user_headers(client)
    text = "민호가 공원에서 자전거를 탔어요. 이것은 소리가 아니에요.\n".encode() * 50
    korean_error(send(client, headers, text, "hint.webm", "audio/webm"), 400, "not_audio")
    korean_error(send(client, headers, b"", "hint.webm"), 400, "no_audio")
    korean_error(client.post("/api/v1/transcriptions", headers=headers, data={}, content_type="multipart/form-data"), 400, "no_audio")
    assert rows(db) == [] and stored_recordings(app.extensions["talesrunner.settings"].DATA_DIR) == []


def test_an_oversized_recording_is_refused_413_in_korean_before_it_is_stored(client, app, db):
    headers = user_headers(client)
    wav_header = b"RIFF\xff\xff\xff\x7fWAVEfmt "
    error = korean_error(send(client, headers, wav_header + bytes(1200 * 1024), "hint.wav", "audio/wav"), 413, "audio_too_large")
    assert "MB" in error["message"]
    assert rows(db) == [] and stored_recordings(app.extensions["talesrunner.settings"].DATA_DIR) == []


def test_a_recording_over_the_limit_is_refused_400_in_korean_before_it_is_stored(client, app, db, tmp_path):
    """A phone's WebM does not say how long it is: the web tier decodes it at 8 kHz to know."""
    headers = user_headers(client)
    error = korean_error(send(client, headers, tone_webm(75, tmp_path)), 400, "audio_too_long")
    assert "60초" in error["message"] or "1분" in error["message"], error
    assert rows(db) == [] and stored_recordings(app.extensions["talesrunner.settings"].DATA_DIR) == []
    assert send(client, headers, tone_webm(59, tmp_path)).status_code == 202  # just under the limit is taken


def test_without_a_transcriber_the_api_refuses_in_korean_and_the_form_has_no_record_button(db, service_env, spare_redis_url, tmp_path):
    from web import create_app

    client = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_TRANSCRIBER": "none"}).test_client()
    error = korean_error(send(client, user_headers(client), tone_webm(1, tmp_path)), 404, "voice_hints_off")
    assert "음성 힌트" in error["message"]
    Pages(client).login()
    page = client.get("/books/new").text
    assert "data-voice" not in page and "voice.js" not in page


def test_the_form_offers_spoken_hints_hidden_until_script_shows_them_and_says_where_audio_goes(db, service_env, spare_redis_url):
    from web import create_app

    for transcriber, leaves in [("whisper", False), ("openai", True)]:
        client = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_TRANSCRIBER": transcriber,
                             "OPENAI_BASE_URL": "https://speech.example.org/v1"}).test_client()
        Pages(client).signup(f"{transcriber}@example.com")
        page = client.get("/books/new").text
        assert "voice.js" in page
        # One for the book's hero and company, one in the scene template the script clones per photo.
        assert re.findall(r'data-voice="(\w+)"', page) == ["book", "scene"]
        assert all(" hidden>" in tag for tag in re.findall(r"<div class=\"voice\"[^>]*>", page))
        assert "녹음은 글로 바꾼 뒤 바로 지워요" in page
        assert ("speech.example.org" in page) is leaves


def test_recordings_per_user_are_rate_limited(db, service_env, spare_redis_url, tmp_path):
    from web import create_app

    client = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_TRANSCRIBER": "whisper",
                         "TALES_RATELIMIT_ENABLED": "true", "TALES_RATELIMIT_TRANSCRIPTIONS": "2 per hour"}).test_client()
    headers = user_headers(client)
    recording = tone_webm(1, tmp_path)
    assert [send(client, headers, recording).status_code for _ in range(3)] == [202, 202, 429]
    assert send(client, user_headers(client, "other@example.com"), recording).status_code == 202  # per user, not per server


# The worker side without Celery: a claim, the reconciler, the sweep.

@pytest.fixture
def ctx(db, service_env, tmp_path) -> pipeline.Context:
    return pipeline.Context(settings=Settings(**{**service_env, "DATA_DIR": str(tmp_path / "data")}), sessions=session_factory(db),
                            storage=LocalStorage(tmp_path / "data"), enqueue=Recorder(), worker_id="here:1:abcd")


def _waiting(ctx, status=TranscriptionStatus.RUNNING, worker_id: str | None = GONE, lost_runs: int = 0, age_s: float = 0) -> str:
    """A transcription row (of a new account) in any state, its recording stored, last moved `age_s` ago."""
    transcription_id = new_public_id()
    name = f"transcriptions/{transcription_id}.webm"
    ctx.storage.write_bytes(name, b"\x1aE\xdf\xa3 a recording")
    with ctx.sessions.begin() as session:
        user = User(email=f"p-{transcription_id[:8]}@example.com", password_hash="x")
        session.add(user)
        session.flush()
        session.add(Transcription(id=transcription_id, user_id=user.id, status=status, worker_id=worker_id, lost_runs=lost_runs,
                                  audio_format="webm", audio_name=name, updated_at=utcnow() - timedelta(seconds=age_s)))
    return transcription_id


def _row(ctx, transcription_id: str) -> Transcription:
    with ctx.sessions() as session:
        return session.get(Transcription, transcription_id)


def test_a_transcription_lost_with_its_worker_is_sent_again_and_given_up_after_the_last_allowed_death(ctx):
    lost = _waiting(ctx)
    poison = _waiting(ctx, lost_runs=ctx.settings.TALES_MAX_LOST_RUNS - 1)
    pipeline.reconcile(ctx, timedelta(seconds=900), queued=set())
    assert (TaskName.TRANSCRIBE.value, lost) in ctx.enqueue.sent
    again = _row(ctx, lost)
    assert again.status is TranscriptionStatus.RUNNING and again.worker_id is None and again.lost_runs == 1
    assert ctx.storage.exists(again.audio_name)  # still to be transcribed
    failed = _row(ctx, poison)
    assert failed.status is TranscriptionStatus.FAILED and HANGUL.search(failed.error) and failed.audio_name is None
    assert not ctx.storage.exists(f"transcriptions/{poison}.webm")  # a child's voice is not kept
    assert (TaskName.TRANSCRIBE.value, poison) not in ctx.enqueue.sent
    with ctx.sessions() as session:
        assert session.scalar(select(DeadLetter.kind).where(DeadLetter.ref == poison)) == "transcription"


def test_a_transcription_in_a_live_workers_hands_is_left_and_one_whose_message_is_lost_is_sent_again(ctx):
    with ctx.sessions.begin() as session:
        leases.beat(session, leases.this_process())
    held = _waiting(ctx, worker_id=leases.this_process().id)
    queued = _waiting(ctx, TranscriptionStatus.QUEUED, worker_id=None, age_s=3 * ctx.settings.TALES_LOST_GRACE_S + 1)
    in_queue = _waiting(ctx, TranscriptionStatus.QUEUED, worker_id=None, age_s=3 * ctx.settings.TALES_LOST_GRACE_S + 1)
    pipeline.reconcile(ctx, timedelta(seconds=900 * 3600), queued={in_queue})
    sent = {ref for _, ref in ctx.enqueue.sent}
    assert queued in sent and held not in sent and in_queue not in sent


def test_a_duplicate_message_does_nothing_while_a_live_worker_holds_the_transcription(ctx):
    with ctx.sessions.begin() as session:
        session.add(WorkerProcess(id="alive:1:x", host="elsewhere", pid=1, heartbeat_at=utcnow()))
    held = _waiting(ctx, worker_id="alive:1:x")
    with ctx.sessions.begin() as session:
        assert transcribe.claim(ctx, session, held) == (None, None)
    assert _row(ctx, held).worker_id == "alive:1:x"


def test_the_sweep_removes_recordings_no_waiting_transcription_points_to(ctx):
    waiting = _waiting(ctx, TranscriptionStatus.QUEUED, worker_id=None)
    finished = _waiting(ctx, TranscriptionStatus.DONE, worker_id=None)
    ctx.storage.write_bytes("transcriptions/" + "f" * 32 + ".webm", b"left by a web process killed before its commit")
    removed = transcribe.remove_stale_audio(ctx, timedelta(0))
    assert sorted(removed) == sorted([f"transcriptions/{finished}.webm", "transcriptions/" + "f" * 32 + ".webm"])
    assert ctx.storage.exists(f"transcriptions/{waiting}.webm")


def test_the_sweep_deletes_finished_transcripts_past_their_keep_and_leaves_the_rest(ctx):
    keep = ctx.settings.TALES_TRANSCRIPT_KEEP_S
    old_done = _waiting(ctx, TranscriptionStatus.DONE, worker_id=None, age_s=keep + 60)
    old_failed = _waiting(ctx, TranscriptionStatus.FAILED, worker_id=None, age_s=keep + 60)
    fresh_done = _waiting(ctx, TranscriptionStatus.DONE, worker_id=None, age_s=keep - 60)
    old_queued = _waiting(ctx, TranscriptionStatus.QUEUED, worker_id=None, age_s=keep + 60)  # still to be transcribed
    pipeline.remove_orphans(ctx, timedelta(hours=1))  # the hourly sweep
    assert _row(ctx, old_done) is None and _row(ctx, old_failed) is None
    assert _row(ctx, fresh_done) is not None and _row(ctx, old_queued) is not None


def test_transcripts_and_hints_pass_the_child_safety_list():
    text, hints = transcribe.child_safe("민호가 씨발 공원에서 놀았어요", {"name": "민호", "i_action": "씨발 놀다", "setting": "공원"})
    assert "씨발" not in text and "민호가" in text and "공원에서" in text
    assert hints == {"name": "민호", "setting": "공원"}


# Through a real worker process: the tiny Whisper, and an OpenAI-compatible speech server.

def _poll(client, headers, url: str, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url, headers=headers).json
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"transcription stayed {body['status']} past {timeout}s")


@pytest.fixture(scope="module")
def whisper_worker(worker_with, tiny_models):
    return worker_with(TALES_TRANSCRIBER="whisper", TALES_WHISPER_MODEL=str(tiny_models / "whisper"))


@pytest.mark.e2e
@pytest.mark.models
def test_the_tiny_whisper_transcribes_a_spoken_hint_and_the_recording_is_deleted(whisper_worker, db, service_env, tmp_path):
    from web import create_app

    app = create_app({**service_env, **whisper_worker.env})
    client = app.test_client()
    headers = user_headers(client)
    response = send(client, headers, spoken(SENTENCE, tmp_path), "hint.wav", "audio/wav")
    assert response.status_code == 202, response.text
    body = _poll(client, headers, response.json["url"])
    assert body["status"] == "done", body
    assert body["text"].strip() and isinstance(body["hints"], dict)
    [row] = rows(db)
    assert row.audio_name is None and row.source and row.duration_s and 0.5 < row.duration_s < 10
    assert not any(row.id in path.name for path in stored_recordings(service_env["DATA_DIR"]))

    # 75 s is over the 60 s limit: refused at once (a recording the web tier could not measure is
    # failed by the worker with the same reason: tests/test_transcription.py).
    korean_error(send(client, headers, tone_webm(75, tmp_path)), 400, "audio_too_long")


@pytest.fixture(scope="module")
def speech_server():
    from tests.openai_stub import ChatStub

    stub = ChatStub().start()
    yield stub
    stub.stop()


@pytest.mark.e2e
def test_a_speech_server_transcript_becomes_hints_naming_the_child_and_the_action(worker_with, speech_server, db, service_env, tmp_path):
    speech_server.transcribe = lambda form: SENTENCE
    worker = worker_with(TALES_TRANSCRIBER="openai", OPENAI_BASE_URL=speech_server.base_url, OPENAI_API_KEY="test-key",
                         TALES_SUGGESTER="kiwi")
    from web import create_app

    client = create_app({**service_env, **worker.env}).test_client()
    headers = user_headers(client)
    response = send(client, headers, spoken(SENTENCE, tmp_path), "hint.wav", "audio/wav")
    body = _poll(client, headers, response.json["url"])
    assert body["status"] == "done", body
    assert body["text"] == SENTENCE
    assert body["hints"]["name"] == "민호"
    assert "자전거" in body["hints"]["i_action"]
    assert body["hints"].get("setting") in (None, "공원")
    [row] = rows(db)
    assert row.audio_name is None and row.source.startswith("openai")
