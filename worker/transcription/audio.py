"""A recording -> float32 mono samples at 16 kHz, with ffmpeg in a bounded subprocess.

ffmpeg reads what phones record (WebM/Opus, MP4/AAC) and everything else a parent may upload,
and a separate process keeps a decoder crash or a decompression bomb out of the worker. The
bounds are shared/ffmpeg.py's (the container sniffed, file and pipe protocols only, `-t`, the
output capped, a timeout). The length is checked on the decoded samples, before anything transcribes them.
PyAV (which faster-whisper brings) would decode in-process: a crash there would take the worker down.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from shared import ffmpeg
from shared.audio_input import (
    LENGTH_GRACE_S, NOT_AUDIO, SILENT, SNIFF_BYTES, TOO_LONG, UNREADABLE, AudioRefused, refused, sniff_audio,
)
from worker.errors import StageError
from worker.transcription.base import SAMPLE_RATE

__all__ = ["AudioRefused", "decode_audio", "loudest_rms"]

log = logging.getLogger(__name__)

BYTES_PER_SAMPLE = 4  # f32le
# Below this loudness (RMS of the loudest 100 ms, full scale 1.0; about -50 dBFS) nothing was said:
# Whisper, given silence, makes words up ("시청해 주셔서 감사합니다").
SILENCE_RMS = 0.003
MIN_SECONDS = 0.1
_NO_AUDIO_STREAM = ("matches no streams", "does not contain any stream", "Stream map '0:a:0'")


def ffmpeg_binary() -> str:
    """The ffmpeg on PATH; its absence is the operator's to fix (scripts/setup.sh installs it)."""
    found = ffmpeg.binary()
    if not found:
        raise StageError("ffmpeg is not installed on this worker: install the Debian package ffmpeg (scripts/setup.sh)")
    return found


def decode_audio(path: str | Path, *, max_seconds: float, timeout_s: float) -> np.ndarray:
    """Float32 mono samples at 16 kHz from the recording at `path`; AudioRefused when it is not one to transcribe.

    Refused: not audio by its first bytes, no audio stream, undecodable or too slow to decode
    (`unreadable`), longer than `max_seconds`, or silent. A missing file raises FileNotFoundError.
    """
    path = Path(path)
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES)
    container = sniff_audio(head)
    if container is None:
        raise refused(NOT_AUDIO)
    decoded = ffmpeg.decode(ffmpeg_binary(), path, container, limit_s=max_seconds + 1.0, rate=SAMPLE_RATE,
                            sample_format="f32le", bytes_per_sample=BYTES_PER_SAMPLE, timeout_s=timeout_s)
    data, code, errors, timed_out = decoded.data, decoded.code, decoded.errors, decoded.timed_out
    if timed_out:
        log.warning("ffmpeg took longer than %g s decoding %s (%s); refused", timeout_s, path.name, container)
        raise refused(UNREADABLE)
    if code != 0 and (not data or any(marker in errors for marker in _NO_AUDIO_STREAM)):
        log.info("ffmpeg could not decode %s as %s (exit %s): %s", path.name, container, code, errors[-500:])
        raise refused(NOT_AUDIO if any(marker in errors for marker in _NO_AUDIO_STREAM) else UNREADABLE)
    samples = np.frombuffer(data[: len(data) // BYTES_PER_SAMPLE * BYTES_PER_SAMPLE], dtype="<f4")
    # A float WAV may carry NaN or values past full scale; the models expect neither.
    samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0).astype(np.float32)
    seconds = len(samples) / SAMPLE_RATE
    if seconds > max_seconds + LENGTH_GRACE_S:
        raise refused(TOO_LONG, max_seconds=max_seconds)
    if seconds < MIN_SECONDS or loudest_rms(samples) < SILENCE_RMS:
        raise refused(SILENT)
    return samples


def loudest_rms(samples: np.ndarray, frame_s: float = 0.1) -> float:
    """The RMS of the loudest `frame_s` of the samples (0.0 when there are none)."""
    frame = max(1, int(frame_s * SAMPLE_RATE))
    whole = samples[: max(frame, len(samples) // frame * frame)]
    if not len(whole):
        return 0.0
    if len(whole) < frame:
        return float(np.sqrt(np.mean(np.square(whole, dtype=np.float64))))
    return float(np.sqrt(np.square(whole.reshape(-1, frame), dtype=np.float64).mean(axis=1).max()))
