"""Child `python -m talesrunner.cli ...` processes for the demo and the tests: start, wait until ready, stop."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Self

import requests

# What a Celery worker logs once it takes tasks ("celery@host ready.").
WORKER_READY = "ready."


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server about to start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """One running `talesrunner` command, its output going to a log file; a context manager that stops it."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.args, self.log_path, self.env = args, log_path, dict(env or {})
        self._log: BinaryIO = open(log_path, "wb")  # noqa: SIM115 - closed by stop()
        # Its own session: a Ctrl-C in the terminal reaches only the parent, which then stops
        # its children in order instead of every process shutting down at once.
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "talesrunner.cli", *args], cwd=cwd, env={**os.environ, **self.env},
                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """Everything it has written so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float = 90.0) -> None:
        """Return once `text` appears in its log; raise with the log if it exits or the time runs out."""
        self._wait(lambda: text in self.log(), timeout, lambda: f"did not log {text!r}")

    def wait_for_url(self, url: str, timeout: float = 60.0) -> None:
        """Return once `url` answers 200; raise with the log if it exits or the time runs out."""
        last = "not listening yet"

        def healthy() -> bool:
            nonlocal last
            try:
                response = requests.get(url, timeout=10)
            except requests.RequestException as exc:  # not listening yet, or gunicorn's workers still booting
                last = type(exc).__name__
                return False
            last = response.text
            return response.status_code == 200

        self._wait(healthy, timeout, lambda: f"did not answer 200 at {url}: {last}")

    def _wait(self, ready: Callable[[], bool], timeout: float, failure: Callable[[], str]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"`talesrunner {' '.join(self.args)}` exited during start-up "
                                   f"(see {self.log_path}):\n{self.log()}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"`talesrunner {' '.join(self.args)}` {failure()} within {timeout:.0f}s "
                           f"(see {self.log_path}):\n{self.log()}")

    def stop(self) -> None:
        """Ask it to stop (SIGTERM: Celery's warm shutdown), kill it after 20 s, close its log."""
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
