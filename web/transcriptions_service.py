"""Spoken hints on the web tier: a recording checked, stored and queued; its transcription read back.

Every limit is checked before anything is stored and before a single sample is decoded: the
body's size (from Content-Length and again while the part is read), the file's own first bytes
(real audio, whatever its name or Content-Type says), the caller's rate (web/security.py), and
its length in seconds: a phone's recording (WebM from MediaRecorder) does not say how long it is,
so it is decoded once at 8 kHz by ffmpeg in a bounded subprocess (shared/ffmpeg.py; about 1 MB of
output for a minute) before it is stored. Where ffmpeg cannot tell, the worker's decode
(worker/pipeline/transcribe.py) checks the length again and fails it with the same message.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import request
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from shared import ffmpeg
from shared.audio_input import (
    LENGTH_GRACE_S, NOT_AUDIO, NOT_AUDIO_MESSAGE, SNIFF_BYTES, sniff_audio, too_large_message, too_long_message,
)
from shared.config import Settings
from shared.jobs import TaskName
from shared.models import Transcription, TranscriptionStatus, User
from web.books_service import enqueue, storage
from web.db import current_settings, get_session
from web.errors import ApiError

FIELD = "audio"
TRANSCRIPTION_ID = re.compile(r"[0-9a-f]{32}")
# Room for the multipart envelope around the one file (boundaries, part headers, a file name).
ENVELOPE_BYTES = 16 * 1024

OFF = "이 서버는 음성 힌트를 받지 않아요. 힌트를 글로 적어 주세요."
NO_AUDIO = "녹음한 소리나 소리 파일을 ‘audio’ 칸에 넣어 보내 주세요."
NOT_FOUND = "찾는 음성 힌트가 없어요."
# How long the web tier's one decode (to learn a recording's length) may take; a minute of Opus takes well under a second.
LENGTH_CHECK_TIMEOUT_S = 10.0


def too_large(config: Settings) -> str:
    return too_large_message(config.TALES_MAX_AUDIO_BYTES)


def transcriber_on(config: Settings) -> bool:
    """Whether this server takes spoken hints (TALES_TRANSCRIBER other than none)."""
    return config.TALES_TRANSCRIBER != "none"


@dataclass(frozen=True)
class Recording:
    data: bytes
    format: str  # what sniff_audio named it: the stored file's extension too


def read_recording(config: Settings) -> Recording:
    """The one `audio` part of this request, within TALES_MAX_AUDIO_BYTES and really audio; 4xx otherwise.

    The body is refused by its declared length before it is read, and read no further than the
    limit when it declares none (chunked), so a large upload costs the web process nothing.
    """
    if not transcriber_on(config):
        raise ApiError(404, "voice_hints_off", OFF, FIELD)
    limit = config.TALES_MAX_AUDIO_BYTES + ENVELOPE_BYTES
    if (request.content_length or 0) > limit:
        raise ApiError(413, "audio_too_large", too_large(config), FIELD)
    request.max_content_length = limit  # werkzeug stops reading a body without a length here
    try:
        file: FileStorage | None = request.files.get(FIELD)
    except RequestEntityTooLarge:
        raise ApiError(413, "audio_too_large", too_large(config), FIELD) from None
    if file is None:
        raise ApiError(400, "no_audio", NO_AUDIO, FIELD)
    data = file.read(config.TALES_MAX_AUDIO_BYTES + 1)
    if len(data) > config.TALES_MAX_AUDIO_BYTES:
        raise ApiError(413, "audio_too_large", too_large(config), FIELD)
    if not data:
        raise ApiError(400, "no_audio", NO_AUDIO, FIELD)
    kind = sniff_audio(data[:SNIFF_BYTES])
    if kind is None:
        raise ApiError(400, NOT_AUDIO, NOT_AUDIO_MESSAGE, FIELD)
    seconds = recording_seconds(data, kind, config)
    if seconds is not None and seconds > config.TALES_MAX_AUDIO_S + LENGTH_GRACE_S:
        raise ApiError(400, "audio_too_long", too_long_message(config.TALES_MAX_AUDIO_S), FIELD)
    return Recording(data, kind)


def recording_seconds(data: bytes, kind: str, config: Settings) -> float | None:
    """The recording's length up to a second past the limit, or None where ffmpeg cannot tell."""
    with tempfile.TemporaryDirectory(prefix="talesrunner-audio-") as folder:
        path = Path(folder) / f"recording.{kind}"
        path.write_bytes(data)
        return ffmpeg.seconds_of(path, kind, max_seconds=config.TALES_MAX_AUDIO_S, timeout_s=LENGTH_CHECK_TIMEOUT_S)


def audio_name(transcription_id: str, kind: str) -> str:
    """Where a recording waits for the worker; one flat folder, so the sweep lists it in one call."""
    return f"transcriptions/{transcription_id}.{kind}"


def create(user: User, recording: Recording) -> Transcription:
    """Store the recording and its row, commit, then enqueue the transcription."""
    db = get_session()
    row = Transcription(user_id=user.id, status=TranscriptionStatus.QUEUED, audio_format=recording.format)
    db.add(row)
    db.flush()
    name = row.audio_name = audio_name(row.id, recording.format)
    try:
        storage().write_bytes(name, recording.data)
        enqueue(TaskName.TRANSCRIBE, row.id)
        db.commit()
    except BaseException:
        db.rollback()
        storage().remove(name)
        raise
    return row


def owned(user: User, transcription_id: str) -> Transcription:
    """The caller's transcription, or 404: someone else's does not exist for them."""
    if not TRANSCRIPTION_ID.fullmatch(transcription_id):
        raise ApiError(404, "not_found", NOT_FOUND)
    row = get_session().scalar(
        select(Transcription).where(Transcription.id == transcription_id, Transcription.user_id == user.id)
    )
    if row is None:
        raise ApiError(404, "not_found", NOT_FOUND)
    return row


def as_json(row: Transcription, url: str) -> dict:
    """The public view: the text and hints once done, the Korean reason once failed."""
    data: dict = {"id": row.id, "url": url, "status": row.status.value}
    if row.status is TranscriptionStatus.DONE:
        data["text"] = row.text or ""
        data["hints"] = dict(row.hints or {})
    if row.status is TranscriptionStatus.FAILED:
        data["error"] = row.error
    return data


def page_flags() -> dict:
    """What the new-book form needs to know: whether to offer the record buttons, and where the audio goes."""
    config = current_settings()
    leaves = config.TALES_TRANSCRIBER == "openai"
    return {"voice_on": transcriber_on(config), "voice_max_s": int(config.TALES_MAX_AUDIO_S),
            "voice_max_bytes": config.TALES_MAX_AUDIO_BYTES,
            "voice_host": urlsplit(config.OPENAI_BASE_URL or "https://api.openai.com").hostname if leaves else None}
