"""What the pages call each status, stage and email state, in plain Korean."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.models import Book, EmailRequest
from shared.status import ACTIVE, BookStatus
from web.db import settings

STATUS_LABELS: dict[str, str] = {
    BookStatus.QUEUED.value: "차례를 기다려요",
    BookStatus.CAPTIONING.value: "사진을 살펴보고 있어요",
    BookStatus.AWAITING_ANNOTATIONS.value: "힌트를 기다려요",
    BookStatus.WRITING.value: "이야기를 쓰고 있어요",
    BookStatus.RENDERING.value: "책으로 묶고 있어요",
    BookStatus.DONE.value: "완성",
    BookStatus.FAILED.value: "멈춤",
}

STAGE_LABELS: dict[str, str] = {
    "caption": "사진 설명 만들기",
    "suggest": "키워드 고르기",
    "write": "이야기 쓰기",
    "render": "PDF 만들기",
}

ACTIVE_STATUSES = sorted(status.value for status in ACTIVE)


def failure_text(book: Book) -> str:
    """Why a book stopped, in words a parent understands; the technical reason is shown below it."""
    stage = STAGE_LABELS.get(book.stage or "", "그림책 만들기")
    return (
        f"‘{stage}’ 단계에서 문제가 생겨 멈췄어요. 다시 시도하면 이미 끝난 부분"
        "(사진 설명, 다 쓴 글)은 그대로 두고 멈춘 곳부터 이어서 만들어요."
    )


def email_state(request: EmailRequest) -> str:
    """One line about one email request."""
    if request.status == "sent":
        return "보냈어요"
    if request.status == "sending":
        return "보내는 중이에요"
    if request.status == "failed":
        return f"보내지 못했어요 ({request.last_error})" if request.last_error else "보내지 못했어요"
    if request.last_error:
        return f"{request.attempts}번 시도했지만 보내지 못해 잠시 뒤 다시 보낼게요 ({request.last_error})"
    return "보낼 차례를 기다려요"


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (naive UTC) time as the user's clock shows it."""
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(settings().TALES_TIMEZONE)).strftime(fmt)


def template_globals() -> dict:
    return {
        "STATUS_LABELS": STATUS_LABELS,
        "STAGE_LABELS": STAGE_LABELS,
        "ACTIVE_STATUSES": ACTIVE_STATUSES,
        "failure_text": failure_text,
        "email_state": email_state,
    }
