"""Mail that cannot impersonate, through a real worker and a real SMTP server (aiosmtpd on loopback):
the From is the service's, a typed name is a name in the body, links in notes are inert, every
message has a Date and a Message-ID, and a mail server's fault is not blamed on the address."""
from __future__ import annotations

import email
import email.policy
import smtplib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from linkify_it import LinkifyIt
from sqlalchemy import select

from shared.config import Settings
from shared.db import session_factory
from shared.jobs import TaskName, send_now
from shared.mail_text import ADDRESS_REFUSED, SENDER_RULE, SERVER_FAULT, ZWSP
from shared.models import Book, EmailRequest
from shared.status import BookStatus, EmailStatus
from talesrunner.processes import free_port
from tests.helpers import REPO
from tests.mailbox import CONFIRMATION_ID, wait_mail
from tests.web_helpers import Pages, confirm_email, make_book, user_id
from worker import mailer

PUBLIC_URL = "http://books.test"
FROM = "books@talesrunner.test"
LOGIN, SECRET = "talesrunner", "smtp secret"


class TroubledMailbox:
    """An SMTP server that asks for a login and answers as a troubled server would, when told to."""

    def __init__(self):
        self.port = 0
        self.reset()

    def reset(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.confirmations: list[email.message.EmailMessage] = []
        self.refuse_login = False
        self.rcpt_answer: str | None = None  # e.g. "550 5.1.1 no such mailbox" for every recipient
        self.data_answer: str | None = None  # e.g. "451 4.3.0 try again later" for every message

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (LOGIN.encode(), SECRET.encode())
        return AuthResult(success=good and not self.refuse_login, handled=False)  # False: the server answers 535

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_answer:
            return self.data_answer
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        confirmation = str(message["Message-ID"] or "").strip().startswith(CONFIRMATION_ID)  # a long id is folded
        (self.confirmations if confirmation else self.messages).append(message)
        return "250 OK"


@pytest.fixture(scope="module")
def mailbox():
    """This module's SMTP server: a login is needed, and it fails in the ways a test tells it to."""
    handler = TroubledMailbox()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port, authenticator=handler.authenticate,
                            auth_require_tls=False)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def mail_env(worker_with, mailbox) -> dict[str, str]:
    """A worker that logs in to the test server and tries each mail once (a fault is final at once)."""
    return worker_with(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), SMTP_FROM=FROM, SMTP_USER=LOGIN,
                       SMTP_PASSWORD=SECRET, TALES_PUBLIC_URL=PUBLIC_URL, TALES_TASK_MAX_RETRIES="0").env


@pytest.fixture
def app(db, service_env, spare_redis_url):
    """The web app alone, its messages going to a Redis database no worker reads."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url})



def wait_ended(db_url: str, book_id: str, timeout: float = 30) -> EmailRequest:
    deadline = time.monotonic() + timeout
    while True:
        with session_factory(db_url)() as session:
            request = session.scalar(select(EmailRequest).where(EmailRequest.book_id == book_id))
        if request is not None and request.status in (EmailStatus.SENT, EmailStatus.FAILED):
            return request
        assert time.monotonic() < deadline, f"the mail stayed {request and request.status}"
        time.sleep(0.05)


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def signed_up(app_, db_url: str, confirmed: bool = True) -> tuple[Pages, str]:
    pages = Pages(app_.test_client())
    pages.signup()
    if confirmed:
        confirm_email(db_url)
    data_dir = app_.extensions["talesrunner.settings"].DATA_DIR
    return pages, make_book(db_url, data_dir, user_id(db_url, "parent@example.com"), title="공원 나들이")


# The sender's name is a name -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["은행 보안팀 <security@bank.com>", "security@bank.com", "보안팀 http://bank.example",
                                  "www.bank.com 보안팀", "국민은행.com", "가" * 31])
def test_a_sender_name_that_is_more_than_a_name_is_refused_on_its_field(app, db, name):
    pages, book = signed_up(app, db)
    form = {"recipient": "other", "to": "grandma@example.com", "sender_name": name, "note": "안녕하세요"}
    refused = pages.post(f"/books/{book}/email", form, page=f"/books/{book}")
    assert refused.status_code == 400
    assert SENDER_RULE in refused.text or "30자까지" in refused.text
    assert 'maxlength="30"' in refused.text and "안녕하세요</textarea>" in refused.text  # what was typed stays

    token = pages.client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": "correct horse"}).json["token"]
    answer = pages.client.post(f"/api/v1/books/{book}/email", headers={"Authorization": f"Bearer {token}"},
                               json={"to": "grandma@example.com", "sender_name": name})
    assert answer.status_code == 400 and answer.json["error"]["field"] == "sender_name"
    assert "30자까지" in answer.json["error"]["message"]  # Korean, and says what a name may hold
    with session_factory(db)() as session:
        assert session.scalars(select(EmailRequest)).all() == []


def test_bidirectional_controls_are_dropped_from_a_sender_name(app, db):
    pages, book = signed_up(app, db)
    pages.post(f"/books/{book}/email", {"recipient": "me", "sender_name": "민지\u202e 엄마\u2066"}, page=f"/books/{book}")
    with session_factory(db)() as session:
        assert session.scalars(select(EmailRequest.sender_name)).all() == ["민지 엄마"]


# What the mail says and who it is from -----------------------------------------------------------

@pytest.mark.e2e
def test_the_mail_is_from_the_service_and_names_the_sender_in_the_body_with_links_inert(mail_app, mail, db):
    pages, book = signed_up(mail_app, db)
    note = ("할머니, 사진은 https://photos.example.com/album 에도 있어요. www.example.org 에서도 보세요. "
            "궁금하면 help@example.net 으로 물어보세요.")
    pages.post(f"/books/{book}/email", {"recipient": "other", "to": "grandma@example.com", "sender_name": "민지 엄마",
                                        "note": note}, page=f"/books/{book}")
    message = wait_mail(mail)
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("TalesRunner 그림책", FROM)
    assert "민지" not in str(message["From"])
    assert "민지 엄마님이 그림책을 보냈어요" in message["Subject"]
    head = message.as_bytes().split(b"\n\n", 1)[0].replace(b"\n ", b" ")  # the headers, unfolded
    [subject] = [line for line in head.split(b"\n") if line.startswith(b"Subject:")]
    assert subject.lower().startswith(b"subject: [talesrunner] =?utf-8?")  # the Korean words encoded (RFC 2047)

    body = body_of(message)
    opening = "민지 엄마님이 TalesRunner에서 만든 그림책을 보냈어요: ‘공원 나들이’"
    assert body.startswith(opening) and body.index("민지 엄마님이 남긴 말:") > len(opening)  # the note after the service's words
    assert "이 메일은 TalesRunner 사용자(parent@example.com)가 보냈어요" in body
    # Nothing in the note is a link to a mail client's link finder; the words read the same.
    links = [match.url for match in LinkifyIt().match(body) or []]
    assert links == ["mailto:parent@example.com"], links
    assert body.replace(ZWSP, "").count("https://photos.example.com/album") == 1


@pytest.mark.e2e
def test_a_row_written_some_other_way_cannot_put_an_address_in_the_from(mail_app, mail, db, data_dir):
    Pages(mail_app.test_client()).signup()
    book = make_book(db, data_dir, user_id(db, "parent@example.com"), title="www.bank.com 보안 안내")
    with session_factory(db).begin() as session:
        request = EmailRequest(book_id=book, to_address="grandma@example.com", sender_name="은행 보안팀 <security@bank.com>\u202e",
                               note="http://bank.example/login 에서 확인하세요")
        session.add(request)
        session.flush()
        request_id = request.id
    send_now(mail_app.extensions["talesrunner.celery"], TaskName.EMAIL, str(request_id))
    message = wait_mail(mail)
    raw = message.as_bytes().decode("utf-8", "replace")
    assert "security@bank.com" not in raw and "\u202e" not in raw
    assert str(message["From"]) == f"TalesRunner 그림책 <{FROM}>"
    assert body_of(message).startswith("은행 보안팀님이")
    assert [match.url for match in LinkifyIt().match(body_of(message))] == ["mailto:parent@example.com"]  # the account only
    assert LinkifyIt().match(message["Subject"]) is None


@pytest.mark.e2e
def test_every_mail_has_a_date_and_a_message_id(mail_app, mail, db):
    pages, book = signed_up(mail_app, db, confirmed=False)
    pages.post("/password/forgot", {"email": "parent@example.com"}, page="/password/forgot")
    pages.post(f"/books/{book}/email", {"recipient": "me"}, page=f"/books/{book}")
    wait_mail(mail, 2)
    deadline = time.monotonic() + 30
    while not mail.confirmations:
        assert time.monotonic() < deadline, "the confirmation mail never came"
        time.sleep(0.05)
    messages = [*mail.confirmations, *mail.messages]
    assert sorted(m["Subject"] for m in messages) == sorted(["[TalesRunner] 메일 주소를 확인해 주세요", "[TalesRunner] 비밀번호를 다시 정해 주세요",
                                                              "[TalesRunner] 그림책이 완성되었어요: 공원 나들이"])
    now = datetime.now(UTC)
    for message in messages:
        assert abs(parsedate_to_datetime(message["Date"]) - now) < timedelta(minutes=5), message["Date"]
        message_id = str(message["Message-ID"]).strip()
        assert message_id.startswith("<talesrunner-") and message_id.endswith("@talesrunner>"), message_id
        assert message["From"].addresses[0].display_name == "TalesRunner 그림책"
    assert len({str(m["Message-ID"]).strip() for m in messages}) == 3


# Whose fault a failed send is ------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize(("fault", "blamed"), [
    ({"data_answer": "451 4.3.0 mailbox busy, try again later"}, SERVER_FAULT),
    ({"data_answer": "421 4.3.2 service shutting down"}, SERVER_FAULT),
    ({"refuse_login": True}, SERVER_FAULT),
    ({"rcpt_answer": "550 5.7.1 relaying denied"}, SERVER_FAULT),
    ({"rcpt_answer": "550 5.1.1 no such mailbox"}, ADDRESS_REFUSED),
])
def test_a_mail_servers_fault_is_not_blamed_on_the_address(mail_app, mail, db, fault, blamed):
    pages, book = signed_up(mail_app, db)
    for name, value in fault.items():
        setattr(mail, name, value)
    pages.post(f"/books/{book}/email", {"recipient": "other", "to": "grandma@example.com"}, page=f"/books/{book}")
    failed = wait_ended(db, book)
    assert failed.status is EmailStatus.FAILED and failed.last_error.startswith(blamed)
    page = pages.client.get(f"/books/{book}").text
    if blamed == SERVER_FAULT:
        assert "메일 서버에 문제가 있어서 보내지 못했어요. 잠시 뒤 다시 보내 주세요." in page
        assert "받는 주소" not in page and "주소가 맞는지" not in page
    else:
        assert "받는 주소가 맞는지 확인하고 다시 보내 주세요" in page and "메일 서버에 문제가" not in page
    assert failed.last_error.split(": ", 1)[1] not in page  # the server's own answer is for the operator


def test_a_refused_connection_is_the_servers_fault_not_the_address():
    from web.pages.labels import email_state

    settings = Settings(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_FROM=FROM)  # nothing listens there
    message = mailer.build_reset_message(settings, "parent@example.com", PUBLIC_URL + "/password/reset/x")
    with pytest.raises(OSError) as refused:
        mailer.send(settings, message)
    error = mailer.describe_failure(refused.value)
    assert error.startswith(SERVER_FAULT) and "ConnectionRefusedError" in error
    said = email_state(EmailRequest(status=EmailStatus.FAILED, last_error=error, attempts=1))
    assert "메일 서버에 문제가" in said and "주소" not in said


@pytest.mark.parametrize(("exc", "address"), [
    (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.1.1 <a@example.com>: no such user")}), True),
    (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user here")}), True),
    (smtplib.SMTPRecipientsRefused({"a@example.com": (553, b"5.1.3 bad address syntax")}), True),
    (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.7.1 relaying denied")}), False),
    (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"4.2.1 try later")}), False),
    (smtplib.SMTPDataError(550, b"5.1.1 mailbox unavailable"), True),
    (smtplib.SMTPDataError(554, b"5.7.1 message refused"), False),
    (smtplib.SMTPDataError(550, b"requested action not taken"), False),
    (smtplib.SMTPSenderRefused(553, b"5.1.8 bad sender domain", FROM), False),
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 authentication failed"), False),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), False),
    (TimeoutError("timed out"), False),
])
def test_only_an_answer_about_the_recipient_blames_the_address(exc, address):
    assert mailer.blames_address(exc) is address
    assert mailer.describe_failure(exc).startswith(ADDRESS_REFUSED if address else SERVER_FAULT)


# The rebuild page promises only what comes ---------------------------------------------------

def test_a_book_made_again_after_an_edit_does_not_promise_a_mail(app, db, data_dir):
    pages = Pages(app.test_client())
    pages.signup()
    owner = user_id(db, "parent@example.com")
    first = make_book(db, data_dir, owner, BookStatus.WRITING, email_when_done=True)
    assert "완성되면 parent@example.com 주소로 메일을 보내 드려요" in pages.client.get(f"/books/{first}").text
    remade = make_book(db, data_dir, owner, email_when_done=True)
    with session_factory(db).begin() as session:
        session.get(Book, remade).status = BookStatus.RENDERING  # an edit: the PDF is made again, and no mail goes
    page = pages.client.get(f"/books/{remade}").text
    assert "메일을 보내 드려요" not in page and "새 PDF를 내려받거나 메일로 보낼 수 있어요" in page


# fontTools is quiet ----------------------------------------------------------------------------

FONT_SUBSET = """
import logging
from shared import logging as logs
from shared.config import Settings
logs.configure(Settings(TALES_LOG_LEVEL="INFO", TALES_LOG_FORMAT="text"))
from worker.book.epub.fonts import _subset_of
from worker.book.fonts import resolve_fonts
_subset_of(str(resolve_fonts(None)[0]), {ord(ch) for ch in "토끼가 공원에서 뛰어요"})
logging.getLogger("talesrunner.check").info("subset done")
"""


def test_cutting_a_font_logs_nothing_at_info_once_logging_is_configured():
    """The subsetter reports every table it prunes at INFO (about 1.2 MB on a worker's first book)."""
    done = subprocess.run([sys.executable, "-c", FONT_SUBSET], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "subset done" in done.stderr  # INFO lines do reach the log
    assert "fontTools" not in done.stderr and len(done.stderr) < 500, done.stderr[:500]
