"""Child safety: is a hint, a title or a written paragraph fit for a children's picture book?

Both tiers use it: the web tier refuses unsafe hints at submission, the worker checks what a
model wrote. The word list ships with the package (`shared/data/unsafe_ko.txt`, one entry a line,
the format is described at its top). Matching is plain Python over normalised words, no
morphological analyser: the web tier stays light (Kiwi takes seconds and hundreds of MB to
start) and one matcher gives one answer in both tiers. A maintained library was tried first:
korcen 1.0.3 flags 새끼 고양이 (a kitten, common in picture books), misses 존나 and 씨1발, has no
violence, self-harm or drug words, and wraps stdout with colorama when imported.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

WORDS_FILE = Path(__file__).with_name("data") / "unsafe_ko.txt"

# What parents read about a refusal, by category.
CATEGORY_LABELS: dict[str, str] = {
    "욕설": "욕설",
    "혐오": "남을 깎아내리는 말",
    "성": "성적인 말",
    "폭력": "폭력이나 해치는 말",
    "약물": "약물에 관한 말",
}

# Particles that may follow a whole-word term (애미가, 애미야).
_PARTICLES = ("이", "가", "은", "는", "을", "를", "야", "아", "도", "의", "랑", "이랑", "한테", "에게", "이야", "다")
_HANGUL_OR_LATIN = re.compile(r"[가-힣ㄱ-ㅎㅏ-ㅣa-z]")
_LATIN_WORD = re.compile(r"^[a-z]+$")


@dataclass(frozen=True)
class Finding:
    """An unsafe word found in a text."""

    term: str
    category: str

    @property
    def label(self) -> str:
        return CATEGORY_LABELS.get(self.category, "아이 책에 맞지 않는 말")


@dataclass(frozen=True)
class _Lists:
    inside: tuple[tuple[str, str], ...]  # (term, category): matches inside a word
    whole: dict[str, str]  # term -> category: matches a whole word (+ a particle)
    phrases: tuple[tuple[tuple[str, ...], str], ...]  # words in a row
    latin: dict[str, str]  # English whole words
    innocent: tuple[str, ...]


@lru_cache(maxsize=1)
def _lists() -> _Lists:
    inside, whole, phrases, latin, innocent = [], {}, [], {}, []
    for line in WORDS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        category, _, term = line.partition("\t")
        term = term.strip().lower()
        if not _normalise_word(term):
            raise ValueError(f"{WORDS_FILE.name}: the entry {line!r} has no letters")
        if term.startswith("~"):
            innocent.append(_normalise_word(term[1:]))
        elif term.startswith("="):
            whole[_normalise_word(term[1:])] = category
        elif " " in term:
            phrases.append((tuple(_normalise_word(w) for w in term.split()), category))
        elif _LATIN_WORD.match(term):
            latin[term] = category
        else:
            inside.append((_normalise_word(term), category))
    return _Lists(tuple(inside), whole, tuple(phrases), latin, tuple(innocent))


def _nfkc(text: str) -> str:
    """NFKC (fullwidth and styled letters become plain ones), except Hangul compatibility jamo
    (ㅅㅂ), which NFKC would turn into conjoining jamo that no one types."""
    return "".join(ch if "\u3130" <= ch <= "\u318f" else unicodedata.normalize("NFKC", ch) for ch in text)


def _normalise_word(word: str) -> str:
    """One word with what hides a swear word taken out: digits, dots, symbols between its letters."""
    return "".join(_HANGUL_OR_LATIN.findall(_nfkc(word).lower()))


def words(text: str) -> list[str]:
    """The normalised words of a text, empty ones dropped."""
    return [w for w in (_normalise_word(raw) for raw in _nfkc(text).split()) if w]


def _strip_particle(word: str) -> list[str]:
    return [word] + [word[: -len(p)] for p in _PARTICLES if word.endswith(p) and len(word) > len(p)]


def find_unsafe(text: str | None) -> Finding | None:
    """The first unsafe word in `text`, or None when it is fit for a children's book."""
    if not text:
        return None
    lists = _lists()
    ws = words(text)
    for word in ws:
        cleared = word
        for innocent in lists.innocent:
            cleared = cleared.replace(innocent, " ")
        for term, category in lists.inside:
            if term in cleared:
                return Finding(term, category)
        for form in _strip_particle(word):
            if form in lists.whole:
                return Finding(form, lists.whole[form])
        if word in lists.latin:
            return Finding(word, lists.latin[word])
    for terms, category in lists.phrases:
        n = len(terms)
        for start in range(len(ws) - n + 1):
            window = ws[start : start + n]
            if all(w.startswith(t) if i < n - 1 else t in w for i, (w, t) in enumerate(zip(window, terms))):
                return Finding(" ".join(terms), category)
    return None


def is_safe(text: str | None) -> bool:
    return find_unsafe(text) is None


def refusal(finding: Finding) -> str:
    """What a parent reads next to the field: Korean, naming the kind of word, not repeating it."""
    return f"아이 그림책에 넣을 수 없는 말({finding.label})이 있어요. 다른 말로 바꿔 주세요."
