"""Mail a finished book over SMTP: the PDF attached when small, else a signed, expiring link."""
from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from shared.config import Settings

ATTACH_LIMIT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Outgoing:
    to: str
    title: str
    pdf_path: Path
    pdf_bytes: int
    link: str | None  # a signed download link, used when the PDF is too large to attach


def build_message(settings: Settings, mail: Outgoing) -> EmailMessage:
    """The email for one finished book."""
    message = EmailMessage()
    message["From"] = settings.SMTP_FROM
    message["To"] = mail.to
    message["Subject"] = f"[TalesRunner] 그림책이 완성되었어요: {mail.title}"
    if mail.pdf_bytes <= ATTACH_LIMIT_BYTES or not mail.link:
        message.set_content(f"'{mail.title}' 그림책을 첨부했어요.\n\nTalesRunner")
        message.add_attachment(
            mail.pdf_path.read_bytes(), maintype="application", subtype="pdf", filename="book.pdf"
        )
    else:
        message.set_content(
            f"'{mail.title}' 그림책이 완성되었어요. 아래 링크에서 내려받을 수 있어요 (7일 동안 유효):\n\n"
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
