"""Prometheus plumbing both tiers share: one multiprocess folder per server, and scrape output.

gunicorn workers and Celery's prefork children are separate processes, so metrics use
prometheus-client's multiprocess mode: each process writes its values to files in the
folder named by PROMETHEUS_MULTIPROC_DIR, and a scrape adds them up. The variable must be
set before prometheus_client is first imported, which is why the command line calls
`prepare_multiprocess_dir` before it imports the web app or the worker.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(kind: str) -> Path:
    """A fresh folder for this server's processes, under PROMETHEUS_MULTIPROC_DIR (or the temp dir).

    Each server (a gunicorn master and its workers, one Celery worker and its children) gets
    its own subfolder, so two servers on one host never add up or wipe each other's values.
    """
    base = Path(os.environ.get(ENV) or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    # A scrape reads only the folder's own *.db files, so a folder nested in another's is not counted twice.
    folder = Path(tempfile.mkdtemp(prefix=f"talesrunner-{kind}-{os.getpid()}-", dir=base))
    os.environ[ENV] = str(folder)
    atexit.register(_remove, folder, os.getpid())
    # Imported now, with the folder set: gunicorn calls mark_dead from its SIGCHLD handler, where a
    # first import could interrupt another one half-way.
    import prometheus_client.multiprocess  # noqa: F401
    return folder


def _remove(folder: Path, owner: int) -> None:
    # Forked workers inherit atexit hooks; only the process that made the folder may remove it.
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)


def multiprocess() -> bool:
    return bool(os.environ.get(ENV))


def registry(*extra):
    """A registry of every process's metrics (or this process's alone), plus `extra` collectors."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if not multiprocess() and not extra:
        return REGISTRY
    combined = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(combined)
    else:
        combined.register(_Forward(REGISTRY))  # one process (tests, --dev): the metrics live in REGISTRY
    for collector in extra:
        combined.register(collector)
    return combined


class _Forward:
    def __init__(self, source):
        self.source = source

    def collect(self):
        return self.source.collect()


def scrape(*extra) -> bytes:
    """The text exposition of every process's metrics, plus `extra` collectors computed now."""
    from prometheus_client import generate_latest

    return generate_latest(registry(*extra))


def mark_dead(pid: int) -> None:
    """Forget a finished process's live gauges (counters and histograms keep their totals)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(pid)
