"""Acting through the API and the pages as a person would, and books made straight in the database."""
from __future__ import annotations

import re
import time

from sqlalchemy import select

from shared.db import session_factory
from shared.models import Book, Scene, User, utcnow
from shared.status import BookStatus
from shared.storage import LocalStorage
from tests.helpers import jpeg

PASSWORD = "correct horse"


class ApiActions:
    """Sign up users and act as them through the JSON API."""

    def __init__(self, client):
        self.client = client

    def user(self, email: str = "parent@example.com", password: str = PASSWORD) -> dict[str, str]:
        assert self.client.post("/api/v1/users", json={"email": email, "password": password}).status_code == 201
        token = self.client.post("/api/v1/tokens", json={"email": email, "password": password}).json["token"]
        return {"Authorization": f"Bearer {token}"}


def wait_for(client, headers, url: str, statuses: set[str], timeout: float = 120.0) -> dict:
    """Poll a book until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        book = client.get(url, headers=headers).json
        if book["status"] in statuses:
            return book
        time.sleep(0.2)
    raise AssertionError(f"book stayed {book['status']} ({book.get('error')}) past {timeout}s")


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Pages:
    """Act as a person in a browser: every form post carries the CSRF token from the page."""

    def __init__(self, client):
        self.client = client

    def token(self, path: str = "/login") -> str:
        return csrf_token(self.client.get(path).text)

    def post(self, path: str, data: dict | None = None, page: str = "/login", **kwargs):
        return self.client.post(path, data={"csrf_token": self.token(page), **(data or {})}, **kwargs)

    def signup(self, email: str = "parent@example.com", password: str = PASSWORD):
        response = self.post("/signup", {"email": email, "password": password, "password_confirm": password}, page="/signup")
        assert response.status_code == 302, response.text
        return response

    def login(self, email: str = "parent@example.com", password: str = PASSWORD, next_: str = ""):
        return self.post("/login", {"email": email, "password": password, "next": next_})

    def logout(self):
        return self.post("/logout", page="/books")


def user_id(db_url: str, email: str) -> int:
    with session_factory(db_url)() as session:
        return session.scalar(select(User.id).where(User.email == email))


def confirm_email(db_url: str, email: str = "parent@example.com") -> None:
    """Mark the account's address confirmed, as its confirmation link does: it may mail others (tests/test_email_confirmation.py)."""
    with session_factory(db_url).begin() as session:
        session.get(User, user_id(db_url, email)).email_confirmed_at = utcnow()


TEST_PDF = b"%PDF-1.4 test book\n%%EOF\n"


def make_book(db_url: str, data_dir, owner: int, status: BookStatus = BookStatus.DONE, scenes: int = 2,
              pdf: bytes = TEST_PDF, **fields) -> str:
    """A book written straight into the database and storage, in any state, with no task queued."""
    storage = LocalStorage(data_dir)
    with session_factory(db_url)() as session:
        book = Book(**{"user_id": owner, "status": status, "stage": "render", "progress_done": scenes, "progress_total": scenes, **fields})
        session.add(book)
        session.flush()
        for index in range(1, scenes + 1):
            name = storage.save_photo(book.id, jpeg(640, 480, (40 * index, 100, 200)), "jpg")
            done = status is BookStatus.DONE
            session.add(Scene(book_id=book.id, index=index, image_name=name, image_format="JPEG", width=640, height=480,
                              caption=f"사진 {index} 설명", caption_lang="ko", caption_source="test",
                              suggestions={"setting": ["공원", "바닷가"], "action": ["달리기"], "feeling": ["기쁨"]},
                              annotations=None if status is BookStatus.AWAITING_ANNOTATIONS else {"name": "토끼", "i_action": "뛰다", "classification": "자연탐구"},
                              text=f"{index}쪽 이야기예요." if done else None, text_source="template" if done else None))
        if status is BookStatus.DONE:
            book.pdf_name = storage.pdf_name(book.id)
            storage.path(book.pdf_name).write_bytes(pdf)
            book.pdf_bytes = len(pdf)
        session.commit()
        return book.id


def load(db_url: str, book_id: str) -> Book | None:
    with session_factory(db_url)() as session:
        book = session.get(Book, book_id)
        if book is not None:
            _ = book.scenes, book.emails
        return book
