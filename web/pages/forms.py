"""The per-scene hint fields of the pages' forms: names, Korean labels, parsing and messages."""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

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
from web.schemas import UNSAFE, SceneAnnotation

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


@dataclass
class SceneForm:
    """What was typed for one scene, and what is wrong with it."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


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


def unsafe_message(label: str) -> str:
    """A field refused by the child-safety check (shared/safety.py), in the parents' words."""
    return f"{label}에 아이 그림책에 넣을 수 없는 말이 있어요. 다른 말로 바꿔 주세요."


def read_scenes(form: MultiDict, count: int) -> tuple[list[SceneAnnotation] | None, list[SceneForm]]:
    """Parse `count` scenes from a posted form; the annotations, or None with per-field errors."""
    forms: list[SceneForm] = []
    annotations: list[SceneAnnotation] = []
    for position in range(count):
        scene = SceneForm(values={name: form.get(field_name(position, name), "").strip() for name in HINT_FIELDS})
        try:
            annotations.append(SceneAnnotation(**{k: v for k, v in scene.values.items() if v or k in REQUIRED_HINTS}))
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
        "CLASSIFICATIONS": CLASSIFICATIONS,
        "AGE_BANDS": AGE_BANDS,
        "AGE_LABELS": AGE_LABELS,
        "field_name": field_name,
    }
