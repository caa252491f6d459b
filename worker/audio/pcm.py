"""Sentence waveforms to one page's MP3: WAV reading, joining with pauses, sentence timings, LAME.

Waveforms are mono float32 numpy arrays in [-1, 1] at one sample rate per page. Every narrator
ends in `page_narration`, so the timings, the pause and the encoding are the same whichever voice reads.
"""
from __future__ import annotations

import logging
import struct

import numpy as np

from shared.audio import SentenceTiming
from worker.audio import Narration
from worker.errors import StageError

log = logging.getLogger(__name__)

# The sample rates an MP3 can carry (MPEG-1, MPEG-2 and MPEG-2.5).
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
EMPTY_PAGE_S = 0.5  # a page with nothing to read gets this much silence, so its audio still plays
_WAV_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}
_PCM, _EXTENSIBLE = 0x0001, 0xFFFE  # WAVE format tags read (WAVE_FORMAT_EXTENSIBLE taken as PCM)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sample rate of a PCM WAV file (8, 16 or 32 bit; channels averaged).

    The frames are the bytes after the data chunk's header: espeak-ng writes a placeholder length
    there and streaming servers write 0 (in the RIFF header too), so a length is believed only
    when the bytes hold it.
    """
    rate, channels, width, frames = _riff_wav(data)
    if width not in _WAV_DTYPES or channels < 1 or rate <= 0:
        raise ValueError(f"unsupported WAV: {width * 8}-bit, {channels} channel(s), {rate} Hz")
    usable = len(frames) - len(frames) % (width * channels)
    samples = np.frombuffer(frames[:usable], dtype=_WAV_DTYPES[width]).astype(np.float32)
    if width == 1:
        samples = (samples - 128.0) / 128.0
    else:
        samples /= float(2 ** (8 * width - 1))
    return samples.reshape(-1, channels).mean(axis=1), rate


def _riff_wav(data: bytes) -> tuple[int, int, int, bytes]:
    """Rate, channels, bytes per sample and the data chunk's bytes of a RIFF WAVE file.

    The data chunk is as long as its header says when that is not 0 and the file holds it, else
    everything after its header (a length the writer did not know yet).
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a PCM WAV file: no RIFF WAVE header")
    form: tuple[int, int, int] | None = None
    at = 12
    while at + 8 <= len(data):
        kind, size = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
        body = at + 8
        if kind == b"fmt " and size >= 16 and body + 16 <= len(data):
            tag, channels, rate = struct.unpack_from("<HHI", data, body)
            bits = struct.unpack_from("<H", data, body + 14)[0]
            if tag not in (_PCM, _EXTENSIBLE):
                raise ValueError(f"not a PCM WAV file: format {tag:#x}")
            form = (rate, channels, (bits + 7) // 8)
        elif kind == b"data":
            if form is None:
                raise ValueError("not a PCM WAV file: data before its format")
            end = body + size
            return (*form, data[body:end] if 0 < size and end <= len(data) else data[body:])
        at = body + size + size % 2  # chunks are padded to an even length
    raise ValueError("not a PCM WAV file: no data chunk")


def resample(samples: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """Linear interpolation to another rate: enough for speech going into a 48 kbps MP3."""
    if rate == to_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    count = max(1, round(samples.size * to_rate / rate))
    positions = np.arange(count, dtype=np.float64) * (rate / to_rate)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)


def mp3_rate(rate: int) -> int:
    """The sample rate the page is encoded at: its own where MP3 has it, else the next one up."""
    if rate in MP3_RATES:
        return rate
    return next((r for r in MP3_RATES if r > rate), MP3_RATES[-1])


def join(waves: list[np.ndarray], rate: int, pause_s: float) -> np.ndarray:
    """The sentences one after another with `pause_s` of silence between them (none after the last)."""
    pause = np.zeros(round(pause_s * rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for i, samples in enumerate(waves):
        if i:
            pieces.append(pause)
        pieces.append(samples.astype(np.float32, copy=False))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def timings(sentences: list[str], waves: list[np.ndarray], rate: int, pause_s: float) -> tuple[SentenceTiming, ...]:
    """Where each sentence is spoken in `join(waves, rate, pause_s)`, counted in whole samples so the
    last end is exactly the joined length."""
    pause = round(pause_s * rate)
    result, at = [], 0
    for i, (text, samples) in enumerate(zip(sentences, waves, strict=True)):
        if i:
            at += pause
        result.append(SentenceTiming(text=text, start=at / rate, end=(at + samples.size) / rate))
        at += samples.size
    return tuple(result)


def to_mp3(samples: np.ndarray, rate: int, kbps: int) -> bytes:
    """Mono constant-bit-rate MP3 of float samples; `rate` must be one of MP3_RATES."""
    import lameenc

    if rate not in MP3_RATES:
        raise ValueError(f"MP3 has no {rate} Hz sample rate")
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    encoder = lameenc.Encoder()
    # A bit rate the rate's MPEG version lacks (MPEG-2 stops at 160 kbps) LAME moves to the nearest it has.
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(2)
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def page_narration(sentences: list[str], waves: list[np.ndarray], rate: int, pause_s: float, kbps: int) -> Narration:
    """One page's Narration from its sentences' waveforms (all at `rate`)."""
    to_rate = mp3_rate(rate)
    waves = [resample(samples, rate, to_rate) for samples in waves]
    waves_joined = join(waves, to_rate, pause_s)
    spoken = timings(sentences, waves, to_rate, pause_s)
    if waves_joined.size == 0:
        # No sentences, or none the voice could say (emoji, punctuation only): a little silence, so
        # the page's audio still plays; no sentence is timed.
        waves_joined = np.zeros(round(EMPTY_PAGE_S * to_rate), dtype=np.float32)
        spoken = ()
    data = to_mp3(waves_joined, to_rate, kbps)
    if not data:
        raise StageError("읽어 주는 소리를 파일로 만들지 못했어요.")
    return Narration(data=data, media_type="audio/mpeg", duration=waves_joined.size / to_rate, sentences=spoken)
