"""What a parent types into a mail (the sender's name, a note) made safe to send from the service's address.

The web tier refuses a sender name that is more than a name; the worker cleans whatever reaches it
again (a row written some other way) and makes links in notes and titles inert. Both import this.
"""
from __future__ import annotations

import re

# A name, not a signature: "민지 엄마", "할머니 손녀 지아".
SENDER_MAX = 30
SENDER_RULE = "보내는 사람 이름만 30자까지 적어 주세요. 메일 주소, 꺾쇠(< >), @, 링크, 줄바꿈은 넣을 수 없어요."
SENDER_REFUSED = "sender_name"  # the pydantic error type, so the pages know which message to show

# Bidirectional controls reorder what a mail client shows ("moc.knab" read as "bank.com"); they
# carry nothing a parent means, so they are dropped wherever a parent's words go into a mail.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What makes a name look like an address or a link: an address, a scheme, "www.", a domain.
_LINKISH = re.compile(r"[<>@]|://|\bwww\.|[\w-]\.[^\W\d_]{2,}", re.IGNORECASE)
_LINKISH_WORD = re.compile(r"\S*(?:[<>@]|://|\bwww\.|[\w-]\.[^\W\d_]{2,})\S*", re.IGNORECASE)
# Where a mail client's link finder starts: a scheme's "://", and a dot between two letters or
# digits (www.x.com, x.co.kr, an address, an IP). A zero-width space there breaks every link
# without changing what the reader sees (checked with linkify-it: tests/test_mail_safety.py).
_SCHEME = re.compile(r"(?<=\w)(?=://)")
_DOT = re.compile(r"(?<=\w\.)(?=\w)")
ZWSP = "\u200b"


def without_bidi(text: str) -> str:
    """`text` without bidirectional controls."""
    return _BIDI.sub("", text)


def sender_problem(name: str) -> str | None:
    """Why `name` cannot be a sender's name (in the parents' words), or None when it is a plain name."""
    name = without_bidi(name).strip()
    if len(name) > SENDER_MAX or _CONTROL.search(name) or _LINKISH.search(name):
        return SENDER_RULE
    return None


def clean_sender(name: str | None) -> str:
    """A name fit for a mail's body and subject: addresses, links, brackets and controls removed, SENDER_MAX long."""
    if not name:
        return ""
    text = _CONTROL.sub(" ", without_bidi(name))
    text = _LINKISH_WORD.sub(" ", text)
    text = re.sub(r"[<>@\"]", " ", text)
    return " ".join(text.split())[:SENDER_MAX].strip()


def inert(text: str) -> str:
    """`text` with every link and address broken by zero-width spaces, bidi controls dropped.

    Mail clients turn "http://…", "www.…" and "name.com" in plain text into links; a note or a
    title could then carry a link that looks like it comes from this service.
    """
    return _DOT.sub(ZWSP, _SCHEME.sub(ZWSP, without_bidi(text)))


# How EmailRequest.last_error starts (worker/mailer.describe_failure), so the book page can say
# whose problem a failed mail is without reading the SMTP server's answer.
ADDRESS_REFUSED = "the recipient's address was refused"
SERVER_FAULT = "the mail server failed"


def address_was_refused(error: str | None) -> bool:
    """Whether a recorded send failure was about the recipient's address (older rows: the refusal's name)."""
    return bool(error) and (error.startswith(ADDRESS_REFUSED) or error.startswith("SMTPRecipientsRefused"))
