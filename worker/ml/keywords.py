"""Keyword suggestions per scene: 배경 (setting), 행동 (action), 감정 (feeling), 3-5 each.

Interface: `suggestions = suggester.suggest([(caption, lang), ...])`, one dict per scene.
"""
from __future__ import annotations

import json
from typing import Protocol

from shared.config import Settings
from worker.errors import StageError
from worker.ml.kiwi import get_kiwi

CATEGORIES = ("setting", "action", "feeling")
# Feelings a picture-book scene commonly carries, offered when the caption names none.
DEFAULT_FEELINGS = ("기쁨", "설렘", "신남", "편안함", "궁금함")
# Predicate stems that name a feeling (즐겁다 -> 즐거움) and nouns that do with 하다 (행복하다 -> 행복).
FEELING_WORDS = {"웃", "즐겁", "기쁘", "슬프", "무섭", "놀라", "신나", "편안", "궁금", "화나", "설레", "졸리", "외롭", "반갑"}
FEELING_NOUNS = {"행복", "편안", "신기", "뿌듯", "든든", "심심", "피곤", "사랑"}
# Nouns of position: 숲 속, 나무 아래 — the noun before them is where the scene happens.
POSITION_NOUNS = {"속", "안", "위", "아래", "밑", "옆", "앞", "뒤"}
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
        places: list[str] = []
        nouns: list[str] = []
        actions: list[str] = []
        feelings: list[str] = []
        if caption:
            kiwi = get_kiwi()
            tokens = kiwi.tokenize(caption)
            for k, token in enumerate(tokens):
                after = tokens[k + 1] if k + 1 < len(tokens) else None
                if token.tag in ("NNG", "NNP"):
                    if after is not None and after.tag == "XSV":  # 산책 + 하다: an action
                        actions.append(token.form + "하기")
                    elif after is not None and after.tag == "XSA" and token.form in FEELING_NOUNS:
                        feelings.append(token.form)
                    elif token.form in POSITION_NOUNS:
                        continue
                    elif after is not None and after.form in POSITION_NOUNS and after.tag == "NNG":
                        places.append(f"{token.form} {after.form}")  # 숲 속, 나무 아래: where the scene is
                    elif after is not None and after.tag == "JKB":
                        places.append(token.form)  # 공원에서
                    elif after is not None and after.tag == "JKS":
                        continue  # the one doing something is a character, not a place
                    elif len(token.form) > 1:
                        nouns.append(token.form)
                elif token.tag.startswith(("VV", "VA")):
                    stem = token.form
                    if stem in FEELING_WORDS:
                        feelings.append(kiwi.join([(stem, token.tag), ("음", "ETN")]))  # 즐겁다 -> 즐거움
                    elif token.tag.startswith("VV"):
                        actions.append(kiwi.join([(stem, token.tag), ("기", "ETN")]))  # 놀다 -> 놀기
        return {
            # Places first; other things in the picture can be part of the background too.
            "setting": _fill(places + nouns, DEFAULT_SETTINGS),
            "action": _fill(actions, DEFAULT_ACTIONS),
            "feeling": _fill(feelings, DEFAULT_FEELINGS),
        }


SUGGEST_PROMPT = """어린이 그림책을 만드는 부모를 돕습니다. 사진 설명(caption)마다 그 장면에 어울리는 한국어 키워드를
배경(setting), 행동(action), 감정(feeling)별로 3~5개씩, 짧은 단어나 구로 추천하세요.
JSON으로만 답하세요: {"scenes": [{"index": 번호, "setting": [...], "action": [...], "feeling": [...]}, ...]}"""


class OpenAISuggester:
    """Keywords from an OpenAI-compatible server: one call for all captioned scenes of a book."""

    name = "openai"

    def __init__(self, settings: Settings):
        from worker.ml.openai_chat import OpenAIChat

        self.chat = OpenAIChat(settings)
        self.offline = KiwiSuggester()

    def suggest(self, captions: list[tuple[str | None, str | None]]) -> list[dict[str, list[str]]]:
        # Scenes without a caption give the model nothing to look at; they get the offline defaults.
        results = self.offline.suggest([(None, None)] * len(captions))
        asked = [(i, caption) for i, (caption, _) in enumerate(captions) if caption and caption.strip()]
        if not asked:
            return results
        messages = [
            {"role": "system", "content": SUGGEST_PROMPT},
            {
                "role": "user",
                "content": json.dumps({"captions": [{"index": i + 1, "caption": c} for i, c in asked]}, ensure_ascii=False),
            },
        ]
        answer = self.chat.complete_json(messages)
        scenes = answer.get("scenes")
        if not isinstance(scenes, list):
            raise StageError(f"the keyword answer has no 'scenes' list: {str(answer)[:200]}")
        items = [item for item in scenes if isinstance(item, dict)]
        by_index = {item.get("index"): item for item in items}
        for position, (i, caption) in enumerate(asked):
            # Matched by scene number; an answer without numbers is taken in order.
            item = by_index.get(i + 1) or (items[position] if position < len(items) else {})
            own = self.offline.suggest([(caption, captions[i][1])])[0]
            results[i] = {
                # The server's words first; the offline analyser tops up a short list to three.
                category: _fill(_words(item.get(category)), tuple(own[category]))
                for category in CATEGORIES
            }
        return results


def _words(value: object) -> list[str]:
    """Keywords from a JSON value: a list of strings, or one comma-separated string."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return _unique(" ".join(str(item).split()).strip(" .#") for item in value if isinstance(item, (str, int)))


def get_suggester(settings: Settings) -> Suggester:
    """Suggestions from an OpenAI-compatible server when configured, else offline."""
    from worker.ml.openai_chat import is_configured

    if settings.TALES_SUGGESTER == "openai" or (settings.TALES_SUGGESTER == "auto" and is_configured(settings)):
        return OpenAISuggester(settings)
    return KiwiSuggester()
