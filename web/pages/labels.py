"""What the pages call each status, stage and email state, in plain Korean."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.lifecycle import note_for_parents
from shared.mail_text import address_was_refused
from shared.models import Book, EmailRequest
from shared.status import ACTIVE, EmailStatus
from shared.vocabulary import EMAIL_LABELS, STAGE_LABELS, STATUS_LABELS
from web.db import current_settings

# Keyed by the plain values the pages and the poller's JSON carry ("done", "write").
STATUS_TEXT: dict[str, str] = {status.value: label for status, label in STATUS_LABELS.items()}
STAGE_TEXT: dict[str, str] = {stage.value: label for stage, label in STAGE_LABELS.items()}

ACTIVE_STATUSES = sorted(status.value for status in ACTIVE)


def failure_text(book: Book) -> str:
    """Why a book stopped, in words a parent understands; the technical reason is shown below it."""
    stage = STAGE_TEXT.get(book.stage or "", "그림책 만들기")
    return (
        f"‘{stage}’ 단계에서 문제가 생겨 멈췄어요. 다시 시도하면 이미 끝난 부분"
        "(사진 설명, 다 쓴 글)은 그대로 두고 멈춘 곳부터 이어서 만들어요."
    )


def email_state(request: EmailRequest) -> str:
    """One line about one email request."""
    # The SMTP server's answer is for operators (the API's `emails[].error` and the logs), not this page.
    # Whose problem a failure is comes first in the recorded error (worker/mailer.describe_failure):
    # only a refused address is the parent's to check; a mail server's fault is not theirs.
    label = EMAIL_LABELS[request.status]
    if request.status is EmailStatus.FAILED and address_was_refused(request.last_error):
        return f"{label}. 받는 주소가 맞는지 확인하고 다시 보내 주세요."
    if request.status is EmailStatus.FAILED and request.last_error:
        return "메일 서버에 문제가 있어서 보내지 못했어요. 잠시 뒤 다시 보내 주세요."
    if request.status is EmailStatus.PENDING and request.last_error:
        return f"메일 서버에 문제가 있어서 아직 보내지 못했어요({request.attempts}번 시도). 잠시 뒤 다시 보낼게요."
    return label


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (naive UTC) time as the user's clock shows it."""
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(current_settings().TALES_TIMEZONE)).strftime(fmt)


def parent_reason(error: str | None) -> str | None:
    """A failed book's reason when it is written for parents: operator words (settings, exceptions) removed or None."""
    if not error:
        return None
    text = re.sub(r"\s*\([^()]*[A-Za-z][^()]*\)", "", note_for_parents(error)).strip()
    return None if re.search(r"[A-Za-z]", text) else text


def file_size(size: int | None) -> str:
    """Bytes as parents read them: 1.4MB, 320KB."""
    if not size:
        return ""
    return f"{size / 1048576:.1f}MB" if size >= 1048576 else f"{max(round(size / 1024), 1)}KB"


def template_globals() -> dict:
    return {
        "STATUS_LABELS": STATUS_TEXT,
        "STAGE_LABELS": STAGE_TEXT,
        "ACTIVE_STATUSES": ACTIVE_STATUSES,
        "failure_text": failure_text,
        "email_state": email_state,
    }
