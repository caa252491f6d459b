"""The words the service shares across tiers: hint fields, classifications, Korean labels, particles.

The hint fields are the AI Hub "동화 삽화 생성 데이터" annotation fields the story model was trained on
(docs/architecture.md, "The story input"). Labels are what parents read on pages and in mail.
"""
from __future__ import annotations

from typing import Literal

from shared.reading import ends_in_consonant
from shared.status import BookStatus, EmailStatus, Stage

# The five story classifications of the training data, spelled exactly as the model saw them.
CLASSIFICATIONS: tuple[str, ...] = ("의사소통", "자연탐구", "사회관계", "예술경험", "신체운동_건강")
Classification = Literal["의사소통", "자연탐구", "사회관계", "예술경험", "신체운동_건강"]

REQUIRED_HINTS: tuple[str, ...] = ("name", "i_action", "classification")
# In this order in the model's input; each may hold several comma-separated items.
OPTIONAL_HINTS: tuple[str, ...] = (
    "character",
    "setting",
    "action",
    "feeling",
    "causalRelationship",
    "outcomeResolution",
    "prediction",
)
HINT_FIELDS: tuple[str, ...] = REQUIRED_HINTS + OPTIONAL_HINTS

# Each label says who or what it is about, so the pairs that overlap in the training data's names
# (name / character, i_action / action) read as different questions.
FIELD_LABELS: dict[str, str] = {
    "name": "주인공 이름",
    "i_action": "주인공이 하는 일",
    "classification": "이야기 분류",
    "character": "함께 나오는 인물",
    "setting": "장소",
    "action": "장면 속 다른 행동",
    "feeling": "감정",
    "causalRelationship": "원인",
    "outcomeResolution": "결과",
    "prediction": "예측",
}

STATUS_LABELS: dict[BookStatus, str] = {
    BookStatus.QUEUED: "차례를 기다려요",
    BookStatus.CAPTIONING: "사진을 살펴보고 있어요",
    BookStatus.AWAITING_ANNOTATIONS: "힌트를 기다려요",
    BookStatus.WRITING: "이야기를 쓰고 있어요",
    BookStatus.RENDERING: "책으로 묶고 있어요",
    BookStatus.DONE: "완성",
    BookStatus.FAILED: "멈춤",
}

STAGE_LABELS: dict[Stage, str] = {
    Stage.CAPTION: "사진 설명 만들기",
    Stage.SUGGEST: "키워드 고르기",
    Stage.WRITE: "이야기 쓰기",
    Stage.DRAW: "그림 그리기",
    Stage.NARRATE: "읽어 주는 소리 만들기",
    Stage.RENDER: "PDF 만들기",
}

# The same stages as operators read them in a failed book's `error` and in the logs.
STAGE_OPERATOR_NAMES: dict[Stage, str] = {
    Stage.CAPTION: "captioning",
    Stage.SUGGEST: "keyword suggestions",
    Stage.WRITE: "writing",
    Stage.DRAW: "drawing the pictures",
    Stage.NARRATE: "narrating",
    Stage.RENDER: "rendering the PDF",
}

EMAIL_LABELS: dict[EmailStatus, str] = {
    EmailStatus.PENDING: "보낼 차례를 기다려요",
    EmailStatus.SENDING: "보내는 중이에요",
    EmailStatus.SENT: "보냈어요",
    EmailStatus.FAILED: "보내지 못했어요",
}


# Reader age bands of the AI Hub data: the `01S`/`02S`/`03S` part of a row id
# (e.g. 03_01T_01S_9788959991051_57122) is 유아 / 초등 저학년 / 초등 고학년.
AGE_BANDS: tuple[str, ...] = ("유아", "초등 저학년", "초등 고학년")
AgeBand = Literal["유아", "초등 저학년", "초등 고학년"]
AGE_BAND_CODES: dict[str, str] = {"01S": "유아", "02S": "초등 저학년", "03S": "초등 고학년"}
# What the cover and the pages say about each band.
AGE_LABELS: dict[str, str] = {
    "유아": "유아 (3~5세)",
    "초등 저학년": "초등 저학년 (1~3학년)",
    "초등 고학년": "초등 고학년 (4~6학년)",
}


def age_band_of(row_id: str) -> str | None:
    """The reader age band named in an AI Hub row id, or None when it names none."""
    for part in row_id.split("_"):
        if part in AGE_BAND_CODES:
            return AGE_BAND_CODES[part]
    return None


# A book's title before it has one and before its hero is named (hints still to come).
UNTITLED = "제목 없는 그림책"


def default_title(protagonist: str | None) -> str:
    """The book's title when the user gave none."""
    return f"{protagonist}의 이야기" if protagonist else "우리의 그림책"


# Particles: Korean picks 은/는, 이/가, 을/를, 과/와 by whether the word before ends in a consonant
# when read aloud (shared/reading.py: Tom은, list.txt는, 10은); both, 은(는), where that is not known.


def korean_date(day, year: bool = True) -> str:
    """A date as the books, the pages and the mail write it: "2026년 12월 7일" (or "12월 7일")."""
    return f"{day.year}년 {day.month}월 {day.day}일" if year else f"{day.month}월 {day.day}일"


def has_final_consonant(word: str) -> bool:
    """True when the last sound of `word` is a consonant (받침); False when it is not or is not known."""
    return bool(ends_in_consonant(word))


def _particle(word: str, after_consonant: str, after_vowel: str) -> str:
    final = ends_in_consonant(word)
    if final is None:
        return f"{word}{after_consonant}({after_vowel})"
    return word + (after_consonant if final else after_vowel)


def topic(word: str) -> str:
    """word + 은/는."""
    return _particle(word, "은", "는")


def subject(word: str) -> str:
    """word + 이/가."""
    return _particle(word, "이", "가")


def obj(word: str) -> str:
    """word + 을/를."""
    return _particle(word, "을", "를")


def with_(word: str) -> str:
    """word + 과/와."""
    return _particle(word, "과", "와")
