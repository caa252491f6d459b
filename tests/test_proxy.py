"""The proxy in front of gunicorn: compose's nginx configuration, run by Debian's nginx before a real web tier."""
from __future__ import annotations

import json
import re
import select
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import yaml

from shared.config import Settings
from tests.conftest import REPO, claimed_redis_db
from tests.helpers import sample_form
from tests.nginx import TEMPLATE, Nginx, compose_proxy_env, render
from tests.servers import WebProcess

SLOW_UPLOADS = 64
TRICKLE_EVERY_S = 1.0  # one byte per upload this often...
CLIENT_TIMEOUT_S = 3  # ...under the test proxy's client timeout (compose: 15 s), so all stay open while they trickle
METRICS_TOKEN = "prometheus-scraper-token"
HANGUL = re.compile("[가-힣]")
MIB = 1024 * 1024


@dataclass
class Stack:
    web: WebProcess
    proxy: Nginx

    def access_lines(self, method: str, path: str) -> int:
        """gunicorn's access-log lines for this method and path (each request that reached the app)."""
        lines = [json.loads(line) for line in self.web.output().splitlines() if line.startswith("{")]
        return sum(1 for line in lines if line.get("logger") == "gunicorn.access"
                   and line.get("method") == method and line.get("path") == path)


@pytest.fixture(scope="module")
def stack(service_env, tmp_path_factory) -> Iterator[Stack]:
    """gunicorn (2 workers x 4 threads, as deployed on two cores) behind nginx with the compose proxy's configuration."""
    folder = tmp_path_factory.mktemp("proxy")
    # A Redis database no worker reads: the books made here stay queued.
    with claimed_redis_db() as redis_url:
        env = {**service_env, "REDIS_URL": redis_url, "TALES_TRUSTED_PROXIES": "1", "TALES_METRICS_TOKEN": METRICS_TOKEN}
        web = WebProcess(env, folder / "web.log", "--workers", "2", "--threads", "4")
        try:
            proxy = Nginx(folder, f"127.0.0.1:{web.port}", PROXY_CLIENT_TIMEOUT=f"{CLIENT_TIMEOUT_S}s")
            try:
                yield Stack(web, proxy)
            finally:
                proxy.stop()
        finally:
            web.stop()


def test_compose_serves_gunicorn_only_through_the_proxy_whose_limits_match_the_app():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert "ports" not in services["web"] and services["web"]["expose"] == ["8000"]
    assert str(services["web"]["environment"]["TALES_TRUSTED_PROXIES"]) == "1"
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:") and set(proxy["ports"]) == {"80:80", "443:443"}
    assert f"./{TEMPLATE.relative_to(REPO)}:/etc/nginx/templates/default.conf.template:ro" in proxy["volumes"]
    values = compose_proxy_env()
    defaults = Settings()
    app_limit = defaults.TALES_MAX_IMAGES * defaults.TALES_MAX_IMAGE_BYTES + MIB  # web/__init__.py's MAX_CONTENT_LENGTH
    assert values["PROXY_MAX_BODY"] == f"{app_limit // MIB}m" and app_limit % MIB == 0
    config = render(values)
    assert "proxy_request_buffering on;" in config and "location = /metrics {\n        return 404;" in config
    assert "server web:8000;" in config and "ssl_certificate /etc/nginx/certs/fullchain.pem;" in config


def _slow_upload(proxy: Nginx) -> ssl.SSLSocket:
    """A TLS connection that has sent a book upload's headers and none of its 100 KB body yet."""
    sock = proxy.tls().wrap_socket(socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10),
                                   server_hostname="127.0.0.1")
    sock.sendall(b"POST /api/v1/books HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n")
    return sock


def _answered_or_closed(upload: ssl.SSLSocket) -> bool:
    """True once the proxy has said anything on this connection or closed it (TLS session tickets aside)."""
    upload.setblocking(False)
    try:
        upload.recv(4096)  # data (an answer) or b"" (closed)
        return True
    except ssl.SSLWantReadError:  # nothing but TLS records of its own: still open, still waiting
        return False
    except OSError:  # reset
        return True
    finally:
        upload.setblocking(True)


@pytest.mark.e2e  # gunicorn and nginx processes
def test_64_slow_uploads_through_the_proxy_do_not_delay_a_page(stack, db):
    reached_app = stack.access_lines("POST", "/api/v1/books")
    uploads = [_slow_upload(stack.proxy) for _ in range(SLOW_UPLOADS)]
    try:
        page_seconds = []
        for _ in range(3):
            for upload in uploads:
                upload.sendall(b"-")
            started = time.perf_counter()
            page = requests.get(f"{stack.proxy.url}/", verify=stack.proxy.ca, timeout=30)
            page_seconds.append(time.perf_counter() - started)
            assert page.status_code == 200 and "<html" in page.text
            # The page answered while every upload was still open: none answered, none closed.
            assert not [upload for upload in uploads if _answered_or_closed(upload)]
            time.sleep(TRICKLE_EVERY_S)
        print(f"GET / through nginx during {SLOW_UPLOADS} slow uploads: "
              + ", ".join(f"{seconds * 1000:.0f} ms" for seconds in page_seconds))
        assert max(page_seconds) < 5  # generous: it takes tens of milliseconds on a loaded two-core machine

        # Once silent, each is closed by nginx within its client timeout; none ever reached gunicorn.
        still_open, deadline = set(uploads), time.monotonic() + CLIENT_TIMEOUT_S + 15
        while still_open and time.monotonic() < deadline:
            select.select(list(still_open), [], [], 0.5)
            still_open -= {upload for upload in still_open if _answered_or_closed(upload)}
        assert not still_open, f"{len(still_open)} silent uploads still open after {CLIENT_TIMEOUT_S + 15} s"
        assert stack.access_lines("POST", "/api/v1/books") == reached_app
    finally:
        for upload in uploads:
            upload.close()


def _signed_up_with_a_book(url: str, verify: str) -> tuple[dict[str, str], str]:
    credentials = {"email": "proxy@example.com", "password": "correct horse"}
    requests.post(f"{url}/api/v1/users", json=credentials, verify=verify, timeout=30).raise_for_status()
    token = requests.post(f"{url}/api/v1/tokens", json=credentials, verify=verify, timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    form = sample_form()
    files = [("images", (name, data.read(), "image/jpeg")) for data, name in form["images"]]
    created = requests.post(f"{url}/api/v1/books", files=files, data={"book": form["book"]}, headers=headers,
                            verify=verify, timeout=60)
    assert created.status_code == 202, created.text
    return headers, created.json()["id"]


def _send_then_read(port: int, head: bytes, body: bytes) -> bytes:
    """Send a request the way a client on a slower link does (64 KB at a time), then read the whole answer.

    A server that closes with part of the body unread makes the kernel reset the connection:
    the sending fails, or the answer is lost.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.sendall(head)
        for start in range(0, len(body), 64 * 1024):
            sock.sendall(body[start:start + 64 * 1024])
            time.sleep(0.002)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@pytest.mark.e2e
def test_a_3_mb_json_body_gets_413_in_korean_through_the_proxy_and_straight_from_gunicorn(stack, db):
    headers, book_id = _signed_up_with_a_book(stack.proxy.url, stack.proxy.ca)
    path = f"/api/v1/books/{book_id}/scenes/0"
    body = json.dumps({"text": "가" * 1_000_000}, ensure_ascii=False).encode()
    assert len(body) > 3_000_000

    answer = requests.patch(f"{stack.proxy.url}{path}", data=body, verify=stack.proxy.ca, timeout=60,
                            headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large" and HANGUL.search(answer.json()["error"]["message"])

    # Straight to gunicorn, on a connection the client closes after this request: the app reads the
    # rest of the body before answering, so the answer arrives instead of a reset.
    head = (f"PATCH {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {headers['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    raw = _send_then_read(stack.web.port, head, body)
    assert raw.startswith(b"HTTP/1.1 413 ") and b'"too_large"' in raw


def _proxy_answer(proxy: Nginx, head: bytes) -> bytes:
    with proxy.tls().wrap_socket(socket.create_connection(("127.0.0.1", proxy.https_port), timeout=30),
                                 server_hostname="127.0.0.1") as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@pytest.mark.e2e
def test_a_body_over_the_apps_whole_request_limit_is_refused_by_the_proxy_in_korean(stack, db):
    too_big = Settings().TALES_MAX_IMAGES * Settings().TALES_MAX_IMAGE_BYTES + 2 * MIB
    for path, kind in (("/api/v1/books", "application/json"), ("/books/new", "text/html")):
        # Refused on its Content-Length, before a byte of the body is sent.
        answer = _proxy_answer(stack.proxy, f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {too_big}\r\n"
                                            "Content-Type: multipart/form-data; boundary=x\r\n\r\n".encode())
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 ") and f"Content-Type: {kind}; charset=utf-8".encode() in head
        assert HANGUL.search(payload.decode())
        if kind == "application/json":
            assert json.loads(payload)["error"]["code"] == "too_large"


@pytest.mark.e2e
def test_the_proxy_serves_https_with_hsts_and_secure_cookies_and_no_metrics(stack, db):
    plain = requests.get(f"{stack.proxy.http_url}/login?next=/", allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"] == "https://127.0.0.1/login?next=/"

    login = requests.get(f"{stack.proxy.url}/login", verify=stack.proxy.ca, timeout=10)
    assert login.status_code == 200
    assert login.raw.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]
    assert "; Secure" in login.headers["Set-Cookie"]
    # Straight from gunicorn over http (TALES_SECURE_COOKIES is off): the same cookie without Secure,
    # so it is the proxy's X-Forwarded-Proto that makes it Secure.
    direct = requests.get(f"{stack.web.url}/login", timeout=10)
    assert "session=" in direct.headers["Set-Cookie"] and "Secure" not in direct.headers["Set-Cookie"]

    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert requests.get(f"{stack.web.url}/metrics", headers=scraper, timeout=10).status_code == 200
    for path in ("/metrics", "//metrics", "/%6Detrics", "/metrics?format=text", "/./metrics"):
        answer = requests.get(f"{stack.proxy.url}{path}", headers=scraper, verify=stack.proxy.ca, timeout=10)
        assert answer.status_code == 404 and "talesrunner_" not in answer.text, path
