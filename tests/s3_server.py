"""A local S3-compatible server for the tests: moto's standalone server, over real HTTP on loopback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

# moto accepts any credentials; boto3 needs some, and a region, the way it reads them in production.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server(log_path: Path, timeout: float = 30) -> Iterator[str]:
    """Start `python -m moto.server` on a free loopback port; yields its endpoint URL."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS})
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError("moto server exited:\n" + log_path.read_text(errors="replace"))
                try:
                    requests.get(endpoint, timeout=2)
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"moto server did not answer on {endpoint}") from None
                    time.sleep(0.2)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def s3_env(endpoint: str, bucket: str, prefix: str = "") -> dict[str, str]:
    """The settings web and workers need to share this bucket."""
    return {"TALES_STORAGE": "s3", "TALES_S3_BUCKET": bucket, "TALES_S3_ENDPOINT_URL": endpoint,
            "TALES_S3_PREFIX": prefix, **CREDENTIALS}
