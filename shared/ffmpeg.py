"""ffmpeg in a bounded subprocess: decode a recording to raw samples, for the web tier's length check
and the worker's transcription (worker/transcription/audio.py).

The bounds: the container is the one sniffed from the file's first bytes (`-f`, so ffmpeg never
guesses and never opens a playlist or a concat script), only the file and pipe protocols, one
output second past the limit at most (`-t`), the output read no further than that many bytes, a
clean environment, and a wall-clock timeout. Standard library only.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from shared.audio_input import DEMUXERS


@dataclass(frozen=True)
class Decoded:
    data: bytes  # raw samples, at most the cap asked for
    code: int | None  # ffmpeg's exit status
    errors: str  # the end of its stderr
    timed_out: bool


def binary() -> str | None:
    """The ffmpeg on PATH, or None (scripts/setup.sh and the Dockerfile install it)."""
    return shutil.which("ffmpeg")


def decode(ffmpeg: str, path: Path, container: str, *, limit_s: float, rate: int, sample_format: str,
           bytes_per_sample: int, timeout_s: float) -> Decoded:
    """The first `limit_s` seconds of the recording at `path` as mono `sample_format` samples at `rate` Hz."""
    cap = int(limit_s * rate) * bytes_per_sample + 4096
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "file,pipe", "-f", DEMUXERS[container], "-i", f"file:{path.resolve()}",
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{limit_s:g}",
        "-ac", "1", "-ar", str(rate), "-f", sample_format, "-threads", "1", "pipe:1",
    ]
    return _run(command, cap, timeout_s)


def _run(command: list[str], cap: int, timeout_s: float) -> Decoded:
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                   env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            process.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        chunks: list[bytes] = []
        size = 0
        try:
            assert process.stdout is not None
            while chunk := process.stdout.read(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:  # cannot happen with -t, unless ffmpeg ignores it: stop reading either way
                    process.kill()
                    break
            code = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        stderr.seek(0)
        errors = stderr.read()[-4000:].decode("utf-8", "replace")
    return Decoded(b"".join(chunks)[:cap], code, errors, killed.is_set())


def seconds_of(path: Path, container: str, *, max_seconds: float, timeout_s: float) -> float | None:
    """How long the recording is, up to one second past `max_seconds`, decoded at 8 kHz (cheap: about
    1 MB of output for a minute); None when ffmpeg is absent or cannot read it (the worker's decode says why).

    A phone's WebM does not state its length, so the only sure measure is decoding it.
    """
    ffmpeg = binary()
    if ffmpeg is None:
        return None
    rate = 8000
    decoded = decode(ffmpeg, path, container, limit_s=max_seconds + 1.0, rate=rate, sample_format="s16le",
                     bytes_per_sample=2, timeout_s=timeout_s)
    if decoded.timed_out or (decoded.code != 0 and not decoded.data):
        return None
    return len(decoded.data) / 2 / rate
