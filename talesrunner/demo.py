"""`talesrunner demo`: sample scenes -> PDF through the real web tier, Redis queue and worker.

It migrates the configured database (SQLite by default), starts the web server and one
worker as child processes, drives the HTTP API like any client, saves the PDF and stops
what it started.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from migrations import upgrade
from shared.config import INSTANCE_DIR, get_settings, secret_key_refusal
from talesrunner import samples
from talesrunner.processes import Child, free_port


def _migrate(url: str) -> None:
    """Bring the database to head; a SQLite file's folder is made first (SQLite will not)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    print("database is at head")


def run_demo(timeout: float = 900.0) -> int:
    """Make one book from the sample scenes; prints the PDF's path. Returns an exit code."""
    if "TALES_NARRATOR" not in os.environ and shutil.which("espeak-ng"):
        # A book that talks: espeak-ng's Korean voice is offline (robotic, and the book says so).
        os.environ["TALES_NARRATOR"] = "espeak"
        get_settings.cache_clear()
    if secret_key_refusal(get_settings()) is not None:
        # The web tier and the worker refuse the development key; this run's own key is shared by
        # the two children it starts and forgotten with them.
        os.environ["SECRET_KEY"] = secrets.token_hex(32)
        get_settings.cache_clear()
    settings = get_settings()
    out_dir = INSTANCE_DIR / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"database: {settings.DATABASE_URL}\nbroker:   {settings.REDIS_URL}")
    print(f"models:   captioner={settings.TALES_CAPTIONER} writer={settings.TALES_WRITER} "
          f"translator={settings.TALES_TRANSLATOR} narrator={settings.TALES_NARRATOR} illustrator={settings.TALES_ILLUSTRATOR}")

    _migrate(settings.DATABASE_URL)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        web = stack.enter_context(Child(["web", "--port", str(port)], out_dir / "web.log"))
        worker = stack.enter_context(Child(["worker", "--queues", "gpu,cpu"], out_dir / "worker.log"))
        web.wait_for_url(f"{base}/healthz", timeout=60)
        print(f"web tier: {base} (pid {web.pid}), worker pid {worker.pid}")

        api = requests.Session()
        email, password = f"demo-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
        api.post(f"{base}/api/v1/users", json={"email": email, "password": password}, timeout=10).raise_for_status()
        token = api.post(f"{base}/api/v1/tokens", json={"email": email, "password": password}, timeout=10).json()["token"]
        api.headers["Authorization"] = f"Bearer {token}"

        photos = samples.sample_photos()
        # Drawn when this server draws (the offline OpenCV filter by default), as a parent would pick it.
        styles = [style["id"] for style in api.get(f"{base}/api/v1/styles", timeout=10).json()["styles"]]
        style = samples.STYLE if samples.STYLE in styles else "photo"
        book_json = {"title": samples.TITLE, "age": samples.AGE, "scenes": samples.SCENES, "style": style,
                     "dedication": samples.DEDICATION}
        response = api.post(
            f"{base}/api/v1/books",
            files=[("images", (name, data, "image/jpeg")) for name, data in photos],
            data={"book": json.dumps(book_json, ensure_ascii=False)},
            timeout=60,
        )
        if response.status_code != 202:
            print(f"upload refused: {response.status_code} {response.text}", file=sys.stderr)
            return 1
        book = response.json()
        print(f"book {book['id']}: {len(photos)} photos uploaded")

        last = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.running:
                print("the worker exited; see instance/demo/worker.log", file=sys.stderr)
                return 1
            book = api.get(f"{base}{book['url']}", timeout=10).json()
            line = f"  {book['status']:<22} {book['stage'] or '':<8} {book['progress']['done']}/{book['progress']['total']}"
            if line != last:
                print(f"{time.monotonic() - started:6.1f}s{line}")
                last = line
            if book["status"] in ("done", "failed"):
                break
            time.sleep(0.3)
        if book["status"] != "done":
            print(f"the book did not finish: {book['status']} {book.get('error') or ''}", file=sys.stderr)
            return 1

        pdf = api.get(f"{base}{book['pdf_url']}", timeout=60)
        pdf.raise_for_status()
        target = out_dir / f"{book['id']}.pdf"
        target.write_bytes(pdf.content)
        for scene in book["scenes"]:
            spoken = f" [read aloud: {scene['audio_duration']:.1f}s]" if scene.get("audio_url") else ""
            print(f"  scene {scene['index']}: {scene['text']}{spoken}")
        if book.get("epub_url"):
            epub = api.get(f"{base}{book['epub_url']}", timeout=60)
            epub.raise_for_status()
            (out_dir / f"{book['id']}.epub").write_bytes(epub.content)
            print(f"e-book: {out_dir / (book['id'] + '.epub')} ({len(epub.content) / 1024:.0f} KiB)")
        for note in book["notes"]:
            print(f"  note: {note}")
        print(f"done in {time.monotonic() - started:.1f}s, {len(pdf.content) / 1024:.0f} KiB")
        print(target)
    return 0
