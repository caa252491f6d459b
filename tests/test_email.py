"""Email over real SMTP (aiosmtpd on loopback) through a real worker: one mail per request, PDF or link."""
from __future__ import annotations

import os
import re
import time

import pytest
from sqlalchemy import select

from shared.db import session_factory
from shared.jobs import TaskName, send_now
from shared.models import EmailRequest
from tests.helpers import book_form, jpeg, scene
from tests.web_helpers import Pages, confirm_email, make_book, user_id, wait_for

pytestmark = pytest.mark.e2e

ATTACH_LIMIT = 1_000_000
PUBLIC_URL = "http://books.test"


@pytest.fixture(scope="module")
def mail_env(worker_with, mailbox) -> dict[str, str]:
    """A worker of its own, on a Redis database of its own, that mails through the test SMTP server.

    It keeps the session's DATA_DIR: the books these tests make straight in storage are mailed from there.
    """
    worker = worker_with(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(mailbox.port),
        SMTP_FROM="books@talesrunner.test",
        TALES_PUBLIC_URL=PUBLIC_URL,
        TALES_EMAIL_ATTACH_MAX_BYTES=str(ATTACH_LIMIT),
        TALES_EMAIL_RETRY_BASE_S="1",
    )
    return worker.env


@pytest.fixture
def app(db, mail_env):
    from web import create_app

    return create_app(mail_env)


def requests_of(db_url: str, book_id: str) -> list[EmailRequest]:
    with session_factory(db_url)() as session:
        return list(session.scalars(select(EmailRequest).where(EmailRequest.book_id == book_id).order_by(EmailRequest.id)))


def wait_emails(db_url: str, book_id: str, statuses: set[str], count: int = 1, timeout: float = 60) -> list[EmailRequest]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        requests = requests_of(db_url, book_id)
        if len(requests) >= count and all(r.status in statuses for r in requests):
            return requests
        time.sleep(0.05)
    raise AssertionError(f"emails stayed {[(r.status, r.last_error) for r in requests]}")


def pdf_attachments(message) -> list[bytes]:
    return [part.get_content() for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]


def test_email_when_done_sends_one_mail_with_the_pdf(client, api, db, mail):
    headers = api.user()
    photos = [jpeg(320, 240, (200, 80, 40)), jpeg(320, 240, (40, 80, 200))]
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data",
                          data=book_form(photos, {"title": "메일 그림책", "scenes": [scene(), scene("곰")], "email_when_done": True}))
    book = wait_for(client, headers, created.json["url"], {"done", "failed"})
    assert book["status"] == "done", book["error"]
    [request] = wait_emails(db, book["id"], {"sent", "failed"})
    assert request.status == "sent" and request.to_address == "parent@example.com" and request.attempts == 1

    # The render and email messages delivered again (a redelivery, the reconciler) change nothing.
    celery = client.application.extensions["talesrunner.celery"]
    send_now(celery, TaskName.RENDER, book["id"])
    send_now(celery, TaskName.EMAIL, str(request.id))
    time.sleep(2)
    assert len(requests_of(db, book["id"])) == 1
    [message] = mail.messages
    assert message["To"] == "parent@example.com" and message["From"].addresses[0].addr_spec == "books@talesrunner.test"
    assert "메일 그림책" in message["Subject"]
    assert pdf_attachments(message) == [client.get(book["pdf_url"], headers=headers).data]


def test_each_email_request_sends_exactly_one_mail(client, db, data_dir, mail):
    pages = Pages(client)
    pages.signup()
    confirm_email(db)  # mail to someone else needs a confirmed address
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title="할머니께")
    pages.post(f"/books/{book_id}/email", {"recipient": "other", "to": "grandma@example.com"}, page=f"/books/{book_id}")
    pages.post(f"/books/{book_id}/email", {"recipient": "me"}, page=f"/books/{book_id}")
    requests = wait_emails(db, book_id, {"sent", "failed"}, count=2)
    assert [r.status for r in requests] == ["sent", "sent"]
    # The same request's task delivered three more times still sends nothing more.
    for _ in range(3):
        send_now(client.application.extensions["talesrunner.celery"], TaskName.EMAIL, str(requests[0].id))
    time.sleep(2)
    assert sorted(m["To"] for m in mail.messages) == ["grandma@example.com", "parent@example.com"]
    assert all(len(pdf_attachments(m)) == 1 for m in mail.messages)
    page = client.get(f"/books/{book_id}").text
    assert page.count("보냈어요") == 2


def test_a_pdf_over_the_limit_goes_as_a_share_link_the_owner_can_end(client, app, db, data_dir, mail):
    pages = Pages(client)
    pages.signup()
    big = b"%PDF-1.4\n" + os.urandom(ATTACH_LIMIT + 1000)
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), pdf=big)
    pages.post(f"/books/{book_id}/email", {"recipient": "me"}, page=f"/books/{book_id}")
    assert [r.status for r in wait_emails(db, book_id, {"sent", "failed"})] == ["sent"]
    [message] = mail.messages
    assert pdf_attachments(message) == []
    body = message.get_body(("plain",)).get_content()
    link = re.search(re.escape(PUBLIC_URL) + r"(/s/[A-Za-z0-9_-]+)", body).group(1)
    assert "7일" in body
    visitor = app.test_client()  # no login: the link is the permission
    assert visitor.get(link).status_code == 200
    download = visitor.get(f"{link}/pdf")
    assert download.status_code == 200 and download.data == big
    assert visitor.get(link[:-3] + "xyz").status_code == 404
    # The owner sees the mail's link among the book's links, and ending it ends the mail's link.
    [shared] = client.get(f"/api/v1/books/{book_id}/links").json["links"]
    assert shared["url"].endswith(link)
    csrf = pages.token(f"/books/{book_id}")
    assert client.delete(f"/api/v1/books/{book_id}/links/{shared['id']}", headers={"X-CSRFToken": csrf}).status_code == 204
    assert visitor.get(link).status_code == 404


def test_smtp_failures_are_retried_with_backoff_and_shown_on_the_book(client, db, data_dir, mail):
    pages = Pages(client)
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    _wait_confirmation(mail)  # the sign-up's own mail goes first, so the failures below are the book's
    mail.fail_next = 2
    pages.post(f"/books/{book_id}/email", {"recipient": "me"}, page=f"/books/{book_id}")
    # Between attempts the request waits, with the server's answer on it, and the page says so.
    [waiting] = _wait_retrying(db, book_id)
    assert waiting.attempts >= 1 and "451" in waiting.last_error
    page = client.get(f"/books/{book_id}").text
    assert "다시 보낼게요" in page and "받는 주소" not in page  # the server's fault is not the address's
    api = client.get(f"/api/v1/books/{book_id}").json["emails"]
    assert api[0]["error"] and api[0]["status"] in ("pending", "sending", "sent")

    [sent] = wait_emails(db, book_id, {"sent", "failed"})
    assert sent.status == "sent" and sent.attempts == 3 and sent.last_error is None
    assert len(mail.messages) == 1


def _wait_confirmation(mailbox, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not mailbox.confirmations:
        assert time.monotonic() < deadline, "the sign-up's confirmation mail never came"
        time.sleep(0.02)


def _wait_retrying(db_url: str, book_id: str, timeout: float = 30) -> list[EmailRequest]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        requests = requests_of(db_url, book_id)
        if requests and requests[0].status == "pending" and requests[0].last_error:
            return requests
        time.sleep(0.02)
    raise AssertionError("the failed attempt was never recorded")


def test_a_refused_address_fails_at_once_and_says_why(client, db, data_dir, mail):
    pages = Pages(client)
    pages.signup()
    confirm_email(db)
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"))
    mail.refuse.add("nobody@example.com")
    pages.post(f"/books/{book_id}/email", {"recipient": "other", "to": "nobody@example.com"}, page=f"/books/{book_id}")
    [failed] = wait_emails(db, book_id, {"sent", "failed"})
    assert failed.status == "failed" and failed.attempts == 1 and "550" in failed.last_error
    assert mail.messages == []
    page = client.get(f"/books/{book_id}").text
    # The server's answer is the operator's (the API's emails[].error); the page says what to do, in Korean.
    assert "보내지 못했어요" in page and "받는 주소가 맞는지 확인" in page and "no such mailbox" not in page
    assert "메일 서버에 문제가" not in page


@pytest.mark.parametrize(("epub_size", "attached"), [(50_000, True), (ATTACH_LIMIT, False)])
def test_the_e_book_rides_along_when_both_fit(client, db, data_dir, mail, epub_size, attached):
    from shared.models import Book
    from shared.storage import LocalStorage

    pages = Pages(client)
    pages.signup()
    book_id = make_book(db, data_dir, user_id(db, "parent@example.com"), title="바다에 간 날")
    storage = LocalStorage(data_dir)
    epub = b"PK" + os.urandom(epub_size)
    storage.write_bytes(storage.epub_name(book_id), epub)
    with session_factory(db)() as session:
        book = session.get(Book, book_id)
        book.epub_name, book.epub_bytes = storage.epub_name(book_id), len(epub)
        session.commit()
    pages.post(f"/books/{book_id}/email", {"recipient": "me"}, page=f"/books/{book_id}")
    assert [r.status for r in wait_emails(db, book_id, {"sent", "failed"})] == ["sent"]
    [message] = mail.messages
    parts = {part.get_content_type(): part for part in message.iter_attachments()}
    assert parts["application/pdf"].get_filename() == "바다에 간 날.pdf"  # named after the book
    if attached:
        assert parts["application/epub+zip"].get_content() == epub
        assert parts["application/epub+zip"].get_filename() == "바다에 간 날.epub"
        assert "전자책(EPUB)도 함께" in message.get_body(("plain",)).get_content()
    else:  # the PDF alone fits: the e-book stays on the book page
        assert "application/epub+zip" not in parts
