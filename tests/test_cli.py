"""The command line: what it prepares before handing over to gunicorn or Celery."""
from __future__ import annotations

import pytest

from talesrunner.cli import beat_schedule
from tests.servers import WorkerProcess


def test_the_beat_schedule_folder_is_made_when_it_is_missing(tmp_path):
    schedule = tmp_path / "instance" / "celerybeat-schedule"
    assert beat_schedule(str(schedule)) == str(schedule)
    assert schedule.parent.is_dir()


@pytest.mark.e2e
def test_a_worker_with_the_beat_starts_where_its_schedule_folder_does_not_exist(service_env, tmp_path):
    schedule = tmp_path / "fresh-clone" / "instance" / "celerybeat-schedule"
    worker = WorkerProcess(service_env, tmp_path / "worker.log", "--queues", "cpu", "--concurrency", "1",
                           "--beat", "--schedule", str(schedule))
    try:
        worker.wait_ready()
        # The scheduler opens its shelve as it starts; before, it died here with FileNotFoundError.
        log = worker.log_path.read_text(errors="replace")
        assert "FileNotFoundError" not in log
        assert any(schedule.parent.iterdir())
        assert worker.process.poll() is None
    finally:
        worker.stop()
