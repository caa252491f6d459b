"""Start and stop extra Celery worker processes with their own environment (models, OpenAI stub)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def start_worker(env: dict[str, str], log_path: Path, timeout: float = 90) -> subprocess.Popen:
    """A real `talesrunner worker --queues gpu,cpu` process, once it says it is ready."""
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "talesrunner.cli", "worker", "--queues", "gpu,cpu"],
        cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )
    process.log_file = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("worker exited:\n" + log_path.read_text(errors="replace"))
        if "ready." in log_path.read_text(errors="replace"):
            return process
        time.sleep(0.2)
    stop_worker(process)
    raise RuntimeError("worker did not start:\n" + log_path.read_text(errors="replace"))


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.log_file.close()  # type: ignore[attr-defined]
