"""Ten 12 MP phone photos (--photos N) sent from the new-book page over a throttled uplink: the plain form post
(script off, the originals) against the page's script (photos shrunk to print size, then sent with progress).

    .venv/bin/python bench/upload.py                  # 10 Mbit/s up; --mbit 2 for a weak phone signal

Starts the web tier in this process (werkzeug, threaded) on a private PostgreSQL database and
Redis database; no worker, the books stay queued. A Debian Chromium (Playwright) signs up, then
sends the same 4000x3000 JPEGs (~3 MB each, tests/helpers.camera_jpeg) twice, with Chrome's
network emulation (CDP Network.emulateNetworkConditions) limiting the upload. Bytes are the POST's
Content-Length as the server received it; seconds run from the moment the photos are chosen to
the book page (for the script, that includes decoding and shrinking, also printed apart).
Prints one line per path and `ratio=` (before seconds / after seconds) last.
"""
from __future__ import annotations

import argparse
import logging
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from werkzeug.serving import make_server  # noqa: E402

from tests.conftest import claimed_redis_db  # noqa: E402
from tests.databases import private_database  # noqa: E402
from tests.helpers import camera_jpeg  # noqa: E402
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, wait_photos_ready  # noqa: E402

BOOK_PAGE = re.compile(r"/books/[0-9a-f]{32}$")


class CountUploads:
    """WSGI middleware: the Content-Length of every POST /books/new, in order."""

    def __init__(self, app):
        self.app, self.sizes = app, []

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ.get("PATH_INFO") == "/books/new":
            self.sizes.append(int(environ.get("CONTENT_LENGTH") or 0))
        return self.app(environ, start_response)


def serve(env: dict[str, str]):
    from web import create_app

    app = create_app(env)
    counter = CountUploads(app.wsgi_app)
    app.wsgi_app = counter
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{port}", counter


def throttle(context, page, mbit: float) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 40, "downloadThroughput": -1, "uploadThroughput": mbit * 1e6 / 8})


def send(browser, base: str, email: str, photos: list[str], mbit: float, script: bool) -> tuple[float, float]:
    """Seconds from choosing the photos to the book page, and of those, seconds before the upload could start."""
    context = browser.new_context(locale="ko-KR", java_script_enabled=script)
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(f"{base}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill("a long password")
    page.get_by_role("button", name="로그인").click()
    page.wait_for_url("**/books")
    page.goto(f"{base}/books/new")
    page.get_by_label("사진 설명과 추천 키워드를 본 뒤에 쓸게요").check()
    throttle(context, page, mbit)
    start = time.monotonic()
    page.set_input_files("#images", photos)
    if script:
        wait_photos_ready(page)
    ready = time.monotonic()
    page.get_by_role("button", name="그림책 만들기").click()
    page.wait_for_url(BOOK_PAGE)
    done = time.monotonic()
    context.close()
    return done - start, ready - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbit", type=float, default=10.0, help="upload throughput in Mbit/s (default 10)")
    parser.add_argument("--photos", type=int, default=10, help="how many 12 MP photos (default 10, the most a book takes)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, private_database("talesrunner_bench") as db, claimed_redis_db() as redis_url:
        photos = []
        for seed in range(args.photos):
            path = Path(folder) / f"IMG_{seed:04d}.jpg"
            path.write_bytes(camera_jpeg(4000, 3000, seed))
            photos.append(str(path))
        originals = sum(Path(p).stat().st_size for p in photos)
        env = {"DATABASE_URL": db, "REDIS_URL": redis_url, "DATA_DIR": str(Path(folder) / "data"), "SECRET_KEY": secrets.token_hex(32),
               # No worker runs: only the upload is timed. "blip" makes the page offer hints after the
               # captions (it does where photos are captioned), so no hint needs typing.
               "TALES_CAPTIONER": "blip", "TALES_WRITER": "template", "TALES_TRANSLATOR": "none",
               "TALES_RATELIMIT_ENABLED": "false"}
        httpd, base, counter = serve(env)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                signup = browser.new_page()
                signup.goto(f"{base}/signup")
                signup.get_by_label("이메일").fill("bench@example.com")
                signup.get_by_label("비밀번호 (8자 이상)").fill("a long password")
                signup.get_by_label("비밀번호 확인").fill("a long password")
                signup.get_by_role("button", name="가입하기").click()
                signup.wait_for_url("**/books/new")
                signup.close()
                before_s, _ = send(browser, base, "bench@example.com", photos, args.mbit, script=False)
                after_s, shrink_s = send(browser, base, "bench@example.com", photos, args.mbit, script=True)
                browser.close()
        finally:
            httpd.shutdown()
        before_b, after_b = counter.sizes
        print(f"photos: {args.photos} x 4000x3000 JPEG, {originals / 1e6:.1f} MB in all; uplink {args.mbit:g} Mbit/s")
        print(f"before (form post, originals): {before_b:,} bytes sent, {before_s:.1f} s")
        print(f"after (page shrinks to 2400 px): {after_b:,} bytes sent, {after_s:.1f} s ({shrink_s:.1f} s decoding and shrinking)")
        print(f"bytes_ratio={before_b / after_b:.2f}")
        print(f"ratio={before_s / after_s:.2f}")


if __name__ == "__main__":
    main()
