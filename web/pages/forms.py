"""The per-scene hint fields of the pages' forms: names, Korean labels, parsing and messages."""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from shared.classification import guess_classification
from shared.vocabulary import (
    AGE_BANDS,
    AGE_LABELS,
    CLASSIFICATIONS,
    FIELD_LABELS,
    HINT_FIELDS,
    OPTIONAL_HINTS,
    REQUIRED_HINTS,
    obj,
    subject,
)
from web.messages import unsafe_message
from web.schemas import UNSAFE, BookHints, SceneAnnotation, without_controls

# A short example under each field, so a parent knows what kind of words to write.
FIELD_HINTS: dict[str, str] = {
    "name": "예: 토끼, 민지",
    "i_action": "예: 깡충깡충 뛰어요",
    "character": "예: 엄마, 강아지 (쉼표로 여러 개)",
    "setting": "예: 공원, 바닷가",
    "action": "예: 모래성 쌓기",
    "feeling": "예: 기쁨, 설렘",
    "causalRelationship": "예: 비가 와서",
    "outcomeResolution": "예: 무지개를 보았어요",
    "prediction": "예: 내일도 놀러 갈 거예요",
}

# A line under the fields whose names overlap or whose words are the training data's (분류, 원인, 결과,
# 예측), saying what each asks for.
FIELD_HELP: dict[str, str] = {
    "name": "이야기의 중심이 되는 아이나 동물 한 명이에요.",
    "i_action": "주인공이 이 사진에서 하는 일이에요.",
    "classification": "이 장면이 아이의 어떤 경험에 대한 이야기인지예요(어린이집·유치원 누리과정의 다섯 영역). "
                      "비워 두면 하는 일과 장소를 보고 알맞게 골라요.",
    "character": "주인공 말고 이 장면에 나오는 사람이나 동물이에요.",
    "action": "주인공 말고 다른 인물이 하는 일이나, 장면에서 벌어지는 놀이예요.",
    "causalRelationship": "이 장면의 일이 왜 일어났는지예요. 이야기가 앞 장면과 이어져요.",
    "outcomeResolution": "그래서 어떻게 되었는지예요. 장면의 끝맺음이 돼요.",
    "prediction": "다음에 어떤 일이 있을지예요. 이야기가 다음 장면으로 넘어가요.",
}

# What each story area (이야기 분류) is about, beside its name in the list.
CLASSIFICATION_HELP: dict[str, str] = {
    "의사소통": "말하고 듣고, 책과 이야기",
    "자연탐구": "자연·동물·날씨를 살피고 궁금해하기",
    "사회관계": "가족·친구와 지내기, 돕고 나누기",
    "예술경험": "그림·노래·춤·만들기",
    "신체운동_건강": "몸 움직이기, 운동, 씻고 먹는 건강한 생활",
}

# The book-level fields of the new-book form: typed once, used for every scene left empty.
BOOK_DEFAULTS: dict[str, str] = {"name": "book-name", "character": "book-character"}


@dataclass
class SceneForm:
    """What was typed for one scene, and what is wrong with it."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def typed(form: MultiDict, lines: tuple[str, ...] = ()) -> MultiDict:
    """A posted form as the parent typed it: no control characters (a pasted NUL), one line except in `lines`.

    A NUL in a title used to refuse the whole form for a character nobody can see; now it is dropped.
    """
    return MultiDict([(key, without_controls(value, lines=key in lines)) for key, value in form.items(multi=True)])


def field_name(position: int, name: str) -> str:
    """Form field names are `scenes-<0-based position>-<field>`, in the book's order."""
    return f"scenes-{position}-{name}"


def _message(name: str, kind: str) -> str:
    label = FIELD_LABELS[name]
    if name == "classification":
        return f"{obj(label)} {', '.join(CLASSIFICATIONS)} 중에서 골라 주세요."
    if kind in ("missing", "string_too_short"):
        return f"{obj(label)} 적어 주세요."
    if kind == "string_too_long":
        return f"{subject(label)} 너무 길어요."
    if kind == UNSAFE:
        return unsafe_message(label)
    return f"{obj(label)} 확인해 주세요."


def book_defaults(form: MultiDict) -> dict[str, str]:
    """The main character and company typed once at the top of the new-book form."""
    return {name: form.get(key, "").strip() for name, key in BOOK_DEFAULTS.items()}


def read_book_hints(form: MultiDict) -> tuple[BookHints | None, dict[str, str]]:
    """The book-level hints as the API takes them, or None with what is wrong, by form field."""
    try:
        return BookHints(**{name: value for name, value in book_defaults(form).items() if value}), {}
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error.get("loc") else "name"
            problems.setdefault(BOOK_DEFAULTS.get(name, BOOK_DEFAULTS["name"]), _message(name, error.get("type", "")))
        return None, problems


def read_scenes(form: MultiDict, count: int) -> tuple[list[SceneAnnotation] | None, list[SceneForm]]:
    """Parse `count` scenes from a posted form; the annotations, or None with per-field errors.

    A scene's empty name or company takes the book-level value, and an empty classification is
    filled in by `shared.classification.guess_classification` (parents need not know the terms).
    """
    defaults = book_defaults(form)
    forms: list[SceneForm] = []
    annotations: list[SceneAnnotation] = []
    for position in range(count):
        scene = SceneForm(values={name: form.get(field_name(position, name), "").strip() for name in HINT_FIELDS})
        fields = {**scene.values, **{k: v for k, v in defaults.items() if v and not scene.values[k]}}
        if not fields["classification"]:
            fields["classification"] = guess_classification(fields)
        try:
            annotations.append(SceneAnnotation(**{k: v for k, v in fields.items() if v or k in REQUIRED_HINTS}))
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error.get("loc") else "name"
                scene.errors.setdefault(name, _message(name, error.get("type", "")))
        forms.append(scene)
    return (None if any(scene.errors for scene in forms) else annotations), forms


def error_summary(forms: list[SceneForm]) -> list[str]:
    """One line per problem, naming the scene, for the alert at the top of a form."""
    return [f"장면 {position}: {message}" for position, scene in enumerate(forms, start=1) for message in scene.errors.values()]


def template_globals() -> dict:
    return {
        "REQUIRED_HINTS": REQUIRED_HINTS,
        "OPTIONAL_HINTS": OPTIONAL_HINTS,
        "FIELD_LABELS": FIELD_LABELS,
        "FIELD_HINTS": FIELD_HINTS,
        "FIELD_HELP": FIELD_HELP,
        "CLASSIFICATION_HELP": CLASSIFICATION_HELP,
        "CLASSIFICATIONS": CLASSIFICATIONS,
        "AGE_BANDS": AGE_BANDS,
        "AGE_LABELS": AGE_LABELS,
        "field_name": field_name,
    }
