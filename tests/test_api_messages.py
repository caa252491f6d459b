"""The API speaks Korean: every refusal has a Korean `message` in the pages' words and a stable English `code`."""
from __future__ import annotations

import re

import pytest

from shared.status import BookStatus
from tests.helpers import book_form, jpeg, scene
from tests.test_pages import limited  # noqa: F401 - the fixture: an app with rate limits on
from tests.web_helpers import ApiActions, make_book, user_id

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _error(response) -> dict:
    body = response.json["error"]
    assert HANGUL.search(body["message"]), body
    assert not re.search(r"\b(this field|required|not found|must be)\b", body["message"]), body
    return body


def test_a_missing_scene_classification_is_named_in_korean_with_a_stable_code(client, api):
    headers = api.user()
    hints = {"scenes": [scene(), {"name": "민지", "i_action": "뛰어요"}]}
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                           data=book_form([jpeg(), jpeg()], hints))
    assert response.status_code == 400
    assert _error(response) == {
        "code": "missing_field",
        "message": "장면 2: 이야기 분류를 의사소통, 자연탐구, 사회관계, 예술경험, 신체운동_건강 중에서 골라 주세요.",
        "field": "book.scenes.1.classification",
    }


def test_hints_given_later_are_refused_in_the_same_words(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.AWAITING_ANNOTATIONS, scenes=1)
    refused = client.put(f"/api/v1/books/{book_id}/scenes", headers=headers, json={"scenes": [{"name": "민지", "i_action": ""}]})
    assert refused.status_code == 400
    assert _error(refused) == {"code": "missing_field", "message": "장면 1: 주인공이 하는 일을 적어 주세요.", "field": "scenes.0.i_action"}
    too_long = client.put(f"/api/v1/books/{book_id}/scenes", headers=headers, json={"scenes": [scene(name="가" * 101)]})
    assert _error(too_long) == {"code": "too_long", "message": "장면 1: 주인공 이름이 너무 길어요. 100자까지 쓸 수 있어요.",
                                    "field": "scenes.0.name"}


@pytest.mark.parametrize("body, code, field, words", [
    ({"email": "not-an-email", "password": "long enough"}, "invalid_value", "email", "이메일 주소가 올바르지 않아요"),
    ({"email": "a@example.com", "password": "short"}, "too_short", "password", "비밀번호가 너무 짧아요. 8자 이상"),
    ({"email": "a@example.com"}, "missing_field", "password", "비밀번호를 적어 주세요"),
    ({"email": "a@example.com", "password": "long enough", "name": "x"}, "unknown_field", "name", "알 수 없는 항목"),
])
def test_sign_up_refusals_are_korean(client, body, code, field, words):
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 400
    error = _error(response)
    assert (error["code"], error["field"]) == (code, field) and words in error["message"], error


def test_not_found_is_korean_for_a_book_and_for_an_address(client, api):
    headers = api.user()
    book = client.get("/api/v1/books/" + "0" * 32 + "/pdf", headers=headers)
    assert book.status_code == 404 and _error(book) == {"code": "not_found", "message": "찾는 책이 없어요. 책 주소(id)를 확인해 주세요."}
    polled = client.get("/api/v1/books/" + "0" * 32, headers=headers)
    assert polled.status_code == 404 and _error(polled)["code"] == "not_found" and "찾는" in polled.json["error"]["message"]
    nowhere = client.get("/api/v1/nothing-here", headers=headers)
    assert nowhere.status_code == 404 and _error(nowhere)["code"] == "not_found"
    wrong_method = client.put("/api/v1/books", headers=headers)
    assert wrong_method.status_code == 405 and _error(wrong_method)["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


def test_raisers_english_details_become_korean_sentences_of_their_code(client, api, db, data_dir):
    assert _error(client.get("/api/v1/books"))["code"] == "unauthorized"  # raised in English by web/auth.py
    headers = api.user()
    not_json = client.post("/api/v1/tokens", data="x", content_type="text/plain")
    assert _error(not_json)["code"] == "invalid_json"
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.WRITING)
    pdf = client.get(f"/api/v1/books/{book_id}/pdf", headers=headers)
    assert pdf.status_code == 409 and _error(pdf)["code"] == "not_ready"
    assert "이야기를 쓰고 있어요" in pdf.json["error"]["message"]


def test_a_user_at_the_books_in_progress_limit_is_refused_before_any_photo_is_decoded(client, api, app, db, data_dir):
    from web.images import DecodeSlots

    app.extensions["talesrunner.settings"] = app.extensions["talesrunner.settings"].model_copy(update={"TALES_MAX_ACTIVE_BOOKS": 1})
    headers = api.user()
    make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.WRITING)
    slots = app.extensions["talesrunner.decode_slots"] = DecodeSlots(1, wait_s=0.05)
    with slots.slot():  # any decode would wait for this slot and answer 503 "busy"
        response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()]))
    assert response.status_code == 429, response.json
    assert _error(response)["code"] == "too_many_books_in_progress"
    assert "1권까지" in response.json["error"]["message"]


def test_success_carries_no_retry_after_and_a_refusal_does(limited):
    app = limited(TALES_RATELIMIT_BOOKS="1 per hour")
    client = app.test_client()
    created = client.post("/api/v1/users", json={"email": "r@example.com", "password": "correct horse"})
    assert created.status_code == 201 and "Retry-After" not in created.headers
    headers = ApiActions(client).user("s@example.com")
    accepted = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()]))
    assert accepted.status_code == 202 and "Retry-After" not in accepted.headers
    assert "X-RateLimit-Remaining" in accepted.headers  # the allowance is still said, only not as a wait
    refused = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()]))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert _error(refused)["code"] == "too_many_requests" and "1시간에 1번" in refused.json["error"]["message"]
