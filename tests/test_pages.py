"""The pages: accounts, CSRF, cookies, rate limits, new book, the book page's forms, ownership, pagination."""
from __future__ import annotations

import io
import re
import threading
import time
from datetime import datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select, text, update

from shared.db import session_factory
from shared.links import sign_book
from shared.models import ApiToken, Book, EmailRequest, Scene, User, utcnow
from shared.status import BookStatus, EmailStatus
from tests.helpers import REPO, jpeg
from tests.web_helpers import PASSWORD, Pages, confirm_email, load, make_book, user_id


@pytest.fixture
def app(db, service_env, spare_redis_url):
    """The web app with its messages going to a Redis database no worker reads: books stay as made."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url})


@pytest.fixture
def limited(db, service_env, spare_redis_url):
    """An app with rate limits on (small ones), its counters cleared."""
    from web import create_app

    def make(**limits):
        app = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_RATELIMIT_ENABLED": "true", **limits})
        app.extensions["talesrunner.limiter"].reset()
        return app

    return make


@pytest.fixture
def pages(client) -> Pages:
    return Pages(client)


# Accounts --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/login", "/signup"])
def test_public_pages_render_in_korean_with_local_assets_only(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert '<html lang="ko">' in response.text
    assert 'name="viewport"' in response.text
    assert not re.search(r'(src|href)="(https?:)?//', response.text)  # no CDN: everything is served here
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_app_js_is_a_module_whose_imports_are_all_preloaded(client):
    """app.js imports the pages' other scripts; base.html names each for the browser to fetch at once."""
    page = client.get("/login").text
    assert '<script type="module" src="/static/app.js"></script>' in page
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/([^"]+)">', page))
    static = REPO / "web" / "static"
    imported = set()
    for path in static.rglob("*.js"):
        for name in re.findall(r'^import .* from "(\.[^"]+)";$', path.read_text(encoding="utf-8"), re.M):
            target = (path.parent / name).resolve()
            assert target.is_file(), f"{path.relative_to(static)} imports {name}: no such file"
            imported.add(target.relative_to(static).as_posix())
    assert preloaded == imported
    for name in preloaded:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.mimetype in ("text/javascript", "application/javascript")  # else the browser refuses a module


@pytest.mark.parametrize("path", ["/books", "/books/new", "/settings", "/books/" + "0" * 32])
def test_pages_need_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_signup_login_logout(client, pages, db):
    response = pages.signup()
    assert response.location == "/books/new"
    assert client.get("/books").status_code == 200
    assert pages.logout().location == "/login"
    assert client.get("/books").status_code == 302

    wrong = pages.login(password="wrong password")
    assert wrong.status_code == 401
    assert "이메일 또는 비밀번호가 맞지 않아요" in wrong.text
    right = pages.login(next_="/settings")
    assert right.status_code == 302 and right.location == "/settings"
    assert "parent@example.com" in client.get("/settings").text


def test_login_never_redirects_off_site(pages):
    pages.signup()
    pages.logout()
    for target in ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]:
        assert pages.login(next_=target).location == "/books"
        pages.logout()


@pytest.mark.parametrize(
    "email, password, confirm, message",
    [
        ("not-an-email", PASSWORD, PASSWORD, "올바른 이메일 주소"),
        ("a@example.com", "short", "short", "8자 이상"),
        ("a@example.com", PASSWORD, "different password", "두 비밀번호가 같지 않아요"),
    ],
)
def test_signup_problems_are_shown_in_korean(pages, db, email, password, confirm, message):
    response = pages.post("/signup", {"email": email, "password": password, "password_confirm": confirm}, page="/signup")
    assert response.status_code == 400
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_signup_with_a_taken_email(pages):
    pages.signup()
    pages.logout()
    response = pages.post("/signup", {"email": "PARENT@example.com", "password": PASSWORD, "password_confirm": PASSWORD}, page="/signup")
    assert response.status_code == 400
    assert "이미 가입된 이메일" in response.text


def test_session_cookie_flags(pages, db, service_env, spare_redis_url):
    cookie = pages.signup().headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    from web import create_app

    secure = Pages(create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_SECURE_COOKIES": "true"}).test_client())
    cookie = secure.signup("other@example.com").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_settings_tokens_are_shown_once_work_and_can_be_revoked(app, client, pages, db):
    pages.signup()
    response = pages.post("/settings/tokens", {"name": "노트북"}, page="/settings")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = re.search(r'value="(tr_[^"]+)"', response.text).group(1)
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/books", headers=bearer).status_code == 200

    listing = client.get("/settings").text
    assert "노트북" in listing and token[:10] in listing and token not in listing

    with session_factory(db)() as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "노트북"))
    pages.post(f"/settings/tokens/{token_id}/revoke", page="/settings")
    assert client.get("/api/v1/books", headers=bearer).status_code == 401

    # Someone else's token cannot be revoked from my settings page.
    api_token = app.test_client().post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD}).json["token"]
    pages.logout()
    pages.signup("stranger@example.com")
    with session_factory(db)() as session:
        their_id = session.scalar(select(ApiToken.id).where(ApiToken.prefix == api_token[:10]))
    assert pages.post(f"/settings/tokens/{their_id}/revoke", page="/settings").status_code == 404
    assert client.get("/api/v1/books", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200


# CSRF -----------------------------------------------------------------------------------------

CSRF_POSTS = ["/signup", "/login", "/logout", "/books/new", "/settings/tokens", "/books/{id}/retry",
              "/books/{id}/email", "/books/{id}/delete", "/books/{id}/scenes/1/text", "/books/{id}/annotations"]


@pytest.mark.parametrize("path", CSRF_POSTS)
def test_form_posts_without_a_csrf_token_are_rejected(client, pages, db, data_dir, path):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    response = client.post(path.format(id=book_id), data={"email": "x@example.com", "password": PASSWORD, "text": "바꾼 글"})
    assert response.status_code == 400
    assert "CSRF" in response.text
    assert load(db, book_id).status is BookStatus.DONE and load(db, book_id).scenes[0].text == "1쪽 이야기예요."
    bad = client.post(path.format(id=book_id), data={"csrf_token": "forged", "text": "바꾼 글"})
    assert bad.status_code == 400


def test_session_cookie_api_calls_need_the_csrf_header(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    # Reading with the session cookie is fine: that is how the book page polls.
    assert client.get(f"/api/v1/books/{book_id}").json["status"] == "done"
    refused = client.patch(f"/api/v1/books/{book_id}/scenes/1", json={"text": "몰래 바꾼 글"})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_failed"
    assert client.delete(f"/api/v1/books/{book_id}").status_code == 400
    assert load(db, book_id).scenes[0].text == "1쪽 이야기예요."

    token = pages.token("/books")
    allowed = client.patch(f"/api/v1/books/{book_id}/scenes/1", json={"text": "고친 글"}, headers={"X-CSRFToken": token})
    assert allowed.status_code == 202
    assert load(db, book_id).scenes[0].text == "고친 글"


def test_bearer_api_calls_need_no_csrf_token(client, api):
    headers = api.user()
    assert client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": "correct horse"}).status_code == 201
    assert client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                       data={"images": [(io.BytesIO(jpeg()), "a.jpg")]}).status_code == 202


# New book ------------------------------------------------------------------------------------

def photo_upload(colors) -> list:
    return [(io.BytesIO(jpeg(64, 48, color)), f"photo{i}.jpg") for i, color in enumerate(colors)]


def scene_fields(position: int, name: str, i_action: str = "놀다", classification: str = "자연탐구", **extra) -> dict:
    fields = {"name": name, "i_action": i_action, "classification": classification, **extra}
    return {f"scenes-{position}-{key}": value for key, value in fields.items()}


def stored_colors(db_url: str, data_dir, book_id: str) -> list[tuple[int, int, int]]:
    with session_factory(db_url)() as session:
        names = session.scalars(select(Scene.image_name).where(Scene.book_id == book_id).order_by(Scene.index)).all()
    colors = []
    for name in names:
        with Image.open(data_dir / name) as image:
            colors.append(image.convert("RGB").getpixel((32, 24)))
    return colors


def test_new_book_with_hints_keeps_the_chosen_order(client, pages, db, data_dir):
    pages.signup()
    form_page = client.get("/books/new").text
    assert 'id="scene-template"' in form_page and 'name="scenes-__i__-classification"' in form_page
    assert form_page.count('name="scenes-__i__-') == 10  # the three required and seven optional hints
    colors = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    form = {"title": "<세 장면> & 친구", "hints": "now", "email_when_done": "1", "images": photo_upload(colors),
            **scene_fields(0, "빨강"), **scene_fields(1, "초록", feeling="기쁨, 설렘"), **scene_fields(2, "파랑", classification="예술경험")}
    response = pages.post("/books/new", form, page="/books/new", content_type="multipart/form-data")
    assert response.status_code == 303
    book_id = response.location.rsplit("/", 1)[1]
    book = load(db, book_id)
    assert book.title == "<세 장면> & 친구" and book.email_when_done
    assert [s.annotations["name"] for s in book.scenes] == ["빨강", "초록", "파랑"]
    assert book.scenes[1].annotations["feeling"] == "기쁨, 설렘"
    assert book.scenes[2].annotations["classification"] == "예술경험"
    # Photo n carries hint n: the stored photos are in the order they were posted.
    for got, want in zip(stored_colors(db, data_dir, book_id), colors, strict=True):
        assert all(abs(a - b) < 12 for a, b in zip(got, want, strict=True))
    page = client.get(response.location)
    assert "&lt;세 장면&gt; &amp; 친구" in page.text  # user text is escaped
    assert 'id="progress-bar"' in page.text


def test_new_book_draft_flow_stores_photos_without_hints(pages, db):
    pages.signup()
    form = {"hints": "later", "images": photo_upload([(1, 2, 3), (4, 5, 6)]), **scene_fields(0, "무시돼요")}
    response = pages.post("/books/new", form, page="/books/new", content_type="multipart/form-data")
    assert response.status_code == 303
    book = load(db, response.location.rsplit("/", 1)[1])
    assert len(book.scenes) == 2 and all(scene.annotations is None for scene in book.scenes)


def test_hints_later_keep_the_main_character_typed_once(pages, client, db):
    pages.signup()
    form = {"hints": "later", "images": photo_upload([(1, 2, 3), (4, 5, 6)]), "book-name": " 민지 ", "book-character": "엄마, 강아지"}
    response = pages.post("/books/new", form, page="/books/new", content_type="multipart/form-data")
    assert response.status_code == 303
    book_id = response.location.rsplit("/", 1)[1]
    book = load(db, book_id)
    assert book.hint_defaults == {"name": "민지", "character": "엄마, 강아지"}
    assert all(scene.annotations is None for scene in book.scenes)
    with session_factory(db)() as session:
        session.execute(update(Book).where(Book.id == book_id).values(status=BookStatus.AWAITING_ANNOTATIONS))
        session.commit()
    page = client.get(f"/books/{book_id}").text
    assert "민지의 이야기" in page  # the title from the name, before any hint
    for position in range(2):  # every scene's hint form starts from the book's
        assert re.search(rf'name="scenes-{position}-name"[^>]*value="민지"', page), page
        assert re.search(rf'name="scenes-{position}-character"[^>]*value="엄마, 강아지"', page)


def test_a_wrong_book_level_hint_is_named_and_nothing_is_stored(pages, db):
    pages.signup()
    form = {"hints": "later", "images": photo_upload([(1, 1, 1)]), "book-name": "민" * 101}
    response = pages.post("/books/new", form, page="/books/new", content_type="multipart/form-data")
    assert response.status_code == 400
    assert 'id="book-name-error"' in response.text and "너무 길어요" in response.text
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 0


@pytest.mark.parametrize(
    "images, fields, messages",
    [
        ([], {}, ["사진을 1장에서 10장까지"]),
        ([(io.BytesIO(b"GIF89a not really"), "fake.gif")], scene_fields(0, "토끼"), ["사진으로 읽을 수 없는 파일"]),
        (photo_upload([(1, 1, 1), (2, 2, 2)]), {**scene_fields(0, "토끼"), **scene_fields(1, "", classification="놀이")},
         ["장면 2: 주인공 이름을 적어 주세요", "장면 2: 이야기 분류를"]),
        (photo_upload([(1, 1, 1)] * 11), {}, ["10장까지"]),
    ],
)
def test_new_book_problems_are_named_and_nothing_is_stored(pages, db, images, fields, messages):
    pages.signup()
    response = pages.post("/books/new", {"hints": "now", "images": images, **fields}, page="/books/new",
                          content_type="multipart/form-data")
    assert response.status_code == 400
    for message in messages:
        assert message in response.text
    assert "사진을 다시 골라 주세요" in response.text
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 0


def test_new_book_respects_the_books_in_progress_cap(pages, db, data_dir, app):
    pages.signup()
    app.extensions["talesrunner.settings"] = app.extensions["talesrunner.settings"].model_copy(update={"TALES_MAX_ACTIVE_BOOKS": 1})
    make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.WRITING)
    response = pages.post("/books/new", {"hints": "later", "images": photo_upload([(1, 1, 1)])}, page="/books/new",
                          content_type="multipart/form-data")
    assert response.status_code == 429
    assert "만들고 있는 책이 너무 많아요" in response.text


JSON = {"Accept": "application/json"}


def test_new_book_answers_its_script_with_errors_by_field(pages, db):
    pages.signup()
    form = {"hints": "now", "title": "x" * 201, "images": photo_upload([(1, 1, 1), (2, 2, 2)]),
            **scene_fields(0, "토끼"), **scene_fields(1, "", classification="놀이")}
    response = pages.post("/books/new", form, page="/books/new", content_type="multipart/form-data", headers=JSON)
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.json["fields"] == {
        "title": "제목은 200자까지 쓸 수 있어요.",
        "scenes-1-name": "주인공 이름을 적어 주세요.",
        "scenes-1-classification": "이야기 분류를 의사소통, 자연탐구, 사회관계, 예술경험, 신체운동_건강 중에서 골라 주세요.",
    }
    assert response.json["problems"][0] == "제목은 200자까지 쓸 수 있어요."
    assert "사진을 다시 골라" not in response.text  # the script keeps the photos
    bad_photo = pages.post("/books/new", {"hints": "later", "images": [(io.BytesIO(b"GIF89a not really"), "fake.gif")]},
                           page="/books/new", content_type="multipart/form-data", headers=JSON)
    assert bad_photo.status_code == 400 and bad_photo.json["error"]["code"] == "bad_image"
    assert bad_photo.json["fields"]["images"].startswith("사진으로 읽을 수 없는 파일이 있어요.")
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 0


def test_new_book_answers_its_script_with_the_book_page(pages, db):
    pages.signup()
    response = pages.post("/books/new", {"hints": "later", "images": photo_upload([(1, 1, 1)])}, page="/books/new",
                          content_type="multipart/form-data", headers=JSON)
    assert response.status_code == 201
    assert response.json["location"] == f"/books/{response.json['id']}"
    assert load(db, response.json["id"]) is not None


def test_new_book_fills_in_the_book_level_hero_and_an_empty_classification(pages, db):
    pages.signup()
    form = {"hints": "now", "book-name": "민지", "book-character": "엄마", "images": photo_upload([(1, 1, 1), (2, 2, 2)]),
            **scene_fields(0, "", i_action="모래성을 쌓아요", classification=""),
            **scene_fields(1, "토끼", i_action="책을 읽어요", classification="", character="곰")}
    response = pages.post("/books/new", form, page="/books/new", content_type="multipart/form-data")
    assert response.status_code == 303, response.text
    first, second = (scene.annotations for scene in load(db, response.location.rsplit("/", 1)[1]).scenes)
    assert first == {"name": "민지", "character": "엄마", "i_action": "모래성을 쌓아요", "classification": "예술경험"}
    assert (second["name"], second["character"], second["classification"]) == ("토끼", "곰", "의사소통")


def test_new_book_check_says_before_the_upload_whether_it_would_be_taken(client, pages, db, data_dir, app):
    assert client.get("/books/new/check", headers=JSON).status_code == 401
    assert "로그인이 풀렸어요" in client.get("/books/new/check", headers=JSON).json["error"]["message"]
    pages.signup()
    app.extensions["talesrunner.settings"] = app.extensions["talesrunner.settings"].model_copy(update={"TALES_MAX_ACTIVE_BOOKS": 1})
    ok = client.get("/books/new/check").json
    assert ok["can_create"] and ok["active_books"] == 0 and ok["max_active_books"] == 1 and ok["message"] is None
    assert ok["max_images"] == 10 and ok["max_image_bytes"] > 0 and ok["csrf_token"]
    make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.CAPTIONING)
    full = client.get("/books/new/check").json
    assert not full["can_create"] and full["active_books"] == 1
    assert "만들고 있는 책이 너무 많아요" in full["message"]


def test_new_book_with_a_stale_token_answers_its_script_in_korean(client, pages, db):
    pages.signup()
    response = client.post("/books/new", data={"csrf_token": "stale", "hints": "later", "images": photo_upload([(1, 1, 1)])},
                           content_type="multipart/form-data", headers=JSON)
    assert response.status_code == 400
    assert response.json["error"] == {"code": "csrf_failed", "message": response.json["error"]["message"]}
    assert "CSRF 토큰" in response.json["error"]["message"]
    fresh = client.get("/books/new/check").json["csrf_token"]
    again = client.post("/books/new", data={"csrf_token": fresh, "hints": "later", "images": photo_upload([(1, 1, 1)])},
                        content_type="multipart/form-data", headers=JSON)
    assert again.status_code == 201


# The book page -------------------------------------------------------------------------------

def test_draft_book_shows_captions_and_suggestion_chips_then_takes_hints(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.AWAITING_ANNOTATIONS)
    page = client.get(f"/books/{book_id}").text
    assert "사진 1 설명" in page
    assert 'data-fill="scene-0-setting" data-value="공원"' in page
    assert 'data-fill="scene-1-feeling" data-value="기쁨"' in page
    assert page.count("<select") == 2 and "신체운동·건강" in page

    bad = pages.post(f"/books/{book_id}/annotations", {**scene_fields(0, "토끼"), **scene_fields(1, "", setting="공원")},
                     page=f"/books/{book_id}")
    assert bad.status_code == 400
    assert "장면 2: 주인공 이름을 적어 주세요" in bad.text
    assert 'value="공원"' in bad.text  # what was typed stays in the form
    assert load(db, book_id).status is BookStatus.AWAITING_ANNOTATIONS

    good = pages.post(f"/books/{book_id}/annotations", {**scene_fields(0, "토끼", setting="공원"), **scene_fields(1, "곰")},
                      page=f"/books/{book_id}")
    assert good.status_code == 303
    book = load(db, book_id)
    assert book.status is BookStatus.WRITING
    assert book.scenes[0].annotations == {"name": "토끼", "i_action": "놀다", "classification": "자연탐구", "setting": "공원"}


def test_done_book_page_edit_regenerate_download_and_email(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title="바닷가 여행")
    page = client.get(f"/books/{book_id}").text
    for expected in ["1쪽 이야기예요.", "2쪽 이야기예요.", f"/api/v1/books/{book_id}/pdf", "1쪽 글 고치기", "2쪽 새로 쓰기", "메일로 보내기"]:
        assert expected in page
    pdf = client.get(f"/api/v1/books/{book_id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    response = pages.post(f"/books/{book_id}/email", {"recipient": "other", "to": "not an address", "note": "할머니, 사랑해요."},
                          page=f"/books/{book_id}")
    # The page again with what was typed, the reason beside the form.
    assert response.status_code == 400 and "이메일 주소를 확인해 주세요" in response.text
    assert 'value="not an address"' in response.text and ">할머니, 사랑해요.</textarea>" in response.text
    pages.post(f"/books/{book_id}/email", {"recipient": "me"}, page=f"/books/{book_id}")
    confirm_email(db)  # mail to someone else needs a confirmed address
    pages.post(f"/books/{book_id}/email", {"recipient": "other", "to": "grandma@example.com"}, page=f"/books/{book_id}")
    assert sorted(e.to_address for e in load(db, book_id).emails) == ["grandma@example.com", "parent@example.com"]
    assert "grandma@example.com" in client.get(f"/books/{book_id}").text

    response = pages.post(f"/books/{book_id}/scenes/2/text", {"text": "  새로 쓴 <글> & 끝.  "}, page=f"/books/{book_id}")
    assert response.status_code == 303
    book = load(db, book_id)
    assert book.status is BookStatus.RENDERING
    assert (book.scenes[1].text, book.scenes[1].text_source) == ("새로 쓴 <글> & 끝.", "user")
    # The book moved on: a second edit from the stale page is refused beside its text, not a crash.
    stale = pages.post(f"/books/{book_id}/scenes/1/text", {"text": "또"}, page=f"/books/{book_id}")
    assert stale.status_code == 409
    assert "지금 책을 다시 만들고 있어요" in stale.text and ">또</textarea>" in stale.text

    with session_factory(db)() as session:
        session.get(Book, book_id).status = BookStatus.DONE
        session.commit()
    pages.post(f"/books/{book_id}/scenes/1/regenerate", page=f"/books/{book_id}")
    book = load(db, book_id)
    assert book.status is BookStatus.WRITING and book.scenes[0].text is None and book.scenes[1].text == "새로 쓴 <글> & 끝."


def test_an_edit_from_a_page_opened_before_another_tab_changed_that_page_asks_first(app, client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    old_page = client.get(f"/books/{book_id}").text
    shown = re.search(r'name="shown" value="([0-9a-f]+)"', old_page).group(1)
    # Another tab (the same parent) changes page 1, and that rebuild finishes.
    other = Pages(app.test_client())
    other.login()
    assert other.post(f"/books/{book_id}/scenes/1/text", {"text": "할머니가 고친 글이에요."}, page=f"/books/{book_id}").status_code == 303
    with session_factory(db)() as session:
        session.get(Book, book_id).status = BookStatus.DONE
        session.commit()

    stale = pages.post(f"/books/{book_id}/scenes/1/text", {"text": "내가 쓴 글", "shown": shown}, page=f"/books/{book_id}")
    assert stale.status_code == 409
    assert "다른 창이나 기기에서 먼저 바뀌었어요" in stale.text and "할머니가 고친 글이에요." in stale.text
    assert ">내가 쓴 글</textarea>" in stale.text  # the parent's words kept
    assert load(db, book_id).scenes[0].text == "할머니가 고친 글이에요."
    # Pressed again from the page that now shows the newer text: the parent means it.
    now = re.search(r'name="shown" value="([0-9a-f]+)"', stale.text).group(1)
    assert pages.post(f"/books/{book_id}/scenes/1/text", {"text": "내가 쓴 글", "shown": now}, page=f"/books/{book_id}").status_code == 303
    assert load(db, book_id).scenes[0].text == "내가 쓴 글"


def test_times_are_shown_on_the_korean_clock(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), created_at=datetime(2026, 1, 1, 15, 30))
    assert "2026-01-02 00:30에 만듦" in client.get(f"/books/{book_id}").text  # stored in UTC, shown in KST


def test_failed_book_says_why_and_retries(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.FAILED,
                        error="이야기 쓰기 (writing) failed: RuntimeError: out of memory")
    with session_factory(db)() as session:
        session.get(Book, book_id).stage = "write"
        session.commit()
    page = client.get(f"/books/{book_id}").text
    assert "‘이야기 쓰기’ 단계에서 문제가 생겨 멈췄어요" in page
    # The exception is for operators (the API's `error`, the logs): the page speaks Korean only.
    assert "out of memory" not in page and "RuntimeError" not in page and "(writing)" not in page
    assert "다시 시도하기" in page
    assert pages.post(f"/books/{book_id}/retry", page=f"/books/{book_id}").status_code == 303
    assert load(db, book_id).status is BookStatus.QUEUED


def test_delete_removes_the_book_and_its_files(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    response = pages.post(f"/books/{book_id}/delete", page=f"/books/{book_id}")
    assert response.status_code == 303 and response.location == "/books"
    assert load(db, book_id) is None
    assert not (data_dir / "books" / book_id).exists()
    assert client.get(f"/books/{book_id}").status_code == 404


def test_thumbnails_are_small_jpegs(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    response = client.get(f"/books/{book_id}/scenes/1/photo-320.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "private" in response.headers["Cache-Control"]
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.size == (320, 240)
    assert client.get(f"/books/{book_id}/scenes/1/photo-4000.jpg").status_code == 404
    assert client.get(f"/books/{book_id}/scenes/9/photo-320.jpg").status_code == 404


# Someone else's book -------------------------------------------------------------------------

OTHER_USER_PAGES = [
    ("get", "/books/{id}"),
    ("get", "/books/{id}/scenes/1/photo-480.jpg"),
    ("post", "/books/{id}/annotations"),
    ("post", "/books/{id}/scenes/1/text"),
    ("post", "/books/{id}/scenes/1/regenerate"),
    ("post", "/books/{id}/retry"),
    ("post", "/books/{id}/email"),
    ("post", "/books/{id}/delete"),
    ("get", "/api/v1/books/{id}"),
    ("get", "/api/v1/books/{id}/pdf"),
    ("get", "/api/v1/books/{id}/scenes/1/image"),
]


@pytest.mark.parametrize("method, path", OTHER_USER_PAGES)
def test_another_users_book_is_404_on_every_page_and_route(client, pages, db, data_dir, method, path):
    pages.signup("owner@example.com")
    book_id = make_book(db, data_dir, user_id(db, "owner@example.com"))
    pages.logout()
    pages.signup("stranger@example.com")
    url = path.format(id=book_id)
    if method == "get":
        response = client.get(url)
    else:
        response = pages.post(url, {"text": "남의 책", "recipient": "me", **scene_fields(0, "x"), **scene_fields(1, "y")}, page="/books")
    assert response.status_code == 404
    if not url.startswith("/api/"):
        assert "찾을 수 없어요" in response.text
    book = load(db, book_id)
    assert book is not None and book.status is BookStatus.DONE and not book.emails
    assert book.scenes[0].text == "1쪽 이야기예요."


def test_my_books_are_mine_newest_first_and_paginated(client, pages, db, data_dir):
    pages.signup("other@example.com")
    theirs = make_book(db, data_dir, user_id(db, "other@example.com"), title="남의 책")
    pages.logout()
    pages.signup()
    me = user_id(db, "parent@example.com")
    ids = [make_book(db, data_dir, me, scenes=1, title=f"책 {n:02d}", created_at=utcnow() - timedelta(minutes=60 - n))
           for n in range(12)]
    first = client.get("/books").text
    titles = re.findall(r'class="book-title">([^<]+)<', first)
    assert titles == [f"책 {n:02d}" for n in range(11, 1, -1)]
    assert "1 / 2 쪽" in first and 'href="/books?page=2"' in first
    assert "남의 책" not in first and theirs not in first
    second = client.get("/books?page=2").text
    assert re.findall(r'class="book-title">([^<]+)<', second) == ["책 01", "책 00"]
    assert ids[0] in second and 'href="/books?page=1"' in second
    assert client.get("/books?page=9").location == "/books?page=2"
    assert "완성" in second  # the status is shown


# Rate limits ---------------------------------------------------------------------------------

def test_login_guessing_meets_429(limited, db):
    app = limited(TALES_RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    Pages(client).signup()
    guesser = Pages(app.test_client())
    for _ in range(3):
        assert guesser.login(password="guess number n").status_code == 401
    blocked = guesser.login()  # even the right password: the address is out of tries
    assert blocked.status_code == 429
    assert "잠시 후 다시 해 주세요" in blocked.text and "Retry-After" in blocked.headers
    # The API's token endpoint takes passwords too, and draws on the same allowance.
    api = client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD})
    assert api.status_code == 429 and "요청이 너무 많았어요" in api.json["error"]["message"]


def test_successful_logins_do_not_use_up_the_login_limit(limited, db):
    app = limited(TALES_RATELIMIT_LOGIN="2 per minute")
    pages = Pages(app.test_client())
    pages.signup()
    for _ in range(4):
        pages.logout()
        assert pages.login().status_code == 302


def test_book_submission_is_limited_on_the_page_and_the_api_together(limited, db):
    app = limited(TALES_RATELIMIT_BOOKS="2 per minute", TALES_MAX_ACTIVE_BOOKS="10")
    client = app.test_client()
    pages = Pages(client)
    pages.signup()
    token = client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                           data={"images": [(io.BytesIO(jpeg()), "a.jpg")]}).status_code == 202
    api = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data={"images": [(io.BytesIO(jpeg()), "a.jpg")]})
    assert api.status_code == 429 and api.json["error"]["code"] == "too_many_requests"
    page = pages.post("/books/new", {"hints": "later", "images": photo_upload([(1, 1, 1)])}, page="/books/new",
                      content_type="multipart/form-data")
    assert page.status_code == 429 and "잠시 쉬었다 해 주세요" in page.text
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 2


def test_token_creation_is_limited(limited, db):
    app = limited(TALES_RATELIMIT_TOKENS="2 per hour")
    pages = Pages(app.test_client())
    pages.signup()
    assert [pages.post("/settings/tokens", {"name": "t"}, page="/settings").status_code for _ in range(3)] == [200, 200, 429]


# Signed links and errors ---------------------------------------------------------------------

def test_signed_link_downloads_the_pdf_until_it_expires(client, app, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    settings = app.extensions["talesrunner.settings"]
    token = sign_book(settings, book_id)
    anonymous = app.test_client()
    response = anonymous.get(f"/shared/{token}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    assert "no-store" in response.headers["Cache-Control"]
    assert anonymous.get(f"/shared/{token[:-2]}xx.pdf").status_code == 404
    assert anonymous.get(f"/shared/{sign_book(settings.model_copy(update={'SECRET_KEY': 'other'}), book_id)}.pdf").status_code == 404

    app.extensions["talesrunner.settings"] = settings.model_copy(update={"TALES_LINK_MAX_AGE_S": -1})
    expired = anonymous.get(f"/shared/{token}.pdf")
    assert expired.status_code == 410 and "기간이 지났어요" in expired.text
    app.extensions["talesrunner.settings"] = settings
    pages.post(f"/books/{book_id}/delete", page=f"/books/{book_id}")
    assert anonymous.get(f"/shared/{token}.pdf").status_code == 404


def test_unknown_pages_are_korean_and_api_errors_stay_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "찾을 수 없어요" in page.text and page.mimetype == "text/html"
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


# Waiting and editing on the book page ------------------------------------------------------

def slow_notice(html: str) -> str:
    return re.search(r'<div class="notice slow-notice" id="slow-notice"[^>]*>', html).group(0)


def test_a_book_that_does_not_move_says_it_is_taking_longer(pages, db, data_dir, service_env, spare_redis_url):
    from web import create_app

    client = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_SLOW_AFTER_S": "30"}).test_client()
    Pages(client).signup()
    owner = user_id(db, "parent@example.com")
    fresh = make_book(db, data_dir, owner, BookStatus.QUEUED, progress_done=0)
    stuck = make_book(db, data_dir, owner, BookStatus.QUEUED)
    with session_factory(db)() as session:  # last moved 45 s ago (adding its scenes moved it just now)
        session.execute(update(Book).where(Book.id == stuck).values(updated_at=utcnow() - timedelta(seconds=45)))
        session.commit()
    page = client.get(f"/books/{fresh}").text
    assert "hidden" in slow_notice(page) and 'data-slow-after="30.0"' in page
    page = client.get(f"/books/{stuck}").text
    assert "hidden" not in slow_notice(page)  # shown without script too
    assert "평소보다 오래 걸리고 있어요" in page and "이 페이지를 닫아도 책은 계속 만들어져요" in page
    assert float(re.search(r'data-idle="([\d.]+)"', page).group(1)) >= 45


@pytest.mark.parametrize("status, refreshes", [
    (BookStatus.QUEUED, True), (BookStatus.WRITING, True), (BookStatus.RENDERING, True),
    (BookStatus.DONE, False), (BookStatus.FAILED, False), (BookStatus.AWAITING_ANNOTATIONS, False),
])
def test_the_page_refreshes_itself_without_script_only_while_the_book_is_made(client, pages, db, data_dir, status, refreshes):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), status)
    response = client.get(f"/books/{book_id}")
    head = response.text.split("</head>")[0]
    assert ('<noscript><meta http-equiv="refresh" content="10"></noscript>' in head) is refreshes
    # A meta refresh is no script: the CSP that forbids inline script does not stop it.
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_rewrite_can_be_undone_on_the_page(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), scenes=4)
    assert "이전 글로 되돌리기</button>" not in client.get(f"/books/{book_id}").text
    response = pages.post(f"/books/{book_id}/scenes/3/regenerate", page=f"/books/{book_id}")
    assert response.status_code == 303 and response.location == f"/books/{book_id}#scene-3"  # back where the parent was
    book = load(db, book_id)
    assert (book.scenes[2].text, book.scenes[2].previous_text) == (None, "3쪽 이야기예요.")
    page = client.get(f"/books/{book_id}").text
    assert re.search(r'id="progress-count">0 / 1<', page)  # one page is being written, not four
    # The last PDF stays on the page while the book is made again.
    assert "지난 PDF 내려받기" in page and f"/api/v1/books/{book_id}/pdf" in page

    with session_factory(db)() as session:
        book = session.get(Book, book_id)
        book.status, book.scenes[2].text, book.scenes[2].text_source = BookStatus.DONE, "새로 쓴 3쪽 글", "template"
        session.commit()
    page = client.get(f"/books/{book_id}").text
    assert "3쪽 이전 글로 되돌리기</button>" in page and "이전 글: 3쪽 이야기예요." in page
    assert "1쪽 이전 글로 되돌리기</button>" not in page
    response = pages.post(f"/books/{book_id}/scenes/3/undo", page=f"/books/{book_id}")
    assert response.status_code == 303 and response.location == f"/books/{book_id}#scene-3"
    book = load(db, book_id)
    assert book.status is BookStatus.RENDERING
    assert (book.scenes[2].text, book.scenes[2].text_source, book.scenes[2].previous_text) == ("3쪽 이야기예요.", "user", None)
    assert "3쪽을 이전 글로 되돌렸어요" in client.get(f"/books/{book_id}").text


def test_an_edit_returns_to_the_page_that_was_edited(pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    response = pages.post(f"/books/{book_id}/scenes/2/text", {"text": "고친 글"}, page=f"/books/{book_id}")
    assert response.location == f"/books/{book_id}#scene-2"


def test_the_retry_message_agrees_with_the_book(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.FAILED, error="멈췄어요")
    pages.post(f"/books/{book_id}/retry", page=f"/books/{book_id}")
    page = client.get(f"/books/{book_id}").text
    assert "다시 시작했어요" in page and "flash-success" in page and "차례를 기다려요" in page

    # It stops again before the page is shown: the message says so, beside the "멈춤" badge.
    with session_factory(db)() as session:
        session.get(Book, book_id).status = BookStatus.FAILED
        session.commit()
    pages.post(f"/books/{book_id}/retry", page=f"/books/{book_id}")
    with session_factory(db)() as session:
        session.get(Book, book_id).status = BookStatus.FAILED
        session.commit()
    page = client.get(f"/books/{book_id}").text
    assert "다시 시작했어요" not in page
    assert "flash-error" in page and "다시 시도했지만 또 멈췄어요" in page and "멈춤" in page


# Book page forms: sent twice, refused, about to be reloaded -----------------------------------

def edit_form(html: str, index: int) -> str:
    """The edit form of page `index`, from its <details> to the form's end."""
    return re.search(rf'<details class="edit"[^>]*>\s*<summary>{index}쪽 글 고치기</summary>.*?</form>', html, re.S).group(0)


def test_a_mail_asked_for_twice_in_a_row_is_sent_once(client, pages, db, data_dir):
    pages.signup()
    confirm_email(db)  # mail to someone else needs a confirmed address
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    mail = {"recipient": "other", "to": "grandma@example.com", "sender_name": "민지 엄마", "note": "할머니,\r\n책이에요."}
    for _ in range(2):  # a double tap: the second post is the first request again, and says so as kindly
        answer = pages.post(f"/books/{book_id}/email", mail, page=f"/books/{book_id}")
        assert answer.status_code == 303 and answer.location == f"/books/{book_id}#email-form"
    assert [(e.to_address, e.note) for e in load(db, book_id).emails] == [("grandma@example.com", "할머니,\n책이에요.")]
    assert "grandma@example.com 주소로 그림책을 보내고 있어요" in client.get(f"/books/{book_id}").text
    # Something else said, or sent to someone else, is another mail.
    pages.post(f"/books/{book_id}/email", {**mail, "note": "다른 말"}, page=f"/books/{book_id}")
    pages.post(f"/books/{book_id}/email", {**mail, "to": "grandpa@example.com"}, page=f"/books/{book_id}")
    assert len(load(db, book_id).emails) == 3
    # The same mail again once the first was sent, or a minute later, is a new one.
    with session_factory(db)() as session:
        session.execute(update(EmailRequest).where(EmailRequest.note == "다른 말").values(status=EmailStatus.SENT))
        session.execute(update(EmailRequest).where(EmailRequest.to_address == "grandpa@example.com")
                        .values(created_at=utcnow() - timedelta(seconds=61)))
        session.commit()
    pages.post(f"/books/{book_id}/email", {**mail, "note": "다른 말"}, page=f"/books/{book_id}")
    pages.post(f"/books/{book_id}/email", {**mail, "to": "grandpa@example.com"}, page=f"/books/{book_id}")
    assert len(load(db, book_id).emails) == 5


def test_a_page_of_2000_characters_over_20_lines_is_taken_as_the_browser_counts_it(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    text = "\r\n".join(["가" * 99] * 20) + "!"  # 2,000 characters as the textarea counts them; 2,019 as sent
    answer = pages.post(f"/books/{book_id}/scenes/1/text", {"text": text}, page=f"/books/{book_id}")
    assert answer.status_code == 303, answer.text
    assert load(db, book_id).scenes[0].text == text.replace("\r\n", "\n")
    assert len(load(db, book_id).scenes[0].text) == 2000


def test_a_mail_note_of_500_characters_over_lines_is_taken(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    note = "\r".join(["나" * 49] * 9) + "\r\n" + "나" * 50  # lone CRs too: 500 as the textarea counts them, 501 sent
    pages.post(f"/books/{book_id}/email", {"recipient": "me", "note": note}, page=f"/books/{book_id}")
    assert len(note) == 501
    assert load(db, book_id).emails[0].note == note.replace("\r\n", "\n").replace("\r", "\n")


def test_a_refused_edit_answers_with_the_page_keeping_the_text_beside_its_reason(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    typed = "가" * 2001
    answer = pages.post(f"/books/{book_id}/scenes/2/text", {"text": typed}, page=f"/books/{book_id}")
    assert answer.status_code == 400
    form = edit_form(answer.text, 2)
    assert "<details class=\"edit\" open>" in form and f">{typed}</textarea>" in form
    assert 'id="text-2-error" role="alert"' in form and "2쪽 글이 너무 길어요. 2,000자까지 쓸 수 있는데 지금 2,001자예요." in form
    assert 'aria-describedby="text-2-error"' in form
    # Sent again from this page, the form lands at its page, where the reason is.
    assert f'action="/books/{book_id}/scenes/2/text#scene-2"' in form
    assert ">2쪽 이야기예요.</textarea>" not in answer.text.split('id="scene-2"')[1]
    assert load(db, book_id).scenes[1].text == "2쪽 이야기예요."


def test_an_edit_while_the_book_is_made_again_keeps_the_text_and_a_second_tap_is_the_first(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    first = pages.post(f"/books/{book_id}/scenes/1/text", {"text": "고친 글\r\n둘째 줄"}, page=f"/books/{book_id}")
    assert first.status_code == 303 and load(db, book_id).status is BookStatus.RENDERING
    # The same form tapped again while the first is being drawn: that edit, not an error.
    again = pages.post(f"/books/{book_id}/scenes/1/text", {"text": "고친 글\r\n둘째 줄"}, page=f"/books/{book_id}")
    assert again.status_code == 303 and again.location == f"/books/{book_id}#scene-1"
    assert "1쪽 글을 고쳤어요" in client.get(again.location).text
    # Another text (another tab's edit started the rebuild): refused, kept, and why, beside the form.
    other = pages.post(f"/books/{book_id}/scenes/1/text", {"text": "다른 탭의 글"}, page=f"/books/{book_id}")
    assert other.status_code == 409
    form = edit_form(other.text, 1)
    assert ">다른 탭의 글</textarea>" in form and "data-unsaved" in form
    assert "지금 책을 다시 만들고 있어요. 다 만들어지면 다시 눌러 주세요." in form
    assert "지금 책의 상태에서는" not in other.text
    assert '<meta http-equiv="refresh"' not in other.text  # its address takes only posts
    assert "2쪽 글 고치기" not in other.text
    assert load(db, book_id).scenes[0].text == "고친 글\n둘째 줄"


def test_a_form_message_is_shown_and_focused_beside_the_form(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), scenes=3)
    answer = pages.post(f"/books/{book_id}/scenes/3/regenerate", page=f"/books/{book_id}")
    page = client.get(answer.location).text
    scene = page.split('id="scene-3"')[1].split('id="scene-4"')[0] if 'id="scene-4"' in page else page.split('id="scene-3"')[1]
    assert re.search(r'<p class="flash flash-success" role="status" tabindex="-1" data-focus>3쪽 글을 새로 쓰고 있어요', scene)
    assert 'class="flashes"' not in page  # not at the top, out of sight
    # A message about a form the page does not have any more goes to the top.
    refused = pages.post(f"/books/{book_id}/email", {"recipient": "me"}, page=f"/books/{book_id}")
    assert refused.location == f"/books/{book_id}#email-form"
    page = client.get(refused.location).text
    assert re.search(r'class="flashes">\s*<p class="flash flash-error" role="alert">지금 책의 상태에서는', page)


def test_renaming_while_the_book_is_drawn_says_so(client, pages, db, data_dir):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.RENDERING)
    answer = pages.post(f"/books/{book_id}/title", {"title": "새 제목"}, page=f"/books/{book_id}")
    assert answer.location == f"/books/{book_id}#title-form"
    page = client.get(answer.location).text
    assert "지금 책을 그리고 있어요. 다 되면 제목을 바꿔 주세요." in page and "사진을 처리하는" not in page
    assert load(db, book_id).title is None


@pytest.mark.parametrize("status, shown", [
    (BookStatus.DONE, "plain"), (BookStatus.FAILED, "plain"), (BookStatus.WRITING, "script"), (BookStatus.RENDERING, None),
])
def test_the_title_form_is_the_scripts_while_the_page_reloads_itself(client, pages, db, data_dir, status, shown):
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), status)
    form = re.search(r'<details class="edit title-edit"[^>]*>', client.get(f"/books/{book_id}").text)
    assert (form is not None) is (shown is not None)
    if form:  # without script a hidden form: the meta refresh would empty what is typed in it
        assert ("hidden data-js-only" in form.group(0)) is (shown == "script")


def locks_waiting(db_url: str) -> int:
    with session_factory(db_url)() as session:
        return session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))


def wait_until_blocked(db_url: str) -> None:
    deadline = time.monotonic() + 10
    while not locks_waiting(db_url):
        assert time.monotonic() < deadline, "the request never waited for the book's row"


@pytest.mark.parametrize("path", ["/scenes/1/text", "/scenes/1/regenerate"])
def test_an_edit_locks_the_book_before_its_scene(client, pages, db, data_dir, path):
    """The one lock order is book, then scenes: an edit waiting for the book (a delete, a stage) holds no scene.

    The book's row is claimed before the scene changes; a flush that changes a scene also updates
    its book first (shared.models._parts_change_their_book), so this holds either way: a guard.
    """
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    token = pages.token(f"/books/{book_id}")
    answers = []
    with session_factory(db)() as holder:
        holder.execute(select(Book.id).where(Book.id == book_id).with_for_update())
        request = threading.Thread(target=lambda: answers.append(
            client.post(f"/books/{book_id}{path}", data={"csrf_token": token, "text": "고친 글"})))
        request.start()
        try:
            wait_until_blocked(db)
            with session_factory(db)() as other:  # the scene is free: nothing waits on the book holding it
                other.execute(select(Scene.id).where(Scene.book_id == book_id, Scene.index == 1).with_for_update(nowait=True))
                other.rollback()
        finally:
            holder.rollback()
            request.join(10)
    assert answers[0].status_code == 303


def test_a_rename_reads_the_status_under_the_books_lock(client, pages, db, data_dir):
    """Drawing starts (a stage claims the book) while the rename waits: the rename sees it and is refused."""
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.WRITING)
    token = pages.token(f"/books/{book_id}")
    answers = []
    with session_factory(db)() as stage:
        stage.execute(update(Book).where(Book.id == book_id).values(status=BookStatus.RENDERING))
        request = threading.Thread(target=lambda: answers.append(
            client.post(f"/books/{book_id}/title", data={"csrf_token": token, "title": "늦은 제목"})))
        request.start()
        try:
            wait_until_blocked(db)
        finally:
            stage.commit()
            request.join(10)
    assert answers[0].status_code == 303
    assert load(db, book_id).title is None
    assert "지금 책을 그리고 있어요" in client.get(answers[0].location).text
