"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and can be told to refuse."""
from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from talesrunner.processes import free_port


# How the Message-ID of a confirmation mail starts (worker/account_mail.py).
CONFIRMATION_ID = "<talesrunner-confirm-"


class Mailbox:
    """An SMTP server's handler that keeps what it receives and can be told to refuse."""

    def __init__(self):
        self.port = 0
        self.reset()

    def reset(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        # Sign-up mails its confirmation link: kept apart, so a test counting the mails it caused
        # (a book, a reset link) is not thrown by the sign-up it began with.
        self.confirmations: list[email.message.EmailMessage] = []
        self.fail_next = 0  # answer DATA with 451 (try later) this many times
        self.refuse: set[str] = set()  # answer RCPT with 550 (no such user) for these

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 4.3.0 mailbox busy, try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        confirmation = str(message["Message-ID"] or "").strip().startswith(CONFIRMATION_ID)  # a long id is folded
        (self.confirmations if confirmation else self.messages).append(message)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """A Mailbox served on a free loopback port for as long as the block runs."""
    handler = Mailbox()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def wait_mail(mailbox, count: int = 1, timeout: float = 30) -> email.message.EmailMessage:
    """The `count`th mail the mailbox kept (not a confirmation), once it has arrived."""
    return _nth(mailbox.messages, count, timeout, "mails")


def wait_confirmations(mailbox, count: int = 1, timeout: float = 30) -> email.message.EmailMessage:
    """The `count`th address-confirmation mail, once it has arrived."""
    return _nth(mailbox.confirmations, count, timeout, "confirmation mails")


def _nth(mails: list[email.message.EmailMessage], count: int, timeout: float, what: str) -> email.message.EmailMessage:
    deadline = time.monotonic() + timeout
    while len(mails) < count:
        assert time.monotonic() < deadline, f"{len(mails)} of {count} {what} arrived"
        time.sleep(0.05)
    return mails[count - 1]


def drain(env: dict[str, str], timeout: float = 60) -> None:
    """Wait until the worker behind `env` has no message queued or in hand (its mails are all out)."""
    import redis

    broker = redis.Redis.from_url(env["REDIS_URL"])
    deadline = time.monotonic() + timeout
    while broker.llen("cpu") or broker.llen("gpu") or broker.hlen("unacked"):
        assert time.monotonic() < deadline, "the worker still holds messages"
        time.sleep(0.05)
