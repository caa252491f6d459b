"""`talesrunner web` as deployed: gunicorn, JSON access logs with request ids, /metrics, reload and stop."""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
import yaml
from sqlalchemy import text

from shared.config import Settings, database_url
from shared.db import make_engine
from tests.conftest import REPO
from tests.databases import PG_ADMIN_URL
from tests.helpers import sample_form
from tests.servers import WebProcess


def _log_lines(server: WebProcess) -> list[dict]:
    return [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]


def _metric(body: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in body.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _worker_pids(server: WebProcess) -> set[int]:
    return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.output())}


@pytest.mark.e2e  # real gunicorn processes (seconds each): the full run, not the fast lane
def test_web_runs_gunicorn_logs_json_and_reloads_and_stops_gracefully(service_env, tmp_path):
    server = WebProcess(service_env, tmp_path / "web.log", "--workers", "2")
    try:
        response = requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "probe-42"}, timeout=10)
        assert response.status_code == 200 and response.headers["Server"].startswith("gunicorn")
        assert response.headers["X-Request-ID"] == "probe-42"
        assert requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "x" * 200}, timeout=10).headers["X-Request-ID"] != "x" * 200

        deadline = time.monotonic() + 10
        while not any(line.get("request_id") == "probe-42" for line in _log_lines(server)) and time.monotonic() < deadline:
            time.sleep(0.1)
        access = [line for line in _log_lines(server) if line.get("request_id") == "probe-42"]
        assert access and access[0]["logger"] == "gunicorn.access"
        assert access[0]["path"] == "/healthz" and access[0]["status"] == 200 and access[0]["method"] == "GET"
        assert len(_worker_pids(server)) == 2

        # SIGHUP: new workers come up, the old ones finish; the port never stops answering.
        before = _worker_pids(server)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while len(_worker_pids(server) - before) < 2 and time.monotonic() < deadline:
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
            time.sleep(0.1)
        assert len(_worker_pids(server) - before) == 2
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        started = time.monotonic()
        code = server.stop()
    assert code == 0 and time.monotonic() - started < 15
    assert "Shutting down: Master" in server.output()


@pytest.mark.e2e
def test_requests_gunicorn_cannot_parse_get_the_api_error_shape_and_the_server_stays_up(service_env, tmp_path):
    server = WebProcess(service_env, tmp_path / "web.log", "--workers", "1")
    try:
        huge_header = requests.get(f"{server.url}/api/v1/books", headers={"X-Filler": "a" * 1_000_000}, timeout=10)
        assert huge_header.status_code == 431
        assert huge_header.headers["Content-Type"] == "application/json"
        assert huge_header.json()["error"]["code"] == "request_header_fields_too_large"
        long_line = requests.get(f"{server.url}/api/v1/books/{'b' * 9000}", timeout=10)
        assert long_line.status_code == 414 and long_line.json()["error"]["code"] == "uri_too_long"
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            answer = raw.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 400 ") and '"code": "bad_request"' in answer and "<html>" not in answer
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        assert server.stop() == 0


@pytest.mark.e2e
def test_metrics_add_up_every_worker_and_show_books_and_queues(service_env, spare_redis_url, tmp_path, pg_url, db):
    # No worker reads this Redis database, so the book's first message stays in the gpu queue.
    token = "prometheus-scraper-token"
    scraper = {"Authorization": f"Bearer {token}"}
    server = WebProcess({**service_env, "REDIS_URL": spare_redis_url, "TALES_METRICS_TOKEN": token},
                        tmp_path / "web.log", "--workers", "2")
    try:
        probes = _metric(requests.get(f"{server.url}/metrics", headers=scraper, timeout=10).text,
                         "talesrunner_http_requests_total", route="/healthz")
        for _ in range(7):  # a new connection each time: the requests land on both workers
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        api = requests.Session()
        credentials = {"email": "metrics@example.com", "password": "correct horse"}
        api.post(f"{server.url}/api/v1/users", json=credentials, timeout=10).raise_for_status()
        api.headers["Authorization"] = "Bearer " + api.post(f"{server.url}/api/v1/tokens", json=credentials, timeout=10).json()["token"]
        form = sample_form()
        files = [("images", (name, data.read(), "image/jpeg")) for data, name in form["images"]]
        created = api.post(f"{server.url}/api/v1/books", files=files, data={"book": form["book"]}, timeout=30)
        assert created.status_code == 202, created.text
        api.get(f"{server.url}/api/v1/books/{created.json()['id']}", timeout=10).raise_for_status()
        api.get(f"{server.url}/nowhere", timeout=10)

        assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 404  # no token, no metrics
        body = requests.get(f"{server.url}/metrics", headers=scraper, timeout=10).text
        assert _metric(body, "talesrunner_http_requests_total", route="/healthz", status="200") == probes + 7
        assert _metric(body, "talesrunner_http_requests_total", route="/api/v1/books", method="POST", status="202") == 1
        assert _metric(body, "talesrunner_http_requests_total", route="unmatched", status="404") == 1
        assert _metric(body, "talesrunner_http_request_seconds_count", route="/api/v1/books/<book_id>") == 1
        assert _metric(body, "talesrunner_http_request_seconds_bucket", route="/healthz", le="+Inf") == probes + 7
        assert _metric(body, "talesrunner_http_requests_total", route="/metrics", status="200") == 1
        assert _metric(body, "talesrunner_http_requests_total", route="/metrics", status="404") == 1
        assert _metric(body, "talesrunner_books", status="queued") == 1
        assert _metric(body, "talesrunner_books", status="done") == 0
        assert _metric(body, "talesrunner_queue_depth", queue="gpu") == 1
        assert _metric(body, "talesrunner_queue_depth", queue="cpu") == 0
    finally:
        server.stop()


@pytest.mark.e2e
def test_dev_flag_runs_the_werkzeug_server(service_env, tmp_path):
    server = WebProcess(service_env, tmp_path / "web.log", "--dev")
    try:
        assert requests.get(f"{server.url}/healthz", timeout=10).headers["Server"].startswith("Werkzeug")
    finally:
        server.stop()


@pytest.mark.e2e  # starts `talesrunner db upgrade` (about a second of imports each)
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_database_urls_as_people_write_them_use_the_installed_driver(pg_url, scheme):
    written = pg_url.replace("postgresql+psycopg://", scheme, 1)
    assert Settings(DATABASE_URL=written).DATABASE_URL == pg_url
    with make_engine(Settings(DATABASE_URL=written).DATABASE_URL).connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    # The command line reads the variable the same way.
    result = subprocess.run([sys.executable, "-m", "talesrunner.cli", "db", "upgrade"], cwd=REPO, capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin", "DATABASE_URL": written})
    assert result.returncode == 0, result.stderr
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert database_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
    assert PG_ADMIN_URL.startswith("postgresql://")


def test_compose_runs_gunicorn_minio_and_flower_with_nothing_shared_on_disk():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["web"]["command"][:2] == ["talesrunner", "web"] and "--dev" not in services["web"]["command"]
    assert services["minio"]["image"].startswith("minio/minio")
    assert "flower" in services["flower"]["command"]
    env = services["web"]["environment"]
    assert env["TALES_STORAGE"] == "s3" and env["TALES_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["DATABASE_URL"].startswith("postgresql://")
    for name in ("web", "worker-gpu", "worker-cpu"):
        mounts = services[name].get("volumes", [])
        assert not any(str(mount).split(":")[0] == "data" for mount in mounts), (name, mounts)


def test_compose_requires_its_secrets_and_keeps_admin_ports_on_this_host():
    text_ = (REPO / "docker-compose.yml").read_text()
    services = yaml.safe_load(text_)["services"]
    # A variable left unset stops `docker compose up` instead of falling back to a known password.
    for variable in ("SECRET_KEY", "MINIO_ROOT_PASSWORD", "FLOWER_BASIC_AUTH"):
        uses = re.findall(r"(?<!\$)\$\{" + variable + r"([^}]*)\}", text_)
        assert uses and all(use.startswith(":?") for use in uses), (variable, uses)
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    published = {port for service in services.values() for port in service.get("ports", [])}
    # The proxy in front of the pages (gunicorn is not published), and MinIO's API for the presigned
    # links browsers follow; the consoles on loopback only.
    assert {port for port in published if not port.startswith("127.0.0.1:")} == {"80:80", "443:443", "9000:9000"}
    assert "127.0.0.1:9001:9001" in published and "127.0.0.1:5555:5555" in published
    for name in ("postgres", "redis", "minio", "web", "proxy", "worker-gpu", "worker-cpu", "flower"):
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("postgres", "redis", "minio", "web", "worker-gpu", "worker-cpu"):
        assert "healthcheck" in services[name], name


@pytest.mark.e2e  # starts a `talesrunner` process per case
@pytest.mark.parametrize("command", [["web", "--port", "1"], ["worker", "--queues", "cpu"]])
@pytest.mark.parametrize("key", [None, "dev-only-change-me"])
def test_servers_refuse_to_start_without_a_secret_key_of_their_own(service_env, command, key):
    env = {"PATH": "/usr/bin:/bin", **{name: value for name, value in service_env.items() if name != "SECRET_KEY"}}
    if key is not None:
        env["SECRET_KEY"] = key
    result = subprocess.run([sys.executable, "-m", "talesrunner.cli", *command], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 2
    assert f"talesrunner {command[0]}: SECRET_KEY is not set" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
