"""What parents read: Korean notes without operator detail, one title everywhere, files named after it."""
from __future__ import annotations

import re
from html import unescape

import pytest

from shared.db import session_factory
from shared.lifecycle import note_for_parents
from shared.models import Book, Scene
from shared.status import BookStatus
from tests.helpers import book_form, jpeg, scene
from tests.web_helpers import Pages, load, make_book, user_id
from web.pages.labels import parent_reason


@pytest.mark.parametrize(("note", "shown"), [
    ("사진 설명 없이 힌트만으로 썼어요 (captioning is off: TALES_CAPTIONER=none).", "사진 설명 없이 힌트만으로 썼어요."),
    ("모델 없이 규칙 기반 문장으로 썼어요 (offline template writer).", "모델 없이 규칙 기반 문장으로 썼어요."),
    # Korean inside the operator's parentheses does not keep them.
    ("아이 책에 맞지 않는 말이 있어 2쪽을 바꿨어요 (unsafe words (욕설) in the openai page).", "아이 책에 맞지 않는 말이 있어 2쪽을 바꿨어요."),
    # Parentheses in Korean are for parents.
    ("고양이(나비)가 나와요.", "고양이(나비)가 나와요."),
    ("읽어 주기 소리는 만들지 못했어요: 잠시 후 다시 해 주세요", "읽어 주기 소리는 만들지 못했어요: 잠시 후 다시 해 주세요"),
])
def test_notes_lose_their_operator_detail_on_the_pages(note, shown):
    assert note_for_parents(note) == shown


def test_a_failed_books_reason_is_shown_only_when_it_is_written_for_parents():
    assert parent_reason("이야기 쓰기 (writing): 장면 힌트가 없어 쓸 수 없어요.") == "이야기 쓰기: 장면 힌트가 없어 쓸 수 없어요."
    assert parent_reason("이야기 쓰기 (writing) failed after 5 retries: OSError: disk full") is None
    assert parent_reason("사진 설명 만들기: TALES_BLIP_MODEL을 찾을 수 없어요") is None
    assert parent_reason(None) is None


def test_one_title_from_the_first_hint_until_the_writer_or_the_parent_names_the_book():
    book = Book(scenes=[Scene(index=1, annotations=None)])
    assert book.display_title == "제목 없는 그림책"
    book.scenes[0].annotations = {"name": "나비"}
    assert book.display_title == "나비의 이야기"
    book.generated_title = "나비와 달님"
    assert book.display_title == "나비와 달님"
    book.title = '우리 "나비"/의 하루: 1편?'
    assert book.display_title == '우리 "나비"/의 하루: 1편?'
    assert book.file_stem == "우리 나비 의 하루 1편"  # no path or reserved characters in a file name


def test_the_title_is_renamed_everywhere_and_a_finished_book_is_made_again(client, api, db, data_dir):
    headers = api.user()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form([jpeg()], {"scenes": [scene("다람쥐")]}))
    assert created.json["title"] == "다람쥐의 이야기"
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.DONE)
    renamed = client.patch(f"/api/v1/books/{book_id}", headers=headers, json={"title": "할머니 댁 가는 길"})
    assert renamed.status_code == 202
    assert renamed.json["title"] == "할머니 댁 가는 길" and renamed.json["status"] == "rendering"
    assert load(db, book_id).title == "할머니 댁 가는 길"
    refused = client.patch(f"/api/v1/books/{book_id}", headers=headers, json={"title": "또 바꿔요"})
    assert refused.status_code == 409  # being drawn with the new title now
    assert client.patch(f"/api/v1/books/{book_id}", headers=headers, json={"title": "a\x00b"}).status_code == 400
    assert client.patch(f"/api/v1/books/{book_id}", headers=headers, json={"title": ""}).status_code == 400


def test_the_pdf_is_downloaded_under_the_books_title(client, api, db, data_dir):
    headers = api.user()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.DONE, title="바다에 간 날")
    pdf = client.get(f"/api/v1/books/{book_id}/pdf", headers=headers)
    assert pdf.status_code == 200
    assert "filename*=UTF-8''%EB%B0%94%EB%8B%A4%EC%97%90%20%EA%B0%84%20%EB%82%A0.pdf" in pdf.headers["Content-Disposition"]


def test_the_book_page_renames_with_a_form(client, db, data_dir):
    pages = Pages(client)
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.DONE)
    page = client.get(f"/books/{book_id}").text
    assert "제목 바꾸기" in page
    answer = pages.post(f"/books/{book_id}/title", {"title": "새 제목"}, page=f"/books/{book_id}")
    assert answer.status_code == 303
    assert load(db, book_id).title == "새 제목"
    assert "새 제목" in client.get(f"/books/{book_id}").text


@pytest.mark.parametrize(("captioner", "offered"), [("none", False), ("blip", True)])
def test_hints_after_captions_are_offered_only_where_photos_are_captioned(db, service_env, captioner, offered):
    from web import create_app

    client = create_app({**service_env, "TALES_CAPTIONER": captioner}).test_client()
    Pages(client).signup()
    page = client.get("/books/new").text
    assert ("사진 설명과 추천 키워드를 본 뒤에 쓸게요" in page) is offered


OPERATOR_WORDS = re.compile(r"TALES_|SMTP_|[A-Z][a-z]+(Error|Exception)\b|Traceback|captioning is off|offline template|"
                            r"test model|SELECT |psycopg|\bNone\b")


def _visible_text(html: str) -> str:
    """What a person reads: the page without its markup, scripts and attribute values."""
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_every_page_state_speaks_korean_without_operator_words(client, db, data_dir):
    from shared.models import EmailRequest
    from shared.status import EmailStatus

    pages = Pages(client)
    pages.signup()
    owner = user_id(db, "parent@example.com")
    notes = ["사진 설명 없이 힌트만으로 썼어요 (captioning is off: TALES_CAPTIONER=none).",
             "모델 없이 규칙 기반 문장으로 썼어요 (offline template writer).",
             "시험용 모델로 쓴 글이라 이야기가 맞지 않을 수 있어요 (written by a test model: tiny/kot5)."]
    books = {
        "done": make_book(db, data_dir, owner, BookStatus.DONE, notes=notes),
        "failed": make_book(db, data_dir, owner, BookStatus.FAILED, notes=notes,
                            error="PDF 만들기 (rendering the PDF) failed after 5 retries: OSError: [Errno 28] No space left"),
        "queued": make_book(db, data_dir, owner, BookStatus.QUEUED),
        "writing": make_book(db, data_dir, owner, BookStatus.WRITING),
        "awaiting": make_book(db, data_dir, owner, BookStatus.AWAITING_ANNOTATIONS),
    }
    with session_factory(db)() as session:
        session.add(EmailRequest(book_id=books["done"], to_address="x@example.com", status=EmailStatus.FAILED, attempts=1,
                                 last_error="SMTPRecipientsRefused: {'x@example.com': (550, b'5.1.1 no such mailbox')}"))
        session.add(EmailRequest(book_id=books["done"], to_address="y@example.com", status=EmailStatus.PENDING, attempts=2,
                                 last_error="SMTPServerDisconnected: Connection unexpectedly closed"))
        session.commit()
    paths = ["/", "/books", "/books/new", "/settings", *(f"/books/{book_id}" for book_id in books.values())]
    for path in paths:
        text = _visible_text(client.get(path).text)
        assert not OPERATOR_WORDS.search(text), (path, OPERATOR_WORDS.search(text).group(0), text)
    done = _visible_text(client.get(f"/books/{books['done']}").text)
    assert "사진 설명 없이 힌트만으로 썼어요." in done and "받는 주소가 맞는지 확인" in done
    # The API keeps the operator's detail.
    api = client.get(f"/api/v1/books/{books['done']}").json
    assert api["notes"] == notes and any("550" in e["error"] for e in api["emails"])
    client.post("/logout", data={"csrf_token": Pages(client).token("/books")})
    for path in ["/", "/login", "/signup", "/password/forgot", "/books/nope"]:
        text = _visible_text(client.get(path).text)
        assert not OPERATOR_WORDS.search(text), (path, text)
