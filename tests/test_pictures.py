"""Pictures: the styles a server offers, the draw stage beside the writer, redraw, the photo back, failures."""
from __future__ import annotations

import io
import subprocess

import numpy as np
from PIL import Image

from shared.config import Settings
from shared.jobs import TaskName
from shared.models import Book
from shared.status import BookStatus, Stage
from talesrunner import samples
from tests.helpers import book_form
from tests.test_pipeline import Recorder, _book, client, ctx  # noqa: F401 (client, ctx: fixtures)
from worker import pipeline
from worker.pipeline import draw


def _create(client, headers, style: str = "watercolor", **book) -> str:
    photos = [data for _, data in samples.sample_photos()][:2]
    form = book_form(photos, {"title": "바닷가", "scenes": samples.SCENES[:2], "style": style, **book})
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=form)
    assert response.status_code == 202, response.json
    return response.json["id"]


def _grey(data: bytes, size: int = 64) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L").resize((size, size)), dtype=np.float32)


def test_styles_offer_the_photo_and_what_the_filter_draws(client):
    styles = client.get("/api/v1/styles").json["styles"]
    ids = [style["id"] for style in styles]
    assert ids[0] == "photo" and {"watercolor", "pencil", "cartoon"} <= set(ids)
    assert all(style["label"] for style in styles)


def test_a_server_that_draws_nothing_offers_the_photo_alone_and_refuses_a_drawn_style(db, service_env, spare_redis_url, api):
    from web import create_app

    app = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_ILLUSTRATOR": "none"})
    client = app.test_client()
    assert [style["id"] for style in client.get("/api/v1/styles").json["styles"]] == ["photo"]
    headers = type(api)(client).user()
    photos = [data for _, data in samples.sample_photos()][:1]
    refused = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form(photos, {"style": "watercolor"}))
    assert refused.status_code == 400
    assert refused.json["error"]["field"] == "book.style"


def test_a_drawn_book_is_drawn_beside_the_writing_and_rendered_once_both_are_done(client, api, ctx):
    headers = api.user()
    book_id = _create(client, headers, dedication="사랑하는 하은이에게")
    pipeline.caption_stage(ctx, book_id)
    assert ctx.enqueue.sent == [(TaskName.WRITE.value, book_id), (TaskName.DRAW.value, book_id)]
    pipeline.write_stage(ctx, book_id)
    book = _book(ctx, book_id)
    # The writer finished first: the book waits for its pictures, and the draw task is sent (again).
    assert (book.status, book.stage) == (BookStatus.RENDERING, Stage.DRAW.value)
    assert ctx.enqueue.sent[-1] == (TaskName.DRAW.value, book_id)
    pipeline.draw_stage(ctx, book_id)
    assert ctx.enqueue.sent[-1] == (TaskName.RENDER.value, book_id)
    pipeline.render_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE
    assert all(scene.picture_name and scene.picture_source == "filter" for scene in book.scenes)
    # The page's picture is the drawing: clearly not the photo, yet the same scene.
    for scene in book.scenes:
        picture = client.get(f"/api/v1/books/{book_id}/scenes/{scene.index}/picture", headers=headers)
        photo = client.get(f"/api/v1/books/{book_id}/scenes/{scene.index}/image", headers=headers)
        assert picture.mimetype == "image/jpeg"
        drawn, taken = _grey(picture.data), _grey(photo.data)
        assert np.abs(drawn - taken).mean() >= 8
        assert np.corrcoef(drawn.ravel(), taken.ravel())[0, 1] >= 0.5
    data = client.get(f"/api/v1/books/{book_id}", headers=headers).json
    assert data["style"] == "watercolor" and data["dedication"] == "사랑하는 하은이에게"
    assert all(scene["picture"]["drawn"] and not scene["picture"]["waiting"] for scene in data["scenes"])


def test_pictures_drawn_before_the_writing_ends_send_the_book_straight_to_render(client, api, ctx):
    book_id = _create(client, api.user())
    pipeline.caption_stage(ctx, book_id)
    pipeline.draw_stage(ctx, book_id)  # while the book is `writing`: draws, sends nothing
    assert ctx.enqueue.sent == [(TaskName.WRITE.value, book_id), (TaskName.DRAW.value, book_id)]
    pipeline.write_stage(ctx, book_id)
    assert ctx.enqueue.sent[-1] == (TaskName.RENDER.value, book_id)


def test_a_page_drawn_by_a_live_process_is_left_to_it(client, api, ctx):
    book_id = _create(client, api.user())
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)
    with ctx.sessions.begin() as session:
        book = session.get(Book, book_id)
        book.scenes[0].drawing_by = "other-host:1:alive"
        from shared.models import WorkerProcess

        session.add(WorkerProcess(id="other-host:1:alive", host="other-host", pid=1))
    drawing = ctx.enqueue.sent[:]
    live = pipeline.Context(settings=ctx.settings, sessions=ctx.sessions, storage=ctx.storage, enqueue=ctx.enqueue,
                            worker_id="this-host:2:me")
    pipeline.draw_stage(live, book_id)
    book = _book(ctx, book_id)
    assert book.scenes[0].picture_name is None and book.scenes[1].picture_name
    assert (book.status, book.stage, book.worker_id) == (BookStatus.RENDERING, Stage.DRAW.value, None)
    assert ctx.enqueue.sent == drawing  # the other process sends the book on when it is done


def test_redraw_gives_the_page_a_new_picture_and_the_photo_can_come_back(client, api, ctx):
    headers = api.user()
    book_id = _create(client, headers, style="cartoon")
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.draw_stage, pipeline.render_stage):
        stage(ctx, book_id)
    first = _book(ctx, book_id).scenes[0]
    before = client.get(f"/api/v1/books/{book_id}/scenes/1/picture", headers=headers).data

    answer = client.post(f"/api/v1/books/{book_id}/scenes/1/redraw", headers=headers)
    assert answer.status_code == 202 and answer.json["stage"] == Stage.DRAW.value
    pipeline.draw_stage(ctx, book_id)
    pipeline.render_stage(ctx, book_id)
    again = _book(ctx, book_id)
    assert again.status is BookStatus.DONE
    assert again.scenes[0].redraws == 1 and again.scenes[0].picture_name != first.picture_name
    assert again.scenes[1].picture_name == _book(ctx, book_id).scenes[1].picture_name  # the other page is kept
    after = client.get(f"/api/v1/books/{book_id}/scenes/1/picture", headers=headers).data
    assert np.abs(_grey(after) - _grey(before)).mean() > 0.5

    assert client.put(f"/api/v1/books/{book_id}/scenes/1/picture", headers=headers, json={"use_photo": True}).status_code == 202
    pipeline.render_stage(ctx, book_id)
    photo = client.get(f"/api/v1/books/{book_id}/scenes/1/picture", headers=headers)
    original = client.get(f"/api/v1/books/{book_id}/scenes/1/image", headers=headers)
    assert photo.data == original.data
    assert _book(ctx, book_id).status is BookStatus.DONE


def test_a_photo_book_has_nothing_to_redraw(client, api, ctx):
    headers = api.user()
    book_id = _create(client, headers, style="photo")
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
    assert (TaskName.DRAW.value, book_id) not in ctx.enqueue.sent
    assert client.post(f"/api/v1/books/{book_id}/scenes/1/redraw", headers=headers).status_code == 409


def test_a_drawing_that_fails_keeps_the_photos_with_a_note_and_the_book_finishes(client, api, ctx, monkeypatch):
    class Broken:
        name, note = "filter", None

        def draw(self, pages, style):
            raise RuntimeError("out of memory")

    monkeypatch.setattr(draw, "get_illustrator", lambda settings: Broken())
    book_id = _create(client, api.user())
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.draw_stage):
        stage(ctx, book_id)
    assert ctx.enqueue.sent[-1] == (TaskName.RENDER.value, book_id)
    pipeline.render_stage(ctx, book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.DONE
    assert all(scene.picture_source == "photo" and scene.printed_picture == scene.image_name for scene in book.scenes)
    assert any(note.startswith(draw.DRAWING_FAILED) for note in book.notes)
    assert not any("out of memory" in note for note in book.notes)  # the exception's words stay in the log



def test_pages_drawn_before_a_failure_keep_their_pictures_and_the_rest_their_photos(client, api, ctx, monkeypatch):
    """A paid-for drawing is not thrown away because a later page failed (a redraw would pay again)."""
    from worker.illustration.base import PartlyDrawn
    from worker.illustration.filter import FilterIllustrator

    class HalfWay:
        name, note = "filter", None

        def draw(self, pages, style):
            first = FilterIllustrator().draw(pages[:1], style)[0]
            raise PartlyDrawn("그림을 그리는 서버가 요청을 받아 주지 않았어요 (page 2: refused)", {0: first})

    monkeypatch.setattr(draw, "get_illustrator", lambda settings: HalfWay())
    book_id = _create(client, api.user())
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.draw_stage):
        stage(ctx, book_id)
    assert ctx.enqueue.sent[-1] == (TaskName.RENDER.value, book_id)
    book = _book(ctx, book_id)
    assert [scene.picture_source for scene in book.scenes] == ["filter"] + ["photo"] * (len(book.scenes) - 1)
    assert book.scenes[0].picture_name and ctx.storage.exists(book.scenes[0].picture_name)
    assert any(note.startswith(draw.DRAWING_FAILED) for note in book.notes)

def test_the_printed_pdf_carries_the_drawing(client, api, ctx, tmp_path):
    headers = api.user()
    book_id = _create(client, headers, style="pencil")
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.draw_stage, pipeline.render_stage):
        stage(ctx, book_id)
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(client.get(f"/api/v1/books/{book_id}/pdf", headers=headers).data)
    subprocess.run(["pdfimages", "-j", str(pdf), str(tmp_path / "img")], check=True)
    drawn = _grey(client.get(f"/api/v1/books/{book_id}/scenes/1/picture", headers=headers).data)
    photo = _grey(client.get(f"/api/v1/books/{book_id}/scenes/1/image", headers=headers).data)
    # Some image in the PDF is the first page's drawing (cropped for the page: compare loosely), none the photo itself.
    images = [_grey(path.read_bytes()) for path in sorted(tmp_path.glob("img-*.jpg"))]
    assert images
    closest = min(images, key=lambda image: np.abs(image - drawn).mean())
    assert np.abs(closest - drawn).mean() < np.abs(closest - photo).mean()


def test_the_filter_draws_every_drawn_style_the_vocabulary_names():
    from shared.drawing import STYLE_IDS
    from shared.styles import DRAWN

    assert STYLE_IDS == set(DRAWN)


def test_the_style_picker_previews_the_first_photo_in_each_drawn_style(client, api):
    from tests.web_helpers import Pages

    pages = Pages(client)
    pages.signup()
    small = io.BytesIO()
    Image.open(io.BytesIO(samples.photo_bytes("astronaut"))).convert("RGB").resize((320, 320)).save(small, "JPEG")
    for style in ("watercolor", "pencil", "cartoon"):
        answer = pages.post("/books/new/preview", data={"style": style, "photo": (io.BytesIO(small.getvalue()), "p.jpg")},
                            content_type="multipart/form-data", page="/books/new")
        assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
        assert np.abs(_grey(answer.data) - _grey(small.getvalue())).mean() >= 8
    big = io.BytesIO()
    Image.new("RGB", (1200, 900)).save(big, "JPEG")
    refused = pages.post("/books/new/preview", data={"style": "pencil", "photo": (io.BytesIO(big.getvalue()), "p.jpg")},
                         content_type="multipart/form-data", page="/books/new")
    assert refused.status_code == 400


def test_a_book_waiting_for_pictures_whose_draw_message_was_lost_is_sent_to_the_draw_task_again(client, api, ctx, service_env):
    from datetime import timedelta

    book_id = _create(client, api.user())
    pipeline.caption_stage(ctx, book_id)
    pipeline.write_stage(ctx, book_id)  # waits at stage `draw`; pretend Redis lost both draw messages
    eager = pipeline.Context(settings=Settings(**{**service_env, "TALES_LOST_GRACE_S": "0"}), sessions=ctx.sessions,
                             storage=ctx.storage, enqueue=Recorder())
    assert pipeline.reconcile(eager, timedelta(hours=1), queued=set()) == [book_id]
    assert eager.enqueue.sent == [(TaskName.DRAW.value, book_id)]
