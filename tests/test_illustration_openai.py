"""TALES_ILLUSTRATOR=openai: the images edit endpoint, against the local stub server (no network)."""
from __future__ import annotations

import io
import pickle
import re
import time

import pytest
from PIL import Image

from shared.config import Settings
from shared.styles import STYLES
from tests.openai_stub import ChatStub, Hang, Url, drawn_png
from worker.errors import StageError
from worker.illustration.base import PageToDraw, PartlyDrawn
from worker.illustration.openai_images import OpenAIIllustrator, size_for
from worker.tasks import is_transient

HANGUL = re.compile(r"[가-힣]")


def _settings(stub: ChatStub, **extra) -> Settings:
    values = {
        "TALES_ILLUSTRATOR": "openai", "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "test-key",
        "TALES_OPENAI_IMAGE_MODEL": "stub-image", "TALES_OPENAI_TIMEOUT": 2.0, "TALES_OPENAI_MAX_RETRIES": 0,
    }
    return Settings(**{**values, **extra})


def _pages() -> list[PageToDraw]:
    return [
        PageToDraw(Image.new("RGB", (1600, 1200), (30, 90, 160)), "a girl reading a book", seed=1),
        PageToDraw(Image.new("RGB", (900, 1600), (90, 160, 30)), "", seed=2),
    ]


def test_each_page_is_one_edit_request_and_comes_back_at_its_size(stub):
    pages = _pages()
    style = STYLES["watercolor"]
    drawn = OpenAIIllustrator(_settings(stub)).draw(pages, style)

    assert [picture.size for picture in drawn] == [(1600, 1200), (900, 1600)]
    assert all(picture.mode == "RGB" for picture in drawn)
    assert drawn[0].getpixel((800, 600)) == (200, 120, 60)  # the stub's drawing, not the photo
    assert len(stub.edit_requests) == 2
    by_caption = sorted(stub.edit_requests, key=lambda form: "a girl reading" not in form["prompt"])
    for form, page in zip(by_caption, pages, strict=True):
        assert form["model"] == "stub-image"
        assert form["prompt"].startswith("Redraw this family photo as " + style.prompt + ";")
        assert "no text" in form["prompt"]
        assert form["image_content_type"] == "image/png" and form["image_filename"].endswith(".png")
        with Image.open(io.BytesIO(form["image"])) as sent:
            assert sent.format == "PNG"
            assert max(sent.size) == 1024  # reduced to 1024 on the long side, its shape kept
            assert sent.size[0] / sent.size[1] == pytest.approx(page.picture.width / page.picture.height, rel=0.01)
    assert "The photo shows a girl reading a book." in by_caption[0]["prompt"]
    assert "photo shows" not in by_caption[1]["prompt"]
    assert [form["size"] for form in by_caption] == ["1536x1024", "1024x1536"]
    # Not a GPT image model: asked for b64_json (gpt-image-1 always answers so, and refuses the field).
    assert {form.get("response_format") for form in by_caption} == {"b64_json"}
    assert {headers["Authorization"] for headers in stub.edit_headers} == {"Bearer test-key"}


def test_gpt_image_models_are_not_sent_a_response_format(stub):
    OpenAIIllustrator(_settings(stub, TALES_OPENAI_IMAGE_MODEL="gpt-image-1")).draw(_pages()[:1], STYLES["cartoon"])
    assert stub.edit_requests[0]["model"] == "gpt-image-1"
    assert "response_format" not in stub.edit_requests[0]


def test_a_url_answer_is_fetched(stub):
    stub.edit = lambda form: Url(drawn_png(form["size"], colour=(10, 200, 10)))
    [drawn] = OpenAIIllustrator(_settings(stub)).draw(_pages()[:1], STYLES["pencil"])
    assert drawn.size == (1600, 1200) and drawn.getpixel((5, 5)) == (10, 200, 10)


def test_the_size_asked_for_is_the_nearest_shape():
    assert size_for(1000, 1000) == (1024, 1024)
    assert size_for(1200, 1000) == (1024, 1024)  # 1.2:1 is nearer square than 3:2
    assert size_for(1600, 1200) == (1536, 1024)
    assert size_for(3000, 1000) == (1536, 1024)
    assert size_for(1000, 1200) == (1024, 1024)
    assert size_for(1200, 1600) == (1024, 1536)


def test_a_refusal_is_a_readable_stage_error(stub):
    stub.edit = lambda form: (400, {"error": {
        "message": "Your request was rejected as a result of our safety system.", "type": "image_generation_user_error",
        "code": "moderation_blocked"}})
    with pytest.raises(StageError) as failure:
        OpenAIIllustrator(_settings(stub)).draw(_pages(), STYLES["watercolor"])
    message = str(failure.value)
    assert HANGUL.match(message), message  # Korean first, for the parent
    assert "사진" in message and "안전" in message
    assert "(the images server at" in message and "400" in message and "safety system" in message
    assert not is_transient(failure.value)


def test_another_4xx_is_a_refusal_for_the_operator(stub):
    stub.edit = lambda form: (401, {"error": {"message": "Incorrect API key provided"}})
    with pytest.raises(StageError, match=r"^그림을 그리는 서버가 요청을 받아 주지 않았어요.*\(.*401.*Incorrect API key"):
        OpenAIIllustrator(_settings(stub)).draw(_pages()[:1], STYLES["watercolor"])


def test_a_server_that_hangs_times_out_quickly_and_is_retried(stub):
    stub.edit = lambda form: Hang(5.0)
    illustrator = OpenAIIllustrator(_settings(stub, TALES_OPENAI_TIMEOUT=0.5, TALES_OPENAI_MAX_RETRIES=0))
    started = time.monotonic()
    with pytest.raises(StageError) as failure:
        illustrator.draw(_pages(), STYLES["watercolor"])
    assert time.monotonic() - started < 3
    assert HANGUL.match(str(failure.value)) and "0.5 s" in str(failure.value)
    # Like openai_chat's timeouts, the task retries it later; it survives Celery's pickling.
    assert isinstance(failure.value, TimeoutError) and is_transient(failure.value)
    assert str(pickle.loads(pickle.dumps(failure.value))) == str(failure.value)


def test_a_server_that_is_gone_is_a_transient_korean_error(stub):
    settings = _settings(stub)
    stub.stop()
    with pytest.raises(StageError) as failure:
        OpenAIIllustrator(settings).draw(_pages()[:1], STYLES["watercolor"])
    assert HANGUL.match(str(failure.value)) and "could not reach" in str(failure.value)
    assert isinstance(failure.value, ConnectionError) and is_transient(failure.value)


def test_a_page_that_fails_keeps_the_pages_drawn_before_it_and_sends_no_more(stub):
    """One page at a time: the first drawn, the second refused, the third never sent (nor paid for)."""
    answers = iter([drawn_png("1536x1024"), (401, {"error": {"message": "Incorrect API key provided"}})])
    stub.edit = lambda form: next(answers)
    pages = [*_pages(), PageToDraw(Image.new("RGB", (800, 800), (10, 10, 10)), "", seed=3)]
    with pytest.raises(PartlyDrawn) as failure:
        OpenAIIllustrator(_settings(stub), parallel=1).draw(pages, STYLES["watercolor"])
    assert list(failure.value.drawn) == [0] and failure.value.drawn[0].size == pages[0].picture.size
    assert len(stub.edit_requests) == 2
    assert str(failure.value).startswith("그림을 그리는 서버가 요청을 받아 주지 않았어요") and not is_transient(failure.value)


def test_when_no_page_was_drawn_the_failure_is_the_pages_own(stub):
    stub.edit = lambda form: (401, {"error": {"message": "Incorrect API key provided"}})
    with pytest.raises(StageError) as failure:
        OpenAIIllustrator(_settings(stub), parallel=1).draw(_pages(), STYLES["watercolor"])
    assert not isinstance(failure.value, PartlyDrawn) and len(stub.edit_requests) == 1

def test_a_picture_that_is_not_one_is_a_stage_error(stub):
    stub.edit = lambda form: b"not a png"
    with pytest.raises(StageError, match="그림을 읽지 못했어요") as failure:
        OpenAIIllustrator(_settings(stub)).draw(_pages()[:1], STYLES["watercolor"])
    assert not is_transient(failure.value)


def test_without_a_server_it_is_a_korean_error():
    with pytest.raises(StageError, match="설정"):
        OpenAIIllustrator(Settings(TALES_ILLUSTRATOR="openai", OPENAI_API_KEY=None, OPENAI_BASE_URL=None))
