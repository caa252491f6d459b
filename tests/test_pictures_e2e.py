"""Each drawing backend through the real service: web tier -> Redis -> a worker process -> the PDF.

The filter draws offline; `openai` asks the local stub server (tests/openai_stub.py); `diffusers`
runs the tiny random-weight pipeline that `talesrunner make-tiny-models` writes.
"""
from __future__ import annotations

import io
import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from talesrunner import samples
from tests.helpers import book_form
from tests.openai_stub import ChatStub
from tests.web_helpers import ApiActions, wait_for

pytestmark = pytest.mark.e2e


def _grey(data: bytes, size: int = 64) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L").resize((size, size)), dtype=np.float32)


def _drawn_book(worker, style: str = "watercolor", email: str = "draw@example.com"):
    """A two-page book in `style` made through `worker`; the client, headers and the finished book."""
    from web import create_app

    client = create_app(dict(worker.env)).test_client()
    headers = ApiActions(client).user(email)
    photos = [data for _, data in samples.sample_photos()][:2]
    form = book_form(photos, {"title": "그림책", "scenes": samples.SCENES[:2], "style": style, "age": "유아"})
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=form)
    assert created.status_code == 202, created.json
    book = wait_for(client, headers, created.json["url"], {"done", "failed"}, timeout=120)
    assert book["status"] == "done", book["error"]
    return client, headers, book


def _pdf_shows_the_drawing(client, headers, book, tmp_path) -> None:
    """The first page's picture in the PDF is the drawing, not the photo."""
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(client.get(book["pdf_url"], headers=headers).data)
    subprocess.run(["pdfimages", "-j", str(pdf), str(tmp_path / "img")], check=True)
    drawn = _grey(client.get(book["scenes"][0]["picture_url"], headers=headers).data)
    photo = _grey(client.get(book["scenes"][0]["image_url"], headers=headers).data)
    images = [_grey(path.read_bytes()) for path in sorted(tmp_path.glob("img-*.jpg"))]
    closest = min(images, key=lambda image: np.abs(image - drawn).mean())
    assert np.abs(closest - drawn).mean() < np.abs(closest - photo).mean()
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "끝" in text.split("\f")[-2]  # the last page (pdftotext ends every page with a form feed)


def test_the_filter_draws_a_book_through_a_worker(worker_with, tmp_path_factory, tmp_path):
    worker = worker_with(DATA_DIR=str(tmp_path_factory.mktemp("filter-data")), TALES_ILLUSTRATOR="filter")
    client, headers, book = _drawn_book(worker, "pencil")
    assert all(scene["picture"]["drawn"] and scene["picture"]["source"] == "filter" for scene in book["scenes"])
    for scene in book["scenes"]:
        drawn = _grey(client.get(scene["picture_url"], headers=headers).data)
        photo = _grey(client.get(scene["image_url"], headers=headers).data)
        assert np.abs(drawn - photo).mean() >= 8
        assert np.corrcoef(drawn.ravel(), photo.ravel())[0, 1] >= 0.5
    _pdf_shows_the_drawing(client, headers, book, tmp_path)


@pytest.fixture(scope="module")
def image_stub():
    server = ChatStub().start()
    yield server
    server.stop()


def test_an_openai_compatible_images_server_draws_a_book_through_a_worker(worker_with, tmp_path_factory, tmp_path, image_stub):
    worker = worker_with(DATA_DIR=str(tmp_path_factory.mktemp("openai-pictures")), TALES_ILLUSTRATOR="openai",
                         OPENAI_BASE_URL=image_stub.base_url, OPENAI_API_KEY="test-key", TALES_OPENAI_TIMEOUT="5",
                         TALES_OPENAI_MAX_RETRIES="0")
    client, headers, book = _drawn_book(worker, "cartoon", "openai-draw@example.com")
    assert len(image_stub.edit_requests) == 2  # one request a page
    assert all("cartoon" in request["prompt"] for request in image_stub.edit_requests)
    assert all(scene["picture"]["drawn"] and scene["picture"]["source"] == "openai" for scene in book["scenes"])
    _pdf_shows_the_drawing(client, headers, book, tmp_path)


@pytest.mark.models
def test_the_tiny_diffusers_pipeline_draws_and_redraws_a_book_through_a_worker(worker_with, tiny_models, tmp_path_factory, tmp_path):
    worker = worker_with(DATA_DIR=str(tmp_path_factory.mktemp("diffusers-data")), TALES_ILLUSTRATOR="diffusers",
                         TALES_ILLUSTRATOR_MODEL=str(tiny_models / "illustrator"), TALES_ILLUSTRATOR_STEPS="2",
                         TALES_ILLUSTRATOR_SIZE="64", TALES_DEVICE="cpu")
    client, headers, book = _drawn_book(worker, "watercolor", "diffusers-draw@example.com")
    assert all(scene["picture"]["drawn"] and scene["picture"]["source"] == "diffusers" for scene in book["scenes"])
    assert any("test model" in note for note in book["notes"]), book["notes"]
    before = client.get(book["scenes"][0]["picture_url"], headers=headers).data
    assert client.post(f"{book['url']}/scenes/1/redraw", headers=headers).status_code == 202
    again = wait_for(client, headers, book["url"], {"done", "failed"}, timeout=120)
    assert again["status"] == "done" and again["scenes"][0]["picture"]["redraws"] == 1
    assert again["scenes"][0]["picture_url"] != book["scenes"][0]["picture_url"]
    after = client.get(again["scenes"][0]["picture_url"], headers=headers).data
    assert after != before
    assert again["scenes"][1]["picture_url"] == book["scenes"][1]["picture_url"]  # the other page is kept
