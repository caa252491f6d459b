"""Mail over SMTP: a finished book (the PDF attached when small, else a signed, expiring link) and
password-reset links."""
from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from shared.config import Settings


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # the same on every attempt for one request (docs/architecture.md, "Email")
    to: str
    title: str
    pdf_path: Path
    pdf_bytes: int
    link: str | None  # a signed download link, used when the PDF is too large to attach
    epub_path: Path | None = None  # the read-along e-book, attached beside the PDF (only given when epub_fits)
    epub_bytes: int = 0
    filename: str = "book"  # the attachments' name, without the extension
    sender_name: str | None = None  # shown as "<sender> (TalesRunner)" in From
    note: str | None = None  # the sender's own words, above the book


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


def sender(settings: Settings, name: str | None) -> Address | str:
    """The From header: SMTP_FROM, with "<name> (TalesRunner)" as its display name when a name is given."""
    name = one_line(name or "")
    if not name:
        return settings.SMTP_FROM
    # The header registry quotes the parentheses and encodes Korean (RFC 2047).
    return Address(display_name=f"{name} (TalesRunner)", addr_spec=parseaddr(settings.SMTP_FROM)[1])


def epub_fits(settings: Settings, pdf_bytes: int, epub_bytes: int) -> bool:
    """Whether the e-book goes attached beside the PDF: both within TALES_EMAIL_ATTACH_MAX_BYTES."""
    return pdf_bytes + epub_bytes <= settings.TALES_EMAIL_ATTACH_MAX_BYTES


def build_message(settings: Settings, mail: Outgoing) -> EmailMessage:
    """The email for one finished book."""
    message = EmailMessage()
    message["Message-ID"] = mail.message_id
    message["From"] = sender(settings, mail.sender_name)
    message["To"] = mail.to
    message["Subject"] = f"[TalesRunner] 그림책이 완성되었어요: {one_line(mail.title)}"
    note = f"{mail.note.strip()}\n\n―――\n\n" if mail.note and mail.note.strip() else ""
    # Without a public address there is no link to send, so even a large PDF goes attached.
    if mail.pdf_bytes <= settings.TALES_EMAIL_ATTACH_MAX_BYTES or not mail.link:
        with_epub = mail.epub_path is not None  # given only when it fits beside the PDF (epub_fits)
        extra = " 전자책(EPUB)도 함께 넣었어요. 휴대폰이나 태블릿의 책 앱에서 열어 보세요." if with_epub else ""
        message.set_content(f"{note}'{mail.title}' 그림책을 첨부했어요.{extra}\n\nTalesRunner")
        message.add_attachment(
            mail.pdf_path.read_bytes(), maintype="application", subtype="pdf", filename=f"{mail.filename}.pdf"
        )
        if with_epub:
            message.add_attachment(
                mail.epub_path.read_bytes(), maintype="application", subtype="epub+zip", filename=f"{mail.filename}.epub"
            )
    else:
        message.set_content(
            f"{note}'{mail.title}' 그림책이 완성되었어요. 아래 링크에서 내려받을 수 있어요 "
            f"({_days(settings.TALES_LINK_MAX_AGE_S)} 동안 유효):\n\n"
            f"{mail.link}\n\nTalesRunner"
        )
    return message


def build_reset_message(settings: Settings, to: str, link: str) -> EmailMessage:
    """The email with a link to choose a new password."""
    message = EmailMessage()
    message["From"] = settings.SMTP_FROM
    message["To"] = to
    message["Subject"] = "[TalesRunner] 비밀번호를 다시 정해 주세요"
    message.set_content(
        "TalesRunner 비밀번호를 다시 정하는 링크예요. 아래 링크를 열어 새 비밀번호를 정해 주세요 "
        f"({_days(settings.TALES_RESET_MAX_AGE_S)} 동안, 한 번만 쓸 수 있어요):\n\n"
        f"{link}\n\n"
        "비밀번호를 바꾸려고 한 적이 없다면 이 메일은 지우셔도 돼요. 비밀번호는 그대로예요.\n\nTalesRunner"
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
