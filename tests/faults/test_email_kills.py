"""SIGKILL a worker in the middle of the SMTP exchange: the mail is sent again with the same Message-ID.

The worker cannot know whether the server took the message before it died. The request goes
back to pending and is sent again with the Message-ID of the first attempt: where the first copy
never arrived (the usual case: killed before the server's answer) there is exactly one mail, and
where it did, the second is the same message to the receiving server and the reader's mail program.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from shared.db import session_factory
from shared.models import EmailRequest
from tests.faults.conftest import free_port
from tests.faults.helpers import user
from tests.web_helpers import make_book, user_id

pytestmark = pytest.mark.e2e


class HoldingMailbox:
    """Holds the first DATA until released; `store_first` decides whether that copy was taken."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.in_data = threading.Event()
        self.release = threading.Event()
        self.hold_next = True
        self.store_first = False

    async def handle_DATA(self, server, session, envelope):
        if self.hold_next:
            self.hold_next = False
            if self.store_first:
                self._store(envelope)
            self.in_data.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 the client went away"
        self._store(envelope)
        return "250 OK"

    def _store(self, envelope) -> None:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))


@pytest.fixture
def mailbox():
    handler = HoldingMailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    handler.release.set()
    controller.stop()


def _request(db_url: str) -> EmailRequest:
    with session_factory(db_url)() as session:
        return session.scalars(select(EmailRequest)).one()


def _wait_sent(db_url: str, timeout: float = 30) -> EmailRequest:
    deadline = time.monotonic() + timeout
    while (request := _request(db_url)).status.value not in ("sent", "failed"):
        assert time.monotonic() < deadline, (request.status, request.last_error)
        time.sleep(0.05)
    return request


@pytest.mark.parametrize("server_took_it", [False, True])
def test_a_worker_killed_during_the_smtp_exchange_sends_the_mail_again_with_the_same_message_id(
    server_took_it, mailbox, workers, fault_client, fault_db, fault_env
):
    headers = user(fault_client)
    book_id = make_book(fault_db, fault_env["DATA_DIR"], user_id(fault_db, "parent@example.com"), title="메일 책")
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mailbox.port), "SMTP_FROM": "books@talesrunner.test"}
    workers.env = {**workers.env, **smtp}
    mailbox.store_first = server_took_it
    victim = workers.start()
    assert fault_client.post(f"/api/v1/books/{book_id}/email", headers=headers, json={}).status_code == 202
    assert mailbox.in_data.wait(30)
    workers.kill(victim)
    mailbox.release.set()
    held = _request(fault_db)
    assert held.status.value == "sending" and held.worker_id  # what the issue saw stay for good

    workers.start()
    request = _wait_sent(fault_db)
    assert request.status.value == "sent" and request.attempts == 2
    ids = {message["Message-ID"] for message in mailbox.messages}
    assert ids == {request.message_id}
    assert len(mailbox.messages) == (2 if server_took_it else 1)
    shown = fault_client.get(f"/api/v1/books/{book_id}", headers=headers).json["emails"]
    assert [e["status"] for e in shown] == ["sent"]
