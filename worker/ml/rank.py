"""Choosing among a writer's candidate texts for a page: safe, new, and saying the most of its hints.

Every writer can give several texts for a page being rewritten (the template writer's other
wordings, KoT5's beams or samples, the openai writer's alternatives). `choose` drops the unsafe
ones (shared/safety.py), the ones already shown on the page, and repeats; ranks the rest by how
many of the page's hints they carry (`reaches`: a word of the hint, or at least half its stems,
read with kiwipiepy) less a penalty for a sentence said twice; and keeps the writer's order among
equals. The first is the page's new text, the rest are offered beside it.
"""
from __future__ import annotations

import re
from functools import lru_cache

from shared.safety import is_safe
from shared.vocabulary import OPTIONAL_HINTS
from worker.ml import hints
from worker.ml.kiwi import get_kiwi

_CONTENT = ("NNG", "NNP", "VV", "VA", "XR", "SL", "NR")
_LIGHT = {"하", "있", "되", "것", "거", "수", "들", "이", "보", "주", "같", "모르", "않", "못하", "싶"}


@lru_cache(maxsize=8192)
def _word_stems(word: str) -> frozenset[tuple[str, bool]]:
    """The content stems of one 어절 read alone (Kiwi misreads 하은이는 신났어요 in context): (stem, is_predicate)."""
    found = set()
    for token in get_kiwi().tokenize(word):
        tag = token.tag.split("-")[0]
        if not tag.startswith(_CONTENT):
            continue
        form = token.form
        if tag in ("VA", "VV") and form.endswith("하") and len(form) > 1:
            form = form[:-1]  # 궁금하 -> 궁금, as the XR of 궁금하다
        if tag == "NNG":
            clause = hints.adjective_from_noun(form)  # 즐거움 -> 즐겁, 슬픔 -> 슬프
            if clause is not None:
                found.add((clause.lemma.removesuffix("하") or clause.lemma, True))
        if form not in _LIGHT:
            found.add((form, tag in ("VA", "VV", "XR")))
    return frozenset(found)


def stems(text: str) -> set[tuple[str, bool]]:
    """Every content stem of the text, and each two in a row joined (배가 고프다 holds 배고프, 화가 나다 화나)."""
    words = [sorted(_word_stems(word)) for word in text.replace(",", " ").replace(".", " ").split()]
    found = {stem for word in words for stem in word}
    for here, after in zip(words, words[1:]):
        found.update((a + b, True) for a, _ in here for b, predicate in after if predicate)
    return found


def _matches(wanted: tuple[str, bool], found: set[tuple[str, bool]]) -> bool:
    form, predicate = wanted
    for other, other_predicate in found:
        if other == form:
            return True
        if predicate and other_predicate and (other.startswith(form) or form.startswith(other)):
            return True  # 찾아보 and 찾 (찾아볼 거예요)
    return False


def reaches(item: str, page: str, short: str | None = None) -> bool:
    """True when a hint item is on its page: its words, its short name, or at least half of its stems."""
    item = item.strip().strip("\"'")
    if not item:
        return True
    if item in page or (short and short in page):
        return True
    wanted = stems(item)
    if not wanted:
        return True
    found = stems(page)
    return sum(_matches(w, found) for w in wanted) * 2 >= len(wanted)


def coverage(fields: dict, text: str) -> float:
    """The share of a page's hint items (i_action and the optional ones) that its text carries."""
    items = [str(fields.get("i_action", ""))] + [item for key in OPTIONAL_HINTS for item in str(fields.get(key) or "").split(",")]
    items = [item.strip() for item in items if item.strip()]
    return sum(reaches(item, text) for item in items) / len(items) if items else 1.0


def repeats(text: str) -> int:
    """Sentences said twice in a text, and words said three times in a row (a model's loops)."""
    sentences = [s.strip(" .!?") for s in re.split(r"(?<=[.!?])\s+", text) if s.strip(" .!?")]
    words = text.split()
    loops = sum(1 for a, b, c in zip(words, words[1:], words[2:]) if a == b == c)
    return len(sentences) - len(set(sentences)) + loops


def choose(candidates: list[str], fields: dict, shown: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The candidates worth showing, best first: safe, not shown before, not the same twice, most hints said."""
    seen = {" ".join(text.split()) for text in shown}
    kept: list[str] = []
    for text in candidates:
        text = " ".join((text or "").split())
        if text and text not in seen and text not in kept and is_safe(text):
            kept.append(text)
    scored = sorted(enumerate(kept), key=lambda pair: (-(coverage(fields, pair[1]) - 0.25 * repeats(pair[1])), pair[0]))
    return [text for _, text in scored]
