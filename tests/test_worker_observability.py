"""A real worker: the request id travels in the task messages into its logs; it serves its own metrics."""
from __future__ import annotations

import json
import time

import pytest
import requests

from tests.helpers import sample_form
from tests.servers import free_port
from tests.web_helpers import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def observed(worker_with):
    """A worker of its own (JSON logs, a metrics port) on a Redis database the session worker does not read."""
    port = free_port()
    worker = worker_with(TALES_WORKER_METRICS_PORT=str(port), TALES_LOG_FORMAT="json")
    return worker.env, worker.log_path, f"http://127.0.0.1:{port}/metrics"


def test_the_request_id_is_logged_by_every_task_it_causes_and_stages_are_measured(observed, db):
    from web import create_app

    env, log, metrics_url = observed
    client = create_app(env).test_client()
    assert client.post("/api/v1/users", json={"email": "o@example.com", "password": "correct horse"}).status_code == 201
    token = client.post("/api/v1/tokens", json={"email": "o@example.com", "password": "correct horse"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v1/books", headers={**headers, "X-Request-ID": "upload-7f3a"},
                          content_type="multipart/form-data", data=sample_form())
    assert created.headers["X-Request-ID"] == "upload-7f3a"
    book = wait_for(client, headers, created.json["url"], {"done", "failed"}, timeout=60)
    assert book["status"] == "done", book["error"]

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]
        finished = {line.get("task") for line in lines if line.get("request_id") == "upload-7f3a" and "finished" in line["message"]}
        if {"worker.tasks.caption_book", "worker.tasks.write_book", "worker.tasks.render_pdf"} <= finished:
            break
        time.sleep(0.2)
    assert {"worker.tasks.caption_book", "worker.tasks.write_book", "worker.tasks.render_pdf"} <= finished, finished
    started = [line for line in lines if line.get("request_id") == "upload-7f3a" and "started" in line["message"]]
    assert all(line["task_id"] and line["task_args"] == [book["id"]] for line in started)

    body = requests.get(metrics_url, timeout=10).text
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line and not line.startswith("#")}
    for stage in ("caption", "write", "render"):
        assert samples[f'talesrunner_stage_seconds_count{{outcome="ok",stage="{stage}"}}'] >= 1
    assert samples['talesrunner_tasks_total{task="render_pdf"}'] >= 1
