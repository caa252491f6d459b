"""Mail over SMTP: a finished book (the PDF attached when small, else a signed, expiring link), the
link that confirms an account's address, and password-reset links.

Every message is From the service's own address under the service's own name, with a Date and a
Message-ID; what a parent typed (a sender's name, a note) is in the body only, after the
service's own sentence, with its links made inert (shared/mail_text.py).
"""
from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from shared.config import Settings
from shared.mail_text import ADDRESS_REFUSED, SERVER_FAULT, clean_sender, inert, without_bidi

SERVICE_NAME = "TalesRunner 그림책"


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # the same on every attempt for one request (docs/architecture.md, "Email")
    to: str
    title: str
    pdf_path: Path
    pdf_bytes: int
    link: str | None  # a share link to the book's page (shared.links.mail_share_link), when the PDF is too large to attach
    epub_path: Path | None = None  # the read-along e-book, attached beside the PDF (only given when epub_fits)
    epub_bytes: int = 0
    filename: str = "book"  # the attachments' name, without the extension
    sender_name: str | None = None  # a name the parent typed, shown in the body and the subject, never in From
    note: str | None = None  # the sender's own words, after the service's sentence
    account: str | None = None  # the sending account's (confirmed) address, named in mail to anyone else


def one_line(text: str) -> str:
    """Text fit for a header: no line breaks or other control characters, spaces collapsed, and no
    RFC 2047 encoded word.

    The web tier refuses control characters already; this keeps a row written some other way
    from adding headers. An encoded word ("=?utf-8?b?...?=") is printable ASCII that the email
    package decodes back into whatever it hides, line breaks included, when it writes the header:
    "=?" is split so that it stays the text the parent typed.
    """
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return line.replace("=?", "= ?")


def sender(settings: Settings) -> Address:
    """The From header: SMTP_FROM's address under its own display name, else SERVICE_NAME; never a parent's words."""
    display, address = parseaddr(settings.SMTP_FROM)
    return Address(display_name=one_line(display) or SERVICE_NAME, addr_spec=address or settings.SMTP_FROM)


def _new_message(settings: Settings, to: str, subject: str, message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"] = message_id or make_msgid(domain="talesrunner")
    message["Date"] = format_datetime(datetime.now(UTC))
    message["From"] = sender(settings)
    message["To"] = to
    message["Subject"] = subject
    return message


def epub_fits(settings: Settings, pdf_bytes: int, epub_bytes: int) -> bool:
    """Whether the e-book goes attached beside the PDF: both within TALES_EMAIL_ATTACH_MAX_BYTES."""
    return pdf_bytes + epub_bytes <= settings.TALES_EMAIL_ATTACH_MAX_BYTES


def _to_someone_else(mail: Outgoing) -> bool:
    return bool(mail.account) and mail.to.strip().lower() != (mail.account or "").strip().lower()


def build_message(settings: Settings, mail: Outgoing) -> EmailMessage:
    """The email for one finished book."""
    title = inert(one_line(mail.title))
    name = inert(clean_sender(mail.sender_name))
    others = _to_someone_else(mail)
    if name:
        subject, opening = f"{name}님이 그림책을 보냈어요: {title}", f"{name}님이 TalesRunner에서 만든 그림책을 보냈어요: ‘{title}’"
    elif others:
        subject, opening = f"그림책이 도착했어요: {title}", f"TalesRunner에서 만든 그림책이 도착했어요: ‘{title}’"
    else:
        subject, opening = f"그림책이 완성되었어요: {title}", f"‘{title}’ 그림책이 완성되었어요."
    message = _new_message(settings, mail.to, f"[TalesRunner] {subject}", mail.message_id)
    paragraphs = [opening]
    # Without a public address there is no link to send, so even a large PDF goes attached.
    attached = mail.pdf_bytes <= settings.TALES_EMAIL_ATTACH_MAX_BYTES or not mail.link
    if attached:
        with_epub = mail.epub_path is not None  # given only when it fits beside the PDF (epub_fits)
        extra = " 전자책(EPUB)도 함께 넣었어요. 휴대폰이나 태블릿의 책 앱에서 열어 보세요." if with_epub else ""
        paragraphs.append(f"PDF 파일로 첨부했어요.{extra}")
    else:
        paragraphs.append(f"파일이 커서 링크로 보내요. 아래 링크에서 그림책을 읽고 PDF와 전자책을 내려받을 수 있어요 "
                          f"({_days(settings.TALES_LINK_MAX_AGE_S)} 동안 열려요):\n\n{mail.link}")
    note = inert(without_bidi(mail.note or "").strip())
    if note:
        paragraphs.append(f"{name + '님' if name else '보낸 분'}이 남긴 말:\n{note}")
    if others:
        paragraphs.append(f"―――\n이 메일은 TalesRunner 사용자({mail.account})가 보냈어요. 이름과 남긴 말은 보낸 분이 직접 적었어요.")
    message.set_content("\n\n".join(paragraphs) + "\n\nTalesRunner")
    if attached:
        message.add_attachment(
            mail.pdf_path.read_bytes(), maintype="application", subtype="pdf", filename=f"{mail.filename}.pdf"
        )
        if mail.epub_path is not None:
            message.add_attachment(
                mail.epub_path.read_bytes(), maintype="application", subtype="epub+zip", filename=f"{mail.filename}.epub"
            )
    return message


def build_reset_message(settings: Settings, to: str, link: str, message_id: str | None = None) -> EmailMessage:
    """The email with a link to choose a new password."""
    message = _new_message(settings, to, "[TalesRunner] 비밀번호를 다시 정해 주세요", message_id)
    message.set_content(
        "TalesRunner 비밀번호를 다시 정하는 링크예요. 아래 링크를 열어 새 비밀번호를 정해 주세요 "
        f"({_days(settings.TALES_RESET_MAX_AGE_S)} 동안, 한 번만 쓸 수 있어요):\n\n"
        f"{link}\n\n"
        "비밀번호를 바꾸려고 한 적이 없다면 이 메일은 지우셔도 돼요. 비밀번호는 그대로예요.\n\nTalesRunner"
    )
    return message


def build_confirmation_message(settings: Settings, to: str, link: str, message_id: str | None = None) -> EmailMessage:
    """The email with the link that confirms an account's address."""
    message = _new_message(settings, to, "[TalesRunner] 메일 주소를 확인해 주세요", message_id)
    message.set_content(
        "TalesRunner에 가입해 주셔서 고마워요. 아래 링크를 열고 ‘메일 주소 확인하기’를 누르면 가입이 끝나요 "
        f"({_days(settings.TALES_CONFIRM_MAX_AGE_S)} 동안 유효):\n\n"
        f"{link}\n\n"
        "확인한 뒤에는 만든 그림책을 가족에게도 메일로 보낼 수 있어요. "
        "가입한 적이 없다면 이 메일은 지우셔도 돼요. 누군가 이 주소를 잘못 적었을 거예요.\n\nTalesRunner"
    )
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    """Deliver one message; raises smtplib/OSError on failure (the task retries with backoff)."""
    if not settings.SMTP_HOST:
        raise RuntimeError("email is not configured on this server (SMTP_HOST is not set)")
    with smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=30) as smtp:
        if settings.SMTP_STARTTLS:
            smtp.starttls()
        if settings.SMTP_USER:
            smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD or "")
        smtp.send_message(message)


def _days(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds // 86400}일"
    return f"{seconds // 3600}시간" if seconds >= 3600 else f"{max(seconds // 60, 1)}분"


def is_permanent(exc: Exception) -> bool:
    """True for SMTP answers that retrying cannot fix (5xx: bad address, refused)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


# An enhanced status code (RFC 3463): class.subject.detail; subject 1 is the address's.
_ENHANCED = re.compile(rb"\b[245]\.(\d{1,3})\.\d{1,3}\b")


def _about_the_address(code: int, text: bytes | str) -> bool:
    if code < 500:
        return False
    found = _ENHANCED.search(text if isinstance(text, bytes) else text.encode("utf-8", "replace"))
    return found is None or found.group(1) == b"1"


def blames_address(exc: Exception) -> bool:
    """Whether the recipient's address is why a send failed (550 5.1.1 and the like), not the mail server.

    A server that refuses every recipient for its own reasons (relaying denied, 5.7.x), drops the
    connection, refuses our login or is busy (4xx) is the operator's to fix, and waiting may help:
    a parent is not told to check an address that was never the problem.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = list(exc.recipients.values())
        return bool(answers) and all(_about_the_address(code, text) for code, text in answers)
    if isinstance(exc, smtplib.SMTPSenderRefused):  # our own From: the operator's setting
        return False
    if isinstance(exc, smtplib.SMTPResponseException):  # after the recipients were taken: only an explicit 5.1.x
        text = exc.smtp_error if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error).encode("utf-8", "replace")
        return _ENHANCED.search(text) is not None and _about_the_address(exc.smtp_code, text)
    return False


def describe_failure(exc: Exception) -> str:
    """How a send failed, for `EmailRequest.last_error`: whose problem it is first, then the server's answer."""
    return f"{ADDRESS_REFUSED if blames_address(exc) else SERVER_FAULT}: {type(exc).__name__}: {exc}"
