"""What the fault tests check after every fault: each book done or failed with a reason, one PDF, no leftovers."""
from __future__ import annotations

import time
from pathlib import Path

from shared.db import session_factory
from shared.models import Book
from shared.status import BookStatus

FINAL = {BookStatus.DONE, BookStatus.FAILED, BookStatus.AWAITING_ANNOTATIONS}


def user(client, email: str = "parent@example.com") -> dict[str, str]:
    assert client.post("/api/v1/users", json={"email": email, "password": "correct horse"}).status_code == 201
    token = client.post("/api/v1/tokens", json={"email": email, "password": "correct horse"}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def book_row(db_url: str, book_id: str) -> Book | None:
    with session_factory(db_url)() as session:
        return session.get(Book, book_id)


def wait_status(db_url: str, book_id: str, statuses: set[BookStatus], timeout: float = 60) -> Book:
    deadline = time.monotonic() + timeout
    while True:
        book = book_row(db_url, book_id)
        if book is not None and book.status in statuses:
            return book
        assert time.monotonic() < deadline, f"book {book_id} stayed {book.status if book else 'deleted'} ({book.error if book else ''})"
        time.sleep(0.05)


def wait_moving(db_url: str, book_id: str, after: float, timeout: float = 60) -> float:
    """Seconds from `after` (monotonic) until the book is worked on again (held or moved on)."""
    first = book_row(db_url, book_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        book = book_row(db_url, book_id)
        if book.status is not first.status or (book.worker_id and book.worker_id != first.worker_id):
            return time.monotonic() - after
        time.sleep(0.02)
    raise AssertionError(f"book {book_id} never moved after the restart")


def assert_settled(data_dir: Path, book: Book) -> None:
    """Done with exactly one book.pdf and no temp files; or failed with a reason a person reads."""
    folder = Path(data_dir) / "books" / book.id
    assert not list(folder.rglob(".tmp-*")), list(folder.rglob(".tmp-*"))
    if book.status is BookStatus.DONE:
        assert sorted(p.name for p in folder.glob("*.pdf")) == ["book.pdf"]
        assert (folder / "book.pdf").stat().st_size == book.pdf_bytes
    elif book.status is BookStatus.FAILED:
        assert book.error and "Error" not in book.error and "SELECT" not in book.error
