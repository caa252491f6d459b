"""Mail a finished book over SMTP: the PDF attached when small, else a signed, expiring link."""
from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
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
    epub_path: Path | None = None  # the read-along e-book, attached beside the PDF when both fit
    epub_bytes: int = 0
    filename: str = "book"  # the attachments' name, without the extension


def build_message(settings: Settings, mail: Outgoing) -> EmailMessage:
    """The email for one finished book."""
    message = EmailMessage()
    message["Message-ID"] = mail.message_id
    message["From"] = settings.SMTP_FROM
    message["To"] = mail.to
    message["Subject"] = f"[TalesRunner] 그림책이 완성되었어요: {mail.title}"
    # Without a public address there is no link to send, so even a large PDF goes attached.
    if mail.pdf_bytes <= settings.TALES_EMAIL_ATTACH_MAX_BYTES or not mail.link:
        with_epub = mail.epub_path is not None and mail.pdf_bytes + mail.epub_bytes <= settings.TALES_EMAIL_ATTACH_MAX_BYTES
        extra = " 전자책(EPUB)도 함께 넣었어요. 휴대폰이나 태블릿의 책 앱에서 열어 보세요." if with_epub else ""
        message.set_content(f"'{mail.title}' 그림책을 첨부했어요.{extra}\n\nTalesRunner")
        message.add_attachment(
            mail.pdf_path.read_bytes(), maintype="application", subtype="pdf", filename=f"{mail.filename}.pdf"
        )
        if with_epub:
            message.add_attachment(
                mail.epub_path.read_bytes(), maintype="application", subtype="epub+zip", filename=f"{mail.filename}.epub"
            )
    else:
        message.set_content(
            f"'{mail.title}' 그림책이 완성되었어요. 아래 링크에서 내려받을 수 있어요 "
            f"({_days(settings.TALES_LINK_MAX_AGE_S)} 동안 유효):\n\n"
            f"{mail.link}\n\nTalesRunner"
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
    return f"{seconds // 86400}일" if seconds >= 86400 else f"{max(seconds // 3600, 1)}시간"


def is_permanent(exc: Exception) -> bool:
    """True for SMTP answers that retrying cannot fix (5xx: bad address, refused)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500
