"""Spoken hints as they arrive: which audio container a file is, the limits, what a refused one tells parents.

The web tier sniffs a recording's first bytes before it stores anything (a file's name and
Content-Type are the sender's word, not the file's); the worker decodes it with ffmpeg forced to
the container sniffed here (worker/transcription/audio.py), so a playlist or a concat script
dressed as audio is never opened. Nothing here imports more than the standard library.
"""
from __future__ import annotations

# A phone's recording: 60 s of Opus (Android, desktop Chrome) or AAC (iOS Safari) is well under
# 1 MB; 60 s of 48 kHz 16-bit stereo WAV from a desktop recorder is 11 MB, so the limit admits that.
MAX_AUDIO_SECONDS = 60.0
# A recording stopped at the limit may run a few frames past it (MediaRecorder stops on a timer).
LENGTH_GRACE_S = 0.5
MAX_AUDIO_BYTES = 12 * 1024 * 1024
# Bytes sniff_audio needs to name every container it knows.
SNIFF_BYTES = 64

# What sniff_audio answers, each the file's extension too, and the ffmpeg demuxer that reads it.
DEMUXERS: dict[str, str] = {
    "webm": "matroska",  # WebM and Matroska: one demuxer for both
    "ogg": "ogg",
    "mp4": "mov",  # MP4, M4A, 3GP: ISO base media files
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "aac": "aac",  # raw AAC in ADTS frames
    "amr": "amr",
}
MEDIA_TYPES: dict[str, str] = {
    "webm": "audio/webm", "ogg": "audio/ogg", "mp4": "audio/mp4", "wav": "audio/wav", "mp3": "audio/mpeg",
    "flac": "audio/flac", "aac": "audio/aac", "amr": "audio/amr",
}

# Why a recording was refused (AudioRefused.code; the API's error code may reuse them).
NOT_AUDIO = "not_audio"
TOO_LONG = "too_long"
TOO_LARGE = "too_large"
UNREADABLE = "unreadable"
SILENT = "silent"


def too_long_message(max_seconds: float = MAX_AUDIO_SECONDS) -> str:
    return f"녹음이 너무 길어요. {max_seconds:g}초 안으로 짧게 말해 주세요."


def too_large_message(max_bytes: int = MAX_AUDIO_BYTES) -> str:
    return f"소리 파일이 너무 커요. {max_bytes / 2**20:.0f}MB보다 작은 파일을 보내 주세요."


NOT_AUDIO_MESSAGE = "소리 파일이 아니에요. 녹음한 파일(WebM, M4A·MP4, OGG, MP3, WAV, FLAC)을 보내 주세요."
UNREADABLE_MESSAGE = "소리 파일을 읽을 수 없어요. 망가졌을 수 있으니 다시 녹음해 주세요."
SILENT_MESSAGE = "목소리가 들리지 않아요. 마이크 가까이에서 다시 말해 주세요."


class AudioRefused(ValueError):
    """A recording the service will not transcribe: `message_ko` for the parent, `code` for logs and the API."""

    def __init__(self, message_ko: str, code: str):
        super().__init__(message_ko)
        self.message_ko = message_ko
        self.code = code


def refused(code: str, *, max_seconds: float = MAX_AUDIO_SECONDS, max_bytes: int = MAX_AUDIO_BYTES) -> AudioRefused:
    """The refusal for `code`, its message naming the limit that applies."""
    messages = {
        NOT_AUDIO: NOT_AUDIO_MESSAGE, UNREADABLE: UNREADABLE_MESSAGE, SILENT: SILENT_MESSAGE,
        TOO_LONG: too_long_message(max_seconds), TOO_LARGE: too_large_message(max_bytes),
    }
    return AudioRefused(messages[code], code)


def sniff_audio(head: bytes) -> str | None:
    """The audio container the first bytes of a file belong to (a key of DEMUXERS), or None.

    Signatures: EBML (WebM, Matroska), OggS, an ISO `ftyp` box (MP4, M4A, 3GP), RIFF…WAVE, ID3 or
    an MPEG audio frame header (MP3), fLaC, an ADTS frame header (AAC), #!AMR. Text, images
    (a JPEG starts FF D8, which no MPEG frame header does) and anything else answer None.
    """
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"OggS"):
        return "ogg"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 4 and head[0] == 0xFF:
        return _frame_sync(head)
    return None


def _frame_sync(head: bytes) -> str | None:
    """An ADTS (AAC) or MPEG audio (MP3) frame header at the start, else None."""
    second, third = head[1], head[2]
    if second & 0xF6 == 0xF0:  # 12 sync bits, layer 00: ADTS
        return "aac" if (third >> 2) & 0x0F < 13 else None  # a sampling-frequency index that exists
    layer = (second >> 1) & 0x03
    version = (second >> 3) & 0x03
    bitrate, rate = third >> 4, (third >> 2) & 0x03
    if second & 0xE0 == 0xE0 and layer != 0 and version != 1 and bitrate not in (0, 15) and rate != 3:
        return "mp3"
    return None
