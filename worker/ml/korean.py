"""Korean particles chosen by the final consonant of the word before them."""
from __future__ import annotations

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
# Digits and Latin letters read aloud in Korean: does the reading end in a consonant?
_DIGIT_HAS_FINAL = {"0": True, "1": True, "2": False, "3": True, "4": False,
                    "5": False, "6": True, "7": True, "8": True, "9": False}
_LATIN_HAS_FINAL = set("lmnr")  # 엘, 엠, 엔, 알


def has_final_consonant(word: str) -> bool:
    """True when the last sound of `word` is a consonant (받침)."""
    stripped = word.rstrip(" \t\n.,!?~\"')]}")
    if not stripped:
        return False
    last = stripped[-1]
    code = ord(last)
    if _HANGUL_FIRST <= code <= _HANGUL_LAST:
        return (code - _HANGUL_FIRST) % 28 != 0
    if last.isdigit():
        return _DIGIT_HAS_FINAL.get(last, False)
    return last.lower() in _LATIN_HAS_FINAL


def _final_is_rieul(word: str) -> bool:
    last = word.rstrip()[-1:] or " "
    code = ord(last)
    return _HANGUL_FIRST <= code <= _HANGUL_LAST and (code - _HANGUL_FIRST) % 28 == 8


def topic(word: str) -> str:
    """word + 은/는."""
    return word + ("은" if has_final_consonant(word) else "는")


def subject(word: str) -> str:
    """word + 이/가."""
    return word + ("이" if has_final_consonant(word) else "가")


def obj(word: str) -> str:
    """word + 을/를."""
    return word + ("을" if has_final_consonant(word) else "를")


def with_(word: str) -> str:
    """word + 과/와."""
    return word + ("과" if has_final_consonant(word) else "와")


def instrument(word: str) -> str:
    """word + 으로/로 (ㄹ-final words take 로)."""
    if has_final_consonant(word) and not _final_is_rieul(word):
        return word + "으로"
    return word + "로"

