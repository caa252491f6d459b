"""The Korean words of every API refusal: field labels and sentences shared with the pages' forms.

An API client gets the same sentence a parent reads on the form ("장면 1: 이야기 분류를 … 중에서
골라 주세요.") and a stable English `code` to branch on (docs/api.md, "Errors"). The English detail
a refusal was raised with goes to the log, for the operator.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from shared.vocabulary import AGE_BANDS, CLASSIFICATIONS, FIELD_LABELS, obj, subject
from web.schemas import UNSAFE

HANGUL = re.compile(r"[\uac00-\ud7a3]")

# Every field a request body can carry, by its JSON name, as the pages label it.
FIELD_NAMES: dict[str, str] = {
    **FIELD_LABELS,
    "title": "책 제목",
    "age": "읽을 아이",
    "style": "그림 스타일",
    "dedication": "받는 사람",
    "scenes": "장면 힌트",
    "book_hints": "책 전체 힌트",
    "email_when_done": "다 되면 메일 받기",
    "email": "이메일",
    "password": "비밀번호",
    "text": "글",
    "to": "받는 사람 이메일",
    "sender_name": "보내는 사람",
    "note": "함께 보낼 말",
    "alternative": "고른 글",
    "use_photo": "사진 그대로 쓰기",
    "book": "book 칸",
}

# pydantic's error type -> the API's code; the codes are a contract (docs/api.md), the types are not.
CODES: dict[str, str] = {
    "missing": "missing_field",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "too_short",
    "too_short": "too_short",
    "literal_error": "not_a_choice",
    "enum": "not_a_choice",
    "string_pattern_mismatch": "control_characters",
    "extra_forbidden": "unknown_field",
    UNSAFE: UNSAFE,
    "value_error": "invalid_value",
}


@dataclass(frozen=True)
class Problem:
    """One refused field: the API's code, the Korean sentence, the dotted path of the field."""

    code: str
    message: str
    field: str | None


def validation_problem(exc: ValidationError, prefix: str | None = None) -> Problem:
    """The first problem pydantic found, in the pages' words; `prefix` names the part it came in ("book")."""
    first = exc.errors()[0]
    location = [str(part) for part in first.get("loc", ())]
    kind = first.get("type", "")
    context = first.get("ctx") or {}
    code = CODES.get(kind, "invalid")
    if code == "too_short" and context.get("min_length") == 1:
        code = "missing_field"  # a required text left blank ("  ") is a missing one to a person
    name = next((part for part in reversed(location) if not part.isdigit()), prefix or "")
    if kind not in CODES and is_korean(first.get("msg", "")):
        code, message = kind, first["msg"]  # a check of our own that says it in the pages' words already
    else:
        message = _sentence(code, name, context)
    where = _scene_of(location)
    path = [prefix, *location] if prefix else location
    return Problem(code, f"{where}{message}", ".".join(part for part in path if part) or None)


def _scene_of(location: list[str]) -> str:
    """'장면 2: ' for a field of the second scene, as the form's summary names it; '' otherwise."""
    if len(location) >= 2 and location[0] == "scenes" and location[1].isdigit():
        return f"장면 {int(location[1]) + 1}: "
    return ""


def _sentence(code: str, name: str, context: dict) -> str:
    label = FIELD_NAMES.get(name, name or "입력한 값")
    if code == "unknown_field":
        return f"알 수 없는 항목이 있어요: '{name}'. 이 항목을 빼고 다시 보내 주세요."
    if name == "classification" and code in ("missing_field", "not_a_choice"):
        return f"{obj(label)} {', '.join(CLASSIFICATIONS)} 중에서 골라 주세요."
    if name == "age" and code == "not_a_choice":
        return f"{obj(label)} {', '.join(AGE_BANDS)} 중에서 골라 주세요."
    if code == "missing_field":
        return f"{obj(label)} 적어 주세요."
    if code == "too_long":
        limit = context.get("max_length")
        return f"{subject(label)} 너무 길어요." + (f" {limit}{'개' if name == 'scenes' else '자'}까지 쓸 수 있어요." if limit else "")
    if code == "too_short":
        limit = context.get("min_length")
        return f"{subject(label)} 너무 짧아요." + (f" {limit}{'개' if name == 'scenes' else '자'} 이상 적어 주세요." if limit else "")
    if code == "control_characters":
        return f"{label}에 쓸 수 없는 보이지 않는 글자(제어 문자)가 있어요. 지우고 다시 적어 주세요."
    if code == UNSAFE:
        return unsafe_message(label)
    if name in ("email", "to"):
        return f"{label} 주소가 올바르지 않아요. 예: parent@example.com"
    return f"{obj(label)} 확인해 주세요."


def unsafe_message(label: str) -> str:
    """A field refused by the child-safety check (shared/safety.py), in the parents' words."""
    return f"{label}에 아이 그림책에 넣을 수 없는 말이 있어요. 다른 말로 바꿔 주세요."


def is_korean(text: str) -> bool:
    """True when `text` is written for a person here (it has Hangul), not an English detail."""
    return bool(HANGUL.search(text))


_UNITS = {"second": "초", "minute": "분", "hour": "시간", "day": "일", "month": "달", "year": "년"}
_LIMIT = re.compile(r"(\d+) per (\d+ )?(second|minute|hour|day|month|year)s?")


def rate_limit(description: str) -> str:
    """Flask-Limiter's '10 per 1 hour' as '1시간에 10번'; anything else as it came."""
    match = _LIMIT.fullmatch((description or "").strip())
    if match is None:
        return description
    count, amount, unit = match.groups()
    return f"{(amount or '1').strip()}{_UNITS[unit]}에 {count}번"
