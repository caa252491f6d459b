"""Child safety: unsafe hints refused at submission (API and pages), unsafe written pages replaced."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest

from shared.safety import find_unsafe, is_safe
from tests.conftest import REPO
from tests.helpers import book_form, jpeg, scene

UNSAFE = ["씨발", "시1발", "ㅅㅂ", "개새끼야", "병신같이", "존나 좋아", "섹스", "죽여버릴 거야", "자살", "마약", "FUCK you", "애미가"]
INNOCENT = ["새끼 고양이가 잠들었어요", "시발점에 섰어요", "꽃씨 발견했어요", "로켓이 발사대에서 날았어요", "시바견이 뛰어요",
            "보지 못했어요", "불이 꺼져 있었어요", "엄마를 졸라 장난감을 샀어요", "마약김밥을 먹었어요", "개나리가 피었어요",
            "엿을 먹었어요", "Essex", "걸레로 닦았어요"]


@pytest.mark.parametrize("text", UNSAFE)
def test_unsafe_words_are_found_even_when_disguised(text):
    assert find_unsafe(text) is not None


@pytest.mark.parametrize("text", INNOCENT)
def test_ordinary_picture_book_words_pass(text):
    assert is_safe(text)


def test_the_check_keeps_the_web_tier_light():
    code = ("import sys\nfrom web.schemas import SceneAnnotation\nfrom shared.safety import is_safe\n"
            "assert not is_safe('씨발')\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('kiwipiepy', 'torch', 'korcen'))))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("book, field", [
    ({"scenes": [scene(feeling="기쁨, 씨발")]}, "book.scenes.0.feeling"),
    ({"scenes": [scene("개새끼")]}, "book.scenes.0.name"),
    ({"title": "병신 이야기"}, "book.title"),
])
def test_unsafe_hints_are_refused_at_submission_naming_the_field(client, api, book, field):
    response = client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data",
                           data=book_form([jpeg()], book))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "unsafe_text"
    assert response.json["error"]["field"] == field
    assert "아이 그림책에 넣을 수 없는 말이 있어요" in response.json["error"]["message"]


def test_unsafe_hints_are_refused_when_annotating_later(client, api):
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()]))
    response = client.put(f"{created.json['url']}/scenes", headers=headers,
                          json={"scenes": [scene(prediction="죽여버릴 거야")]})
    assert response.status_code == 400
    assert (response.json["error"]["code"], response.json["error"]["field"]) == ("unsafe_text", "scenes.0.prediction")


def test_age_is_stored_returned_and_checked(client, api):
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([jpeg()], {"age": "유아", "scenes": [scene()]}))
    assert created.status_code == 202 and created.json["age"] == "유아"
    assert client.get(created.json["url"], headers=headers).json["age"] == "유아"
    refused = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([jpeg()], {"age": "어른"}))
    assert refused.status_code == 400 and refused.json["error"]["field"] == "book.age"
    assert "유아, 초등 저학년, 초등 고학년" in refused.json["error"]["message"]


@pytest.fixture
def pages(db, service_env, spare_redis_url):
    from tests.web_helpers import Pages
    from web import create_app

    return Pages(create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client())


def test_the_new_book_page_shows_the_refusal_in_korean_next_to_the_field(pages):
    pages.signup()
    form = {"title": "씨발 책", "hints": "now", "age": "유아", "images": [(io.BytesIO(jpeg()), "a.jpg")],
            "scenes-0-name": "토끼", "scenes-0-i_action": "뛰다", "scenes-0-classification": "자연탐구",
            "scenes-0-feeling": "존나 기쁨"}
    response = pages.post("/books/new", form, page="/books/new", content_type="multipart/form-data")
    assert response.status_code == 400
    html = response.text
    assert 'id="title-error">책 제목에 아이 그림책에 넣을 수 없는 말이 있어요.' in html
    assert "감정에 아이 그림책에 넣을 수 없는 말이 있어요. 다른 말로 바꿔 주세요." in html
    alert = re.search(r'<div class="alert".*?</div>', html, re.DOTALL).group(0)
    assert "존나" not in alert and "씨발" not in alert  # the refusal does not repeat the word
    assert '<option value="유아" selected>' in html


def test_the_hint_form_of_a_book_shows_the_refusal_next_to_the_field(pages, db, data_dir):
    from shared.status import BookStatus
    from tests.web_helpers import load, make_book, user_id

    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.AWAITING_ANNOTATIONS, scenes=1)
    fields = {"scenes-0-name": "토끼", "scenes-0-i_action": "뛰다", "scenes-0-classification": "자연탐구",
              "scenes-0-feeling": "지랄 같은 기분"}
    response = pages.post(f"/books/{book_id}/annotations", fields, page=f"/books/{book_id}")
    assert response.status_code == 400
    assert re.search(r'id="scene-0-feeling-error">감정에 아이 그림책에 넣을 수 없는 말이 있어요', response.text)
    assert 'id="scene-0-feeling" name="scenes-0-feeling"' in response.text and 'aria-invalid="true"' in response.text
    assert load(db, book_id).status is BookStatus.AWAITING_ANNOTATIONS


def test_the_new_book_page_offers_the_age_bands(pages):
    pages.signup()
    html = pages.client.get("/books/new").text
    assert 'name="age"' in html and "유아 (3~5세)" in html and "초등 고학년 (4~6학년)" in html


def test_unsafe_text_from_a_writer_is_rewritten_once_then_replaced():
    from worker.ml import story
    from worker.ml.plan import Draft, make_plan
    from worker.ml.writer import SceneInput

    class Writer:
        name = "fake"

        def __init__(self, answers):
            self.answers, self.calls = answers, []

        def write_book(self, scenes, plan=None):
            self.calls.append([(s.index, s.again, dict(s.neighbours)) for s in scenes])
            return Draft(texts=[self.answers.pop(0) for _ in scenes], title="씨발 제목")

    scenes = [SceneInput(index=i, fields=scene("토끼", "뛰다")) for i in (1, 2, 3)]
    writer = Writer(["첫 장이에요.", "시발 둘째 장.", "ㅅㅂ 셋째 장.", "다시 쓴 둘째 장이에요.", "또 ㅆㅂ"])
    draft = story.write_book(writer, scenes, make_plan(scenes))
    assert draft.texts[0] == "첫 장이에요." and draft.texts[1] == "다시 쓴 둘째 장이에요."
    assert is_safe(draft.texts[2]) and "토끼" in draft.texts[2]
    assert draft.sources == ["fake", "fake", "template"]
    assert draft.title == make_plan(scenes).title  # an unsafe title is not used either
    assert writer.calls[1] == [(2, True, {1: "첫 장이에요."}), (3, True, {1: "첫 장이에요."})]
    assert draft.notes[0].startswith("아이 책에 맞지 않는 말이 있어 2쪽을 다시 썼어요")
    assert draft.notes[1].startswith("아이 책에 맞지 않는 말이 있어 3쪽은 규칙 기반 문장으로 바꿨어요")


def test_a_safe_book_is_written_once_with_no_notes():
    from worker.ml import story
    from worker.ml.writer import SceneInput, TemplateWriter

    draft = story.write_book(TemplateWriter(), [SceneInput(index=1, fields=scene())])
    assert draft.notes == [] and draft.sources == ["template"]
    assert json.dumps(draft.texts, ensure_ascii=False)
