"""The whole service on the tiny models: web -> Redis -> a real worker running BLIP, MarianMT and KoT5."""
from __future__ import annotations

import subprocess

import pytest

from talesrunner.processes import Child
from tests.helpers import sample_form, scene
from tests.web_helpers import ApiActions, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.models]


@pytest.fixture(scope="module")
def model_worker(worker_with, tiny_models, tmp_path_factory) -> Child:
    """A worker on the tiny models, with its own Redis database (from worker_with) and its own files."""
    return worker_with(
        DATA_DIR=str(tmp_path_factory.mktemp("model-data")),
        TALES_CAPTIONER="blip", TALES_WRITER="kot5", TALES_TRANSLATOR="hf", TALES_DEVICE="auto",
        TALES_BLIP_MODEL=str(tiny_models / "blip"), TALES_KOT5_DIR=str(tiny_models / "kot5"),
        TALES_TRANSLATOR_MODEL=str(tiny_models / "translator"),
        TALES_SUGGESTER="kiwi",
    )


@pytest.fixture
def model_client(db, model_worker):
    from web import create_app

    return create_app(dict(model_worker.env)).test_client()


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "book.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_books_run_end_to_end_on_the_tiny_models_and_reuse_them(model_client, model_worker, db, tmp_path):
    client = model_client
    headers = ApiActions(client).user()

    first = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form())
    assert first.status_code == 202
    book = wait_for(client, headers, first.json["url"], {"done", "failed"}, timeout=120)
    assert book["status"] == "done", book["error"]
    assert [(s["caption_lang"], s["text_source"]) for s in book["scenes"]] == [("ko", "kot5")] * 4
    # BLIP's English, translated by the local model.
    assert [s["caption_source"] for s in book["scenes"]] == ["blip+hf"] * 4
    assert all(s["caption"] and s["text"] for s in book["scenes"])
    assert not any("template" in note or "English" in note for note in book["notes"])
    # Random-weight text has long "words" the PDF must break, so compare without the spaces.
    extracted = "".join(_pdf_text(client.get(book["pdf_url"], headers=headers).data, tmp_path).split())
    assert all("".join(s["text"].split())[:20] in extracted for s in book["scenes"])

    # The draft flow: captions (translated) and offline keyword suggestions before annotation.
    second = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                         data=sample_form(with_scenes=False))
    draft = wait_for(client, headers, second.json["url"], {"awaiting_annotations", "failed"}, timeout=120)
    assert draft["status"] == "awaiting_annotations", draft["error"]
    assert all(s["caption_lang"] == "ko" and len(s["suggestions"]["feeling"]) >= 3 for s in draft["scenes"])
    scenes = [scene(f"주인공{i}", "신나게 놀다") for i in range(1, 5)]
    assert client.put(f"{draft['url']}/scenes", headers=headers, json={"scenes": scenes}).status_code == 200
    assert client.post(f"{draft['url']}/generate", headers=headers).status_code == 202
    draft = wait_for(client, headers, draft["url"], {"done", "failed"}, timeout=120)
    assert draft["status"] == "done", draft["error"]

    # Two books, each captioned and written in the same worker process: one load of each model.
    log = model_worker.log_path.read_text(errors="replace")
    for kind in ("blip", "translator", "kot5"):
        assert log.count(f"loading ('{kind}'") == 1, kind
