"""The JSON API contract: accounts, book creation, validation, ownership, errors."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from shared.db import session_factory
from shared.models import Book, Scene
from shared.status import BookStatus
from tests.helpers import book_form, jpeg, scene
from tests.web_helpers import TEST_PDF, confirm_email, load, make_book, user_id


def test_signup_token_and_auth_required(client, api):
    headers = api.user()
    assert client.get("/api/v1/books", headers=headers).status_code == 200
    response = client.get("/api/v1/books")
    assert response.status_code == 401
    assert "Bearer" in response.json["error"]["message"]
    assert client.get("/api/v1/books", headers={"Authorization": "Bearer nope"}).status_code == 401
    issued = client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": "correct horse"})
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"  # a secret, shown once


def test_duplicate_email_is_409(client, api):
    api.user("same@example.com")
    response = client.post("/api/v1/users", json={"email": "SAME@example.com", "password": "another pass"})
    assert response.status_code == 409
    assert response.json["error"]["field"] == "email"


def test_wrong_password_is_401(client, api):
    api.user("p@example.com", "right password")
    response = client.post("/api/v1/tokens", json={"email": "p@example.com", "password": "wrong password"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "bad_credentials"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "password": "long enough"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com"}, "password"),
    ],
)
def test_signup_validation(client, body, field):
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert response.json["error"]["message"]


def test_non_json_body_is_400(client):
    response = client.post("/api/v1/users", data="email=x", content_type="text/plain")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_create_book_returns_202_and_stores_rows(client, api, db, data_dir):
    headers = api.user()
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                           data=book_form([jpeg(), jpeg(color=(0, 0, 255))], {"title": "<토끼> & 친구", "scenes": [scene(), scene("곰")]}))
    assert response.status_code == 202, response.json
    body = response.json
    assert body["status"] == "queued"
    assert body["progress"] == {"done": 0, "total": 2}
    assert response.headers["Location"] == f"/api/v1/books/{body['id']}"
    assert [s["index"] for s in body["scenes"]] == [1, 2]
    assert body["scenes"][1]["annotations"]["name"] == "곰"
    with session_factory(db)() as session:
        scenes = session.scalars(select(Scene).where(Scene.book_id == body["id"]).order_by(Scene.index)).all()
        assert [s.image_format for s in scenes] == ["JPEG", "JPEG"]
        # Stored under generated names inside DATA_DIR, not the uploaded names.
        for stored in scenes:
            assert not stored.image_name.endswith(("photo0.jpg", "photo1.jpg"))
            assert (data_dir / stored.image_name).is_file()


def test_book_hints_are_kept_for_hints_that_come_later(client, api, db):
    headers = api.user()
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                           data=book_form([jpeg(), jpeg()], {"book_hints": {"name": "민지", "character": "엄마"}}))
    assert response.status_code == 202, response.json
    assert response.json["book_hints"] == {"name": "민지", "character": "엄마"}
    assert response.json["title"] == "민지의 이야기"
    assert all(scene["annotations"] is None for scene in response.json["scenes"])


@pytest.mark.parametrize(
    "images, book, code, field",
    [
        ([], None, "no_images", "images"),
        ([jpeg()] * 11, None, "too_many_images", "images"),
        ([b"GIF89a not really"], None, "bad_image", "images[0]"),
        ([b"%PDF-1.4 pretending"], None, "bad_image", "images[0]"),
        ([jpeg()], {"scenes": [scene(), scene()]}, "scene_count", "book.scenes"),
        ([jpeg()], {"scenes": [{"name": "토끼", "i_action": "뛰다", "classification": "놀이"}]}, "not_a_choice", "book.scenes.0.classification"),
        ([jpeg()], {"scenes": [{"name": "  ", "i_action": "뛰다", "classification": "자연탐구"}]}, "missing_field", "book.scenes.0.name"),
        ([jpeg()], {"colour": "red"}, "unknown_field", "book.colour"),
        ([jpeg()], {"book_hints": {"name": "민지\u0000"}}, "control_characters", "book.book_hints.name"),
        ([jpeg()], {"book_hints": {"hero": "민지"}}, "unknown_field", "book.book_hints.hero"),
    ],
)
def test_bad_uploads_are_400_with_a_message_and_store_nothing(client, api, db, data_dir, images, book, code, field):
    headers = api.user()
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form(images, book))
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["field"] == field
    assert response.json["error"]["message"]
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 0


def test_a_busy_server_answers_503_not_a_broken_photo(client, api, app, db):
    from web.images import DecodeSlots

    headers = api.user()
    slots = DecodeSlots(1, wait_s=0.05)
    app.extensions["talesrunner.decode_slots"] = slots
    with slots.slot():  # another request decodes a photo the whole time
        response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()], None))
    assert response.status_code == 503 and response.json["error"]["code"] == "busy", response.json
    assert response.headers["Retry-After"]
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 0


def test_book_field_must_be_json(client, api):
    headers = api.user()
    data = {"images": [(io.BytesIO(jpeg()), "a.jpg")], "book": "{not json"}
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=data)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "book"


def test_pixel_limit(client, api, app):
    app.extensions["talesrunner.settings"] = app.extensions["talesrunner.settings"].model_copy(update={"TALES_MAX_IMAGE_PIXELS": 1000})
    headers = api.user()
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg(100, 100)]))
    assert response.status_code == 400
    assert "백만 화소" in response.json["error"]["message"]


def test_too_large_request_is_413_json(client, api, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    headers = api.user()
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg(400, 400)]))
    assert response.status_code == 413
    assert "사진이 너무 커요" in response.json["error"]["message"]


def test_books_in_progress_are_capped(client, api, app):
    app.extensions["talesrunner.settings"] = app.extensions["talesrunner.settings"].model_copy(update={"TALES_MAX_ACTIVE_BOOKS": 1})
    headers = api.user()
    assert client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()])).status_code == 202
    response = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()]))
    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_books_in_progress"


def test_list_is_mine_newest_first_and_paginated(client, api):
    alice, bob = api.user("alice@example.com"), api.user("bob@example.com")
    ids = [client.post("/api/v1/books", headers=alice, content_type="multipart/form-data", data=book_form([jpeg()])).json["id"] for _ in range(3)]
    client.post("/api/v1/books", headers=bob, content_type="multipart/form-data", data=book_form([jpeg()]))
    listing = client.get("/api/v1/books?per_page=2", headers=alice).json
    assert listing["total"] == 3
    assert [b["id"] for b in listing["books"]] == ids[::-1][:2]
    assert [b["id"] for b in client.get("/api/v1/books?per_page=2&page=2", headers=alice).json["books"]] == [ids[0]]


OTHER_USER_ROUTES = [
    ("get", "/api/v1/books/{id}", None),
    ("put", "/api/v1/books/{id}/scenes", {"scenes": [scene()]}),
    ("post", "/api/v1/books/{id}/generate", None),
    ("patch", "/api/v1/books/{id}/scenes/1", {"text": "바꾼 글"}),
    ("post", "/api/v1/books/{id}/scenes/1/regenerate", None),
    ("post", "/api/v1/books/{id}/scenes/1/undo", None),
    ("post", "/api/v1/books/{id}/retry", None),
    ("post", "/api/v1/books/{id}/email", {}),
    ("get", "/api/v1/books/{id}/pdf", None),
    ("get", "/api/v1/books/{id}/scenes/1/image", None),
    ("delete", "/api/v1/books/{id}", None),
]


@pytest.mark.parametrize("method, path, body", OTHER_USER_ROUTES)
def test_another_users_book_is_404_on_every_route(client, api, method, path, body):
    owner, stranger = api.user("owner@example.com"), api.user("stranger@example.com")
    book_id = client.post("/api/v1/books", headers=owner, content_type="multipart/form-data", data=book_form([jpeg()])).json["id"]
    response = getattr(client, method)(path.format(id=book_id), headers=stranger, json=body)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/books/{book_id}", headers=owner).status_code == 200


@pytest.mark.parametrize("method, path, body", OTHER_USER_ROUTES)
def test_every_book_route_needs_auth(client, method, path, body):
    assert getattr(client, method)(path.format(id="0" * 32), json=body).status_code == 401


def test_wrong_state_is_409(client, api):
    headers = api.user()
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()])).json["id"]
    for method, path, body in [
        ("post", "generate", None), ("patch", "scenes/1", {"text": "x"}), ("get", "pdf", None), ("post", "retry", None),
    ]:
        response = getattr(client, method)(f"/api/v1/books/{book_id}/{path}", headers=headers, json=body)
        assert response.status_code == 409, path
        assert "차례를 기다려요" in response.json["error"]["message"]  # the state, as the pages name it


def set_status(db_url: str, book_id: str, status: BookStatus, **scene_texts: str) -> None:
    """Move a book as a worker would have (no worker runs here), optionally writing page texts (p1="...")."""
    with session_factory(db_url)() as session:
        book = session.get(Book, book_id)
        book.status = status
        for scene_ in book.scenes:
            if f"p{scene_.index}" in scene_texts:
                scene_.text, scene_.text_source = scene_texts[f"p{scene_.index}"], "template"
        session.commit()


def test_undo_puts_back_the_text_a_rewrite_replaced(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), scenes=4)
    nothing = client.post(f"/api/v1/books/{book_id}/scenes/1/undo", headers=headers)
    assert nothing.status_code == 409 and nothing.json["error"]["code"] == "nothing_to_undo"

    rewrite = client.post(f"/api/v1/books/{book_id}/scenes/1/regenerate", headers=headers)
    assert rewrite.status_code == 202
    body = rewrite.json
    # The writer writes one page this time: the progress counts that page alone.
    assert body["status"] == "writing" and body["progress"] == {"done": 0, "total": 1}
    assert body["scenes"][0]["text"] is None and body["scenes"][0]["previous_text"] == "1쪽 이야기예요."
    # The finished PDF stays downloadable while the book is made again, marked as not current.
    assert body["pdf_url"] and body["files_current"] is False
    pdf = client.get(body["pdf_url"], headers=headers)
    assert pdf.status_code == 200 and pdf.data == TEST_PDF

    set_status(db, book_id, BookStatus.DONE, p1="새로 쓴 글이에요.")
    assert client.get(f"/api/v1/books/{book_id}", headers=headers).json["files_current"] is True
    undone = client.post(f"/api/v1/books/{book_id}/scenes/1/undo", headers=headers)
    assert undone.status_code == 202 and undone.json["status"] == "rendering"
    first = undone.json["scenes"][0]
    assert (first["text"], first["text_source"], first["previous_text"]) == ("1쪽 이야기예요.", "user", None)
    set_status(db, book_id, BookStatus.DONE)
    assert client.post(f"/api/v1/books/{book_id}/scenes/1/undo", headers=headers).status_code == 409


def test_an_edit_by_hand_drops_the_undo(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    client.post(f"/api/v1/books/{book_id}/scenes/2/regenerate", headers=headers)
    set_status(db, book_id, BookStatus.DONE, p2="새로 쓴 글이에요.")
    assert client.patch(f"/api/v1/books/{book_id}/scenes/2", headers=headers, json={"text": "직접 쓴 글"}).status_code == 202
    assert load(db, book_id).scenes[1].previous_text is None


def test_a_book_never_finished_has_no_pdf_yet(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.RENDERING)
    response = client.get(f"/api/v1/books/{book_id}/pdf", headers=headers)
    assert response.status_code == 409 and response.json["error"]["code"] == "not_ready"
    body = client.get(f"/api/v1/books/{book_id}", headers=headers).json
    assert "pdf_url" not in body and body["files_current"] is False


def test_delete_removes_rows_and_files(client, api, db, data_dir):
    headers = api.user()
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=book_form([jpeg()])).json["id"]
    assert (data_dir / "books" / book_id).is_dir()
    assert client.delete(f"/api/v1/books/{book_id}", headers=headers).status_code == 204
    assert not (data_dir / "books" / book_id).exists()
    assert client.get(f"/api/v1/books/{book_id}", headers=headers).status_code == 404
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Scene)) == 0


def test_unknown_route_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_healthz_reports_database_and_broker(client):
    body = client.get("/healthz").json
    assert body == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_when_the_broker_is_down(db, service_env):
    from web import create_app

    client = create_app({**service_env, "REDIS_URL": "redis://127.0.0.1:1/0"}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["broker"].startswith("error")


def test_openapi_lists_every_route(client, app):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))  # <int:index> -> {index}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)
    assert "SceneAnnotation" in spec["components"]["schemas"]


def test_renaming_a_book_being_drawn_is_409_rendering_in_korean(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.RENDERING)
    response = client.patch(f"/api/v1/books/{book_id}", headers=headers, json={"title": "새 제목"})
    assert response.status_code == 409
    assert response.json["error"] == {"code": "rendering", "message": "지금 책을 그리고 있어요. 다 되면 제목을 바꿔 주세요.",
                                      "field": "title"}


def test_the_same_mail_asked_twice_is_one_request(client, api, db, data_dir):
    headers = api.user()
    confirm_email(db)  # mail to someone else needs a confirmed address
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    for _ in range(2):
        answer = client.post(f"/api/v1/books/{book_id}/email", headers=headers, json={"to": "grandma@example.com", "note": "안녕하세요"})
        assert answer.status_code == 202
        assert [e["to"] for e in answer.json["emails"]] == ["grandma@example.com"]
    assert len(load(db, book_id).emails) == 1


def test_a_page_edit_counts_a_line_break_once(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    text = "\r\n".join(["가" * 99] * 20) + "!"  # 2,019 characters with CR LF, 2,000 with LF
    assert client.patch(f"/api/v1/books/{book_id}/scenes/1", headers=headers, json={"text": text}).status_code == 202
    assert load(db, book_id).scenes[0].text == text.replace("\r\n", "\n")
