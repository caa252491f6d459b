"""Writers turn a book's scenes into one Korean paragraph each.

Interface: `texts = writer.write(scenes)` with one `SceneInput` per scene, in book order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shared.config import Settings
from worker import korean
from worker.kiwi import ends_as_sentence, ends_with_noun, to_because, to_polite_future, to_polite_past


@dataclass(frozen=True)
class SceneInput:
    """What a writer knows about one scene."""

    index: int
    fields: dict[str, str]
    caption: str | None = None
    caption_lang: str | None = None
    # Paragraphs already written for the other scenes, for writers that keep a story coherent.
    neighbours: dict[int, str] = field(default_factory=dict)


class Writer(Protocol):
    name: str

    def write(self, scenes: list[SceneInput]) -> list[str]: ...


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _join_ko(items: list[str]) -> str:
    """A, B, C -> 'A, B와 C' style list."""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-2] + [korean.with_(items[-2]) + " " + items[-1]])


_OPENINGS = ("어느 날, ", "그러던 중, ", "그다음에는 ", "잠시 뒤, ", "그리고 ", "한참 뒤, ")


class TemplateWriter:
    """A rule-based Korean writer: works offline, without weights, with correct particles."""

    name = "template"

    def write(self, scenes: list[SceneInput]) -> list[str]:
        return [self.paragraph(scene, position, len(scenes)) for position, scene in enumerate(scenes)]

    def paragraph(self, scene: SceneInput, position: int, total: int) -> str:
        f = scene.fields
        name = f["name"].strip()
        sentences: list[str] = []

        opening = _OPENINGS[0] if position == 0 else _OPENINGS[1 + (position - 1) % (len(_OPENINGS) - 1)]
        if position == total - 1 and total > 1:
            opening = "마지막으로, "
        settings_ = _items(f.get("setting"))
        where = f"{_join_ko(settings_)}에서 " if settings_ else ""
        sentences.append(f"{opening}{where}{korean.subject(name)} {self._predicate(f['i_action'])}")

        if scene.caption and scene.caption_lang == "ko":
            caption = scene.caption.strip().rstrip(".")
            if ends_as_sentence(caption):
                sentences.append(f"사진 속 모습처럼 {to_polite_past(caption)}.")
            else:
                sentences.append(f"사진 속에는 {korean.subject(caption)} 보여요.")

        friends = [c for c in _items(f.get("character")) if c != name]
        if friends:
            sentences.append(f"{korean.with_(_join_ko(friends))} 함께였어요.")
        for action in _items(f.get("action")):
            sentences.append(f"{korean.topic(name)} {self._predicate(action)}")
        feelings = _items(f.get("feeling"))
        if feelings:
            sentences.append(self._feeling(name, feelings))
        for cause in _items(f.get("causalRelationship")):
            sentences.append(self._cause(cause))
        for outcome in _items(f.get("outcomeResolution")):
            sentences.append("그래서 " + self._finish(outcome))
        for guess in _items(f.get("prediction")):
            sentences.append("아마 " + self._finish(guess, future=True))
        return " ".join(sentences)

    @staticmethod
    def _cause(cause: str) -> str:
        cause = cause.strip().rstrip(".")
        if ends_with_noun(cause):
            return f"{cause} 때문이었어요."
        because = to_because(cause)
        if because:
            return f"왜냐하면 {because}."
        return f"{cause} 그랬어요."

    @staticmethod
    def _finish(phrase: str, future: bool = False) -> str:
        done = to_polite_future(phrase) if future else to_polite_past(phrase)
        if ends_as_sentence(done):
            return done + "."
        if ends_with_noun(done):
            return f"{done}{'이었어요' if korean.has_final_consonant(done) else '였어요'}."
        return done + "요."

    def _predicate(self, action: str) -> str:
        action = action.strip().rstrip(".")
        if ends_with_noun(action):
            return f"{korean.obj(action)} 했어요."
        return self._finish(action)

    @staticmethod
    def _feeling(name: str, feelings: list[str]) -> str:
        if all(ends_with_noun(word) for word in feelings):
            return f"{korean.topic(name)} {korean.obj(_join_ko(feelings))} 느꼈어요."
        return f"{korean.topic(name)} 마음이 " + ", ".join(to_polite_past(word) for word in feelings) + "."


def get_writer(settings: Settings) -> Writer:
    """The writer backend named by TALES_WRITER."""
    if settings.TALES_WRITER == "template":
        return TemplateWriter()
    raise NotImplementedError(f"TALES_WRITER={settings.TALES_WRITER} is not available in this build")
