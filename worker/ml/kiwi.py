"""One Kiwi morphological analyser per worker process (its model ships on PyPI)."""
from __future__ import annotations

from functools import lru_cache

from kiwipiepy import Kiwi

_PREDICATE_TAGS = ("VV", "VA", "VX", "XSV", "XSA", "VCP")


@lru_cache(maxsize=1)
def get_kiwi() -> Kiwi:
    return Kiwi()


def _reconjugate(phrase: str, endings: list[tuple[str, str]]) -> str | None:
    """Replace the ending of a dictionary-form phrase (…다) with `endings`, keeping the user's spacing.

    Only the last predicate stem and its endings are re-joined, so 우주인 stays 우주인.
    None when the phrase does not end in a plain 다 form.
    """
    tokens = get_kiwi().tokenize(phrase)
    if len(tokens) < 2 or tokens[-1].form != "다" or tokens[-1].tag not in ("EF", "EC"):
        return None
    stem_at = len(tokens) - 2
    keep_past = tokens[stem_at].tag == "EP"
    if keep_past:
        stem_at -= 1
    if stem_at < 0 or not tokens[stem_at].tag.startswith(_PREDICATE_TAGS):
        return None
    tail = [(t.form, t.tag) for t in tokens[stem_at:-1]]
    if keep_past and endings and endings[0] == ("었", "EP"):
        endings = endings[1:]
    return phrase[: tokens[stem_at].start] + get_kiwi().join(tail + endings)


def _clean(phrase: str) -> str:
    return phrase.strip().rstrip(".!?~ ")


def to_polite_past(phrase: str) -> str:
    """Finish a phrase as a polite past sentence: 뛰어놀다 -> 뛰어놀았어요; 뛰어요 stays."""
    phrase = _clean(phrase)
    return _reconjugate(phrase, [("었", "EP"), ("어요", "EF")]) or phrase


def to_polite_future(phrase: str) -> str:
    """A guess about what comes next: 일어나다 -> 일어날 거예요; other phrases are kept."""
    phrase = _clean(phrase)
    if _reconjugate(phrase, []) is None or get_kiwi().tokenize(phrase)[-2].tag == "EP":
        return to_polite_past(phrase)
    return _reconjugate(phrase, [("ᆯ", "ETM")]) + " 거예요"


def to_because(phrase: str) -> str | None:
    """A reason: 불이 붙었다 -> 불이 붙었기 때문이에요; None when the phrase is not a 다 form."""
    phrase = _clean(phrase)
    joined = _reconjugate(phrase, [("었", "EP"), ("기", "ETN")])
    return joined + " 때문이에요" if joined else None


def ends_as_sentence(phrase: str) -> bool:
    """True when the phrase already ends with a final verb ending (…어요, …다)."""
    tokens = get_kiwi().tokenize(phrase.strip())
    return bool(tokens) and tokens[-1].tag == "EF"


def ends_with_noun(phrase: str) -> bool:
    tokens = get_kiwi().tokenize(phrase.strip())
    return bool(tokens) and tokens[-1].tag.startswith(("NN", "NP", "NR", "SL", "XSN", "ETN"))
