"""Spoken hints: one recording decoded, transcribed and parsed into scene hints; the recording deleted.

A transcription is claimed as a book is (`take`: queued or running, a live holder means this
run is a duplicate, a dead one counts as a lost run), and the recording is removed as soon as
its text is stored or it fails for good: a child's voice is not kept. What the parent may read
back went through the child-safety list (shared/safety.py) as typed hints do.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.jobs import TaskName
from shared.leases import is_gone
from shared.models import DeadLetter, Transcription, TranscriptionStatus, utcnow
from shared.safety import find_unsafe
from worker.errors import StageError
from worker.pipeline.context import Context

log = logging.getLogger(__name__)

WAITING = (TranscriptionStatus.QUEUED, TranscriptionStatus.RUNNING)
SAMPLE_RATE = 16_000  # what decode_audio gives the transcribers
# Seconds a recording may take to decode (ffmpeg in a bounded subprocess) before it is refused.
DECODE_TIMEOUT_S = 60.0

# What the parent reads beside the record button when a transcription failed.
LOST = "녹음을 글로 바꾸는 동안 작업이 {runs}번 멈춰서 더 시도하지 않았어요. 조금 짧게 다시 녹음해 주세요."
GONE = "녹음 파일을 찾을 수 없어요. 다시 녹음해 주세요."
OFF = "이 서버는 음성 힌트를 받지 않아요. 힌트를 글로 적어 주세요."
NOTHING_HEARD = "목소리를 알아듣지 못했어요. 조용한 곳에서 또박또박 다시 말해 주세요."
TRY_LATER = "녹음을 글로 바꾸는 서버에 연결하지 못했어요. 잠시 후 다시 보내 주세요."
UNEXPECTED = "녹음을 글로 바꾸지 못했어요. 다시 녹음해 주세요."
MASK = "○"


def transcribe_stage(ctx: Context, transcription_id: str) -> None:
    """Claim, decode, transcribe, parse and store one spoken hint; the recording is deleted after."""
    from worker.ml.spoken_hints import hints_from_transcript  # the parser and the models: loaded by the first task
    from worker.transcription import get_transcriber
    from worker.transcription.audio import AudioRefused, decode_audio

    with ctx.sessions.begin() as session:
        row, given_up = claim(ctx, session, transcription_id)
        name = row.audio_name if row is not None else None
    if given_up:
        ctx.storage.remove(given_up)
    if row is None:
        return
    if name is None:
        finish(ctx, transcription_id, error=GONE)
        return
    transcriber = get_transcriber(ctx.settings)
    if transcriber is None:  # this worker was configured without one while the web tier took the recording
        finish(ctx, transcription_id, error=OFF)
        return
    try:
        with ctx.storage.local_copy(name) as path:
            samples = decode_audio(path, max_seconds=ctx.settings.TALES_MAX_AUDIO_S, timeout_s=DECODE_TIMEOUT_S)
    except FileNotFoundError:
        finish(ctx, transcription_id, error=GONE)
        return
    except AudioRefused as refused:
        log.info("transcription %s refused its audio: %s", transcription_id, getattr(refused, "code", refused))
        finish(ctx, transcription_id, error=refused.message_ko)
        return
    transcript = transcriber.transcribe(samples)
    text, hints = child_safe(transcript.text.strip(), hints_from_transcript(transcript.text, ctx.settings))
    finish(ctx, transcription_id, text=text, hints=hints, source=transcript.source, duration_s=len(samples) / SAMPLE_RATE,
           error=None if text else NOTHING_HEARD)


def claim(ctx: Context, session: Session, transcription_id: str) -> tuple[Transcription | None, str | None]:
    """The transcription for this process (now running), or None: done, deleted, or in a live worker's hands.

    A holder that died counts as a lost run; the last one TALES_MAX_LOST_RUNS allows fails it, and
    the name of its recording comes back second, for the caller to delete once this commits.
    """
    row = session.get(Transcription, transcription_id, with_for_update=True, populate_existing=True)
    if row is None or row.status not in WAITING:
        return None, None
    if row.worker_id not in (None, ctx.worker_id):
        if not is_gone(session, row.worker_id, ctx.settings):
            return None, None
        given_up = count_lost_run(ctx, session, row)
        if given_up is not False:
            return None, given_up
    row.status, row.worker_id, row.updated_at = TranscriptionStatus.RUNNING, ctx.worker_id, utcnow()
    return row, None


def count_lost_run(ctx: Context, session: Session, row: Transcription) -> str | None | bool:
    """One worker death on `row`. False while it may run again; else it is failed (a dead letter kept)
    and what comes back is its recording's name (None if it had none), to delete after the commit."""
    row.lost_runs = (row.lost_runs or 0) + 1
    row.worker_id = None
    if row.lost_runs < ctx.settings.TALES_MAX_LOST_RUNS:
        return False
    _end(row, TranscriptionStatus.FAILED, error=LOST.format(runs=row.lost_runs))
    session.add(DeadLetter(kind="transcription", ref=row.id, task=TaskName.TRANSCRIBE.value,
                           reason=f"the worker died {row.lost_runs} times while transcribing"))
    name, row.audio_name = row.audio_name, None
    return name


def finish(ctx: Context, transcription_id: str, *, text: str | None = None, hints: dict | None = None,
           source: str | None = None, duration_s: float | None = None, error: str | None = None) -> None:
    """Store how the transcription ended (done, or failed with `error`), then delete its recording.

    Only a run that still holds it writes: one the reconciler gave to another worker meanwhile
    leaves it to that one. The row is committed before the file goes, so a crash in between
    leaves a file no row points to, which the sweep removes (`remove_stale_audio`).
    """
    with ctx.sessions.begin() as session:
        row = session.get(Transcription, transcription_id, with_for_update=True, populate_existing=True)
        if row is None or row.status is not TranscriptionStatus.RUNNING or row.worker_id != ctx.worker_id:
            log.info("transcription %s ended here but is no longer this worker's; left as it is", transcription_id)
            return
        name = row.audio_name
        if error is None:
            row.text, row.hints, row.source, row.duration_s = text, hints, source, duration_s
        _end(row, TranscriptionStatus.FAILED if error else TranscriptionStatus.DONE, error=error)
        row.audio_name = None
    if name:
        ctx.storage.remove(name)


def fail_transcription(ctx: Context, transcription_id: str, exc: BaseException, transient: bool) -> None:
    """After an error no retry will mend: the transcription failed with a Korean reason, its recording deleted."""
    if transient:
        log.warning("transcription %s gave up after its retries: %s", transcription_id, exc)
        reason = TRY_LATER
    elif isinstance(exc, StageError):  # ffmpeg or the Whisper model missing on this worker: the operator's to fix
        log.warning("transcription %s failed: %s", transcription_id, exc)
        missing = getattr(exc, "missing", None)
        reason = f"{missing.slot.korean}. 힌트를 글로 적어 주세요." if missing is not None else UNEXPECTED
    else:
        log.error("transcription %s failed", transcription_id, exc_info=exc)
        reason = UNEXPECTED
    finish(ctx, transcription_id, error=reason)


def release_transcription(ctx: Context, transcription_id: str) -> None:
    """Let go of a transcription that will be tried again later, maybe by another process."""
    if ctx.worker_id is None:
        return
    try:
        with ctx.sessions.begin() as session:
            row = session.get(Transcription, transcription_id, with_for_update=True, populate_existing=True)
            if row is not None and row.worker_id == ctx.worker_id:
                row.worker_id = None
    except Exception:  # the lease runs out on its own
        log.warning("could not release transcription %s", transcription_id, exc_info=True)


def _end(row: Transcription, status: TranscriptionStatus, *, error: str | None) -> None:
    row.status, row.error, row.worker_id, row.updated_at = status, error, None, utcnow()


def child_safe(text: str, hints: dict) -> tuple[str, dict]:
    """The transcript with unfit words masked, and only the hints fit for a children's book."""
    words = [MASK * len(word) if find_unsafe(word) else word for word in text.split(" ")]
    text = " ".join(words)
    if find_unsafe(text):  # a phrase no single word gives away: the parent gets the hints only
        text = ""
    kept = {key: value for key, value in hints.items() if value and not find_unsafe(str(value))}
    return text, kept


def reconcile_transcriptions(ctx: Context, queued: set[str] | None, cutoff: datetime, grace: datetime) -> list[str]:
    """Send again every transcription whose work was lost, as the reconciler does for books; the ids sent.

    Lost: held by a worker that is gone (a lost run, counted), or waiting with no holder and no
    message in any queue for TALES_LOST_GRACE_S, or unmoved since `cutoff`.
    """
    resent: list[str] = []
    given_up: list[str] = []
    with ctx.sessions.begin() as session:
        rows = session.scalars(
            select(Transcription).where(Transcription.status.in_(list(WAITING))).order_by(Transcription.id)
            .with_for_update(skip_locked=True)
        ).all()
        now = utcnow()
        for row in rows:
            if row.worker_id is not None and ctx.settings.TALES_LEASES:
                if not is_gone(session, row.worker_id, ctx.settings):
                    continue  # a live worker has it in hand
                name = count_lost_run(ctx, session, row)
                if name is not False:
                    log.error("transcription %s stopped its worker %d times; failed", row.id, row.lost_runs)
                    given_up += [name] if name else []
                    continue
            elif not (row.updated_at <= cutoff or (queued is not None and row.id not in queued and row.updated_at <= grace)):
                continue
            row.worker_id, row.updated_at = None, now
            ctx.enqueue(session, TaskName.TRANSCRIBE, row.id)
            resent.append(row.id)
    for name in given_up:
        ctx.storage.remove(name)
    if resent:
        log.warning("reconciler re-enqueued %d transcription(s): %s", len(resent), ", ".join(resent))
    return resent


def remove_old_transcripts(ctx: Context) -> int:
    """Delete finished transcriptions (text and hints) that ended TALES_TRANSCRIPT_KEEP_S ago; how many.

    The form reads a transcription while the parent fills it in; what the parent accepted is in
    the book's own hints by then, so the child's words are not kept beyond that.
    """
    cutoff = utcnow() - timedelta(seconds=ctx.settings.TALES_TRANSCRIPT_KEEP_S)
    with ctx.sessions.begin() as session:
        gone = session.execute(delete(Transcription).where(
            Transcription.status.in_([TranscriptionStatus.DONE, TranscriptionStatus.FAILED]),
            Transcription.updated_at <= cutoff).execution_options(synchronize_session=False)).rowcount
    if gone:
        log.info("deleted %d finished transcription(s) past TALES_TRANSCRIPT_KEEP_S", gone)
    return gone


def remove_stale_audio(ctx: Context, older_than: timedelta) -> list[str]:
    """Delete stored recordings that no waiting transcription points to, untouched for `older_than`.

    Left by a web process killed between storing a recording and committing its row, a worker
    killed between committing a result and deleting the file, or an account deleted meanwhile.
    """
    cutoff = utcnow() - older_than
    old = [name for name, written in ctx.storage.files_under("transcriptions") if written <= cutoff]
    if not old:
        return []
    with ctx.sessions() as session:
        wanted = set(session.scalars(select(Transcription.audio_name).where(
            Transcription.audio_name.in_(old), Transcription.status.in_(list(WAITING)))))
    removed = [name for name in old if name not in wanted]
    for name in removed:
        ctx.storage.remove(name)
    if removed:
        log.info("removed %d recording(s) no transcription waits for", len(removed))
    return removed
