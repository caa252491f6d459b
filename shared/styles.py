"""The picture styles a book can be drawn in (docs/pictures.md): one vocabulary for web and worker.

`photo` keeps the family's photos as taken. The drawn styles are the same ids for every backend:
the `filter` backend draws them with OpenCV, `diffusers` and `openai` from the style's prompt.
Which ones a server offers depends on its TALES_ILLUSTRATOR (`available_styles`).
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings

PHOTO = "photo"


@dataclass(frozen=True)
class Style:
    id: str
    label: str  # what parents read on the form
    description: str  # one line under the label
    prompt: str  # the English style words a drawing model is given before the page's caption


STYLES: dict[str, Style] = {
    PHOTO: Style(PHOTO, "사진 그대로", "찍은 사진을 그대로 실어요", ""),
    "watercolor": Style(
        "watercolor", "수채화", "번지는 물감과 종이 결이 보이는 그림",
        "a soft watercolor illustration for a children's picture book, gentle washes of colour, "
        "paper texture, loose brush strokes, warm light"),
    "pencil": Style(
        "pencil", "색연필", "색연필로 결을 살려 칠한 그림",
        "a colored pencil drawing for a children's picture book, hand-drawn strokes, soft shading, "
        "white paper showing through, warm and cosy"),
    "cartoon": Style(
        "cartoon", "만화", "굵은 선과 단순한 색의 그림",
        "a bright cartoon illustration for a children's picture book, bold clean ink outlines, "
        "flat simple colours, friendly and cheerful"),
}
DRAWN = tuple(style for style in STYLES if style != PHOTO)


def available_styles(settings: Settings) -> list[Style]:
    """What this server can draw: `photo` always, the drawn styles when an illustrator is set."""
    if settings.TALES_ILLUSTRATOR == "none":
        return [STYLES[PHOTO]]
    return list(STYLES.values())
