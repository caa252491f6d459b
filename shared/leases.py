"""Which worker process holds a book or a mail, and whether that process is still alive.

Every worker process has a row in `workers` and beats it every TALES_HEARTBEAT_S. A stage that
claims a book writes its process id into `books.worker_id`; the handoff to the next stage clears
it. A holder is gone when it has not beaten for TALES_LEASE_S, or at once when it ran on this host
and its pid is no longer running (a restarted worker sees its killed predecessor immediately).
(docs/architecture.md, "Leases".)
"""
from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import WorkerProcess, utcnow


@dataclass(frozen=True)
class WorkerIdentity:
    id: str
    host: str
    pid: int


@lru_cache(maxsize=4)
def _identity(pid: int) -> WorkerIdentity:
    host = socket.gethostname()[:200]
    return WorkerIdentity(id=f"{host[:40]}:{pid}:{secrets.token_hex(4)}", host=host, pid=pid)


def this_process() -> WorkerIdentity:
    """This process's identity (a forked child gets its own)."""
    return _identity(os.getpid())


def beat(session: Session, me: WorkerIdentity) -> None:
    """Say this process is alive (inserting its row on the first beat)."""
    now = utcnow()
    result = session.execute(update(WorkerProcess).where(WorkerProcess.id == me.id).values(heartbeat_at=now))
    if result.rowcount == 0:
        session.add(WorkerProcess(id=me.id, host=me.host, pid=me.pid, started_at=now, heartbeat_at=now))


def forget(session: Session, me: WorkerIdentity) -> None:
    """Remove this process's row on a clean shutdown."""
    session.execute(delete(WorkerProcess).where(WorkerProcess.id == me.id))


def pid_running(pid: int) -> bool:
    """True while a process with this pid runs here (a zombie, killed but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_gone(session: Session, worker_id: str, settings: Settings, me: WorkerIdentity | None = None) -> bool:
    """Whether the process `worker_id` is dead: no row, silent past the lease, or a dead pid on this host."""
    me = me or this_process()
    if worker_id == me.id:
        return False
    row = session.get(WorkerProcess, worker_id)
    host, pid = _host_and_pid(worker_id)
    if row is None:
        # Not beating yet (or its row was removed): on this host the pid still tells.
        return not (host == me.host[:40] and pid not in (None, me.pid) and pid_running(pid))
    if row.heartbeat_at < utcnow() - timedelta(seconds=settings.TALES_LEASE_S):
        return True
    # Same host: the pid tells at once. The same pid as this process means a killed predecessor
    # (a container's worker is often pid 1 every time it starts).
    return row.host == me.host and (row.pid == me.pid or not pid_running(row.pid))


def _host_and_pid(worker_id: str) -> tuple[str, int | None]:
    host, _, rest = worker_id.rpartition(":")[0].rpartition(":")
    try:
        return host, int(rest)
    except ValueError:
        return host, None


def sweep(session: Session, settings: Settings) -> int:
    """Delete rows of processes silent for ten leases (their books were taken back long ago)."""
    cutoff = utcnow() - timedelta(seconds=10 * settings.TALES_LEASE_S)
    return session.execute(delete(WorkerProcess).where(WorkerProcess.heartbeat_at < cutoff)).rowcount
