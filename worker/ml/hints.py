"""Hints in any form, read with kiwipiepy into a clause the template writer can conjugate.

Parents write a hint as a dictionary form (뛰어놀다), a conjugated verb (뛰었어요, 앉아, 지키는),
a nominalised verb (모래성 쌓기, 기쁨) or a plain noun (당근, 행복). `parse` finds the last
predicate and keeps everything before it as the parent typed it; the `Clause` then gives the
forms a picture book needs, all in 해요체: 뛰었어요, 뛰고, 뛰어서, 뛸 거예요, 뛰었거든요.
A noun that names no action (당근 as an action) gives no clause, so it is left out, not printed broken.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from shared.vocabulary import has_final_consonant, obj
from worker.ml.kiwi import get_kiwi

_PREDICATES = ("VV", "VA", "VX", "VCP", "VCN", "XSV", "XSA")
_ENDINGS = ("EP", "EF", "EC", "ETM", "ETN")
_NOUNS = ("NNG", "NNP", "NNB", "NR", "NP", "XSN", "SL", "SH", "SN")
_PUNCT = ("SF", "SP", "SS", "SE", "SO", "SW")
Morph = tuple[str, str]


# Honorific stems: 할머니가 계셨어요, 드셨어요, 주무셨어요 (not 있으셨어요, 먹으셨어요).
_HONORIFIC_STEMS = {"있": ("계시", "VV"), "먹": ("드시", "VV"), "마시": ("드시", "VV"), "자": ("주무시", "VV")}
# Who a picture book speaks of with honorifics (할머니가 가셨어요).
ELDERS = ("할머니", "할아버지", "선생님", "임금님", "어르신", "원장님", "할미", "증조할머니")


@dataclass(frozen=True)
class Clause:
    """One hint as a clause: what the parent typed before the final predicate, and that predicate."""

    head: str  # the text before the predicate's stem, as typed (spacing kept)
    stem: tuple[Morph, ...]  # the final predicate stem, with an attached noun when it must be re-joined
    kind: str  # "verb" | "adjective"
    past: bool = False
    mood: str = "plain"  # "plain" | "future" (갈 거예요) | "guess" (떠날지도 몰라요)
    has_subject: bool = False  # the hint names its own subject (비가 오다)
    has_adverb: bool = False  # the hint already has an adverb (깡충깡충 뛰다)
    negated: bool = False  # 울지 않았다, 찾지 못했다: no sound word fits
    verb_at: int = 0  # where the word holding the predicate starts, for an added sound word
    lemma: str = ""  # the stem's dictionary form, for the lexicons (뛰어놀, 기쁘)
    honor: bool = False  # said with 시 (할머니가 가셨어요)

    def _join(self, endings: list[Morph]) -> str:
        stem = list(self.stem)
        if self.honor:
            if len(stem) == 1 and stem[0][0] in _HONORIFIC_STEMS:
                stem = [_HONORIFIC_STEMS[stem[0][0]]]
            elif not stem[-1][0].endswith("시"):
                stem.append(("시", "EP"))
        return self.head + get_kiwi().join(stem + endings)

    def polite_past(self) -> str:
        """뛰었어요; a guess stays a guess (떠날지도 몰라요), a plan stays a plan (갈 거예요)."""
        if self.mood == "guess":
            return self.guess()
        if self.mood == "future":
            return self.future()
        return self._join([("었", "EP"), ("어요", "EF")])

    def polite_present(self) -> str:
        return self._join([("어요", "EF")])

    def future(self) -> str:
        """뛸 거예요."""
        if self.mood == "guess":
            return self.guess()
        return self._join([("ᆯ", "ETM")]) + " 거예요"

    def guess(self) -> str:
        """떠날지도 몰라요."""
        return self._join([("ᆯ지", "EC")]) + "도 몰라요"

    def decided(self) -> str:
        """소풍을 가기로 했어요: a plan told in the past, for a page's main sentence."""
        return self._join([("기", "ETN")]) + "로 했어요"

    def and_(self) -> str:
        """뛰고 (the next clause carries the tense)."""
        return self._join([("고", "EC")])

    def while_(self) -> str:
        """무서우면서도."""
        return self._join([("면서도", "EC")])

    def but_(self) -> str:
        """무서웠지만: two feelings that pull apart, the one that stays told last."""
        return self._join([("었", "EP"), ("지만", "EC")])

    def so(self) -> str:
        """붙어서."""
        return self._join([("어서", "EC")])

    def then_(self) -> str:
        """던지자: what set the next clause off, said first."""
        return self._join([("자", "EC")])

    def on_the_way(self) -> str:
        """쫓아가다가: doing this when the next clause happened."""
        return self._join([("다가", "EC")])

    def because(self) -> str:
        """붙었거든요: a reason told after what it explains, the way picture books do."""
        return self._join([("었", "EP"), ("거든요", "EF")])

    def question(self) -> str:
        """돌아올까요."""
        return self._join([("ᆯ까요", "EF")])

    def likely(self) -> str:
        """올 것 같았어요."""
        return self._join([("ᆯ", "ETM")]) + " 것 같았어요"

    def can_question(self) -> str:
        """찾을 수 있을까요."""
        return self._join([("ᆯ", "ETM")]) + " 수 있을까요"

    def hearsay(self) -> str:
        """돌아온대요 / 좋대요: what the hero was told will happen."""
        return self._join([("ᆫ대요" if self.kind == "verb" else "대요", "EF")])

    def worry(self) -> str:
        """무너지면 어쩌죠."""
        return self._join([("면", "EC")]) + " 어쩌죠"

    def become(self) -> str:
        """따뜻해졌어요: an adjective as a change."""
        return self._join([("어", "EC"), ("지", "VX"), ("었", "EP"), ("어요", "EF")])

    def as_adverb(self) -> str:
        """신나게, 즐겁게."""
        return self._join([("게", "EC")])

    def adnominal(self) -> str:
        """신나는 / 기쁜, for a title."""
        return self._join([("는" if self.kind == "verb" else "ᆫ", "ETM")])

    @property
    def key(self) -> str:
        """The dictionary stem the lexicons are keyed by: 따뜻하, 궁금하, 배고프, 뛰어놀."""
        lemma = self.lemma.replace(" ", "")
        if self.stem and self.stem[-1] in (("하", "XSA"), ("하", "XSV")) and not lemma.endswith("하"):
            return lemma + "하"
        return lemma

    def without_head(self) -> Clause:
        return replace(self, head="", verb_at=0, has_adverb=False, has_subject=False)

    def with_sound(self, word: str) -> Clause:
        """The clause with a sound or motion word (콩콩, 훨훨) just before its verb."""
        at = self.verb_at
        return replace(self, head=self.head[:at] + word + " " + self.head[at:], has_adverb=True, verb_at=at + len(word) + 1)


def clean(text: str) -> str:
    """Whitespace collapsed, trailing punctuation and wrapping quotes dropped."""
    text = " ".join(str(text or "").split())
    return text.strip("\"'“”‘’「」").rstrip(".!?~…, ").strip()


def _is_predicate(tag: str) -> bool:
    return tag.startswith(_PREDICATES)


@lru_cache(maxsize=4096)
def parse(text: str) -> Clause | None:
    """The hint as a clause ending in a predicate, or None when it ends in a noun or anything else.

    Kiwi's best reading comes first; when it finds no predicate at the end (뛰어노는 read as 뛰어 + 노 +
    는), its next readings are tried, so a verb form is not taken for a noun.
    """
    phrase = clean(text)
    if not phrase:
        return None
    best = get_kiwi().tokenize(phrase)
    clause = _parse_tokens(phrase, best)
    words = [t for t in best if t.tag not in _PUNCT]
    if clause is None and words and words[-1].tag.startswith("J"):
        for tokens, _score in get_kiwi().analyze(phrase, top_n=4)[1:]:
            clause = _parse_tokens(phrase, tokens)
            if clause is not None:
                break
    return clause


def _parse_tokens(phrase: str, tokens) -> Clause | None:
    end = len(tokens)
    while end and tokens[end - 1].tag in _PUNCT:
        end -= 1
    tokens = tokens[:end]
    if not tokens:
        return None
    # Walk back over endings to the last predicate stem.
    at = len(tokens) - 1
    past = guess = honor = False
    while at >= 0 and (tokens[at].tag in _ENDINGS or (tokens[at].tag == "JX" and tokens[at].form == "요")):
        if tokens[at].tag == "EP" and tokens[at].form in ("었", "았", "였", "ᆻ"):
            past = True
        if tokens[at].tag == "EP" and tokens[at].form in ("시", "으시"):
            honor = True
        if tokens[at].tag == "EP" and tokens[at].form == "겠":
            guess = True
        at -= 1
    if at < 0:
        return None
    if tokens[at].tag == "XR":  # 심심, 깨끗: a 하다 adjective's root
        clause = _make(phrase, tokens, at + 1, (("하", "XSA"),), "adjective", past, "guess" if guess else "plain",
                       head_end=len(phrase))
        return replace(clause, honor=honor)
    if not _is_predicate(tokens[at].tag):
        return None
    mood = "guess" if guess else "plain"
    # 갈 거예요 / 갈 것이다: a plan; 떠날지도 모른다 / 떠날 것 같다: a guess. The verb that matters is the first one.
    if tokens[at].tag == "VCP" and at >= 2 and tokens[at - 1].form in ("거", "것") and tokens[at - 2].tag == "ETM":
        mood, at, past = "future", at - 3, False
    elif tokens[at].form == "모르" and at >= 2 and tokens[at - 1].form == "도" and tokens[at - 2].form.endswith("지"):
        mood, at, past = "guess", at - 3, False
    elif tokens[at].form == "같" and at >= 2 and tokens[at - 1].form in ("거", "것") and tokens[at - 2].tag == "ETM":
        mood, at, past = "guess", at - 3, False
    if at < 0 or not _is_predicate(tokens[at].tag):
        return None
    stem_tok = tokens[at]
    kind = "adjective" if stem_tok.tag.startswith(("VA", "XSA")) else "verb"
    stem: list[Morph] = [(stem_tok.form, stem_tok.tag)]
    head_end = stem_tok.start
    # A copula or 하다 glued to a noun is re-joined with it (의사였어요, not 의사이었어요).
    if stem_tok.tag.startswith(("VCP", "XSV", "XSA")) and at >= 1 and tokens[at - 1].end == stem_tok.start:
        prev = tokens[at - 1]
        stem.insert(0, (prev.form, prev.tag))
        head_end = prev.start
    return replace(_make(phrase, tokens, at, tuple(stem), kind, past, mood, head_end=head_end), honor=honor)


# A bare noun right before a verb gets the particle the verb asks for (모래성 쌓기 -> 모래성을 쌓았어요).
_MOTION = ("가", "오", "다니", "올라가", "내려가", "들어가", "나가", "돌아가", "돌아오", "도착하", "놀러 가")
_STAY = ("놀", "뛰어놀", "쉬", "살", "자", "머물")
_NOT_OBJECTS = {"오늘", "내일", "어제", "아침", "점심", "저녁", "밤", "낮", "새벽", "주말", "매일", "하루", "종일", "모두",
                "혼자", "같이", "함께", "다", "또", "다시", "많이", "조금", "마음껏", "열심히"}


def _particle_for(noun: str, lemma: str, kind: str) -> str:
    from shared.vocabulary import subject

    if kind == "adjective":
        return subject(noun)
    if lemma.endswith(_MOTION):
        return noun + "에"
    if lemma in _STAY:
        return noun + "에서"
    return obj(noun)


def _make(phrase: str, tokens, at: int, stem: tuple[Morph, ...], kind: str, past: bool, mood: str, head_end: int) -> Clause:
    before = tokens[:at] if at <= len(tokens) else tokens
    chain = at if at < len(tokens) else len(tokens) - 1
    # The word to put a sound word before: the start of the verb chain (놀고 있다 -> 놀고).
    while chain >= 2 and tokens[chain].tag.startswith("VX") and tokens[chain - 1].tag == "EC" and _is_predicate(tokens[chain - 2].tag):
        chain -= 2
    if chain >= 1 and tokens[chain].tag.startswith(("XSV", "XSA", "VCP")) and tokens[chain - 1].end == tokens[chain].start:
        chain -= 1
    word_start = phrase.rfind(" ", 0, tokens[chain].start) + 1
    lemma = phrase[word_start:tokens[chain].start] + tokens[chain].form
    head = phrase[:head_end]
    verb_at = min(word_start, head_end)
    # 모래성 쌓기, 신호등 지키다: the noun before the verb lost its particle; put the right one back.
    if chain >= 1 and tokens[chain - 1].tag in ("NNG", "NNP") and tokens[chain - 1].end < tokens[chain].start \
            and tokens[chain - 1].form not in _NOT_OBJECTS and tokens[chain - 1].end == verb_at - 1 \
            and not tokens[chain].tag.startswith("VCP"):
        noun = tokens[chain - 1]
        fixed = _particle_for(phrase[noun.start:noun.end], lemma, kind)
        head = phrase[:noun.start] + fixed + head[noun.end:]
        verb_at += len(fixed) - (noun.end - noun.start)
    return Clause(
        head=head, stem=stem, kind=kind, past=past, mood=mood,
        has_subject=any(t.tag == "JKS" for t in before),
        has_adverb=any(t.tag in ("MAG", "IC") for t in before),
        negated=any((t.tag.startswith("VX") and t.form in ("않", "못하")) or (t.tag == "MAG" and t.form in ("안", "못"))
                    for t in tokens),
        verb_at=verb_at, lemma=lemma,
    )


def ends_in_noun(text: str) -> str | None:
    """The last noun of a hint that ends in one (당근, 즐거운 산책 -> 산책), else None."""
    phrase = clean(text)
    tokens = [t for t in get_kiwi().tokenize(phrase) if t.tag not in _PUNCT] if phrase else []
    if tokens and tokens[-1].tag.startswith(_NOUNS):
        return tokens[-1].form
    return None


# Nouns that name an activity, with the verb Korean uses for them.
_ACTIVITY_VERBS: dict[str, str] = {
    "노래": "부르다", "춤": "추다", "그림": "그리다", "사진": "찍다", "낮잠": "자다", "잠": "자다", "편지": "쓰다",
    "소풍": "가다", "여행": "가다", "캠핑": "가다", "등산": "가다", "낚시": "가다", "나들이": "가다", "산책": "하다",
    "목욕": "하다", "숙제": "하다", "체조": "하다", "줄넘기": "하다", "달리기": "하다", "게임": "하다",
}
_PLAY = re.compile(r"(놀이|잡기|꼭질|넘기|싸움|찾기|차기|타기|달리기|쌓기)$")


def activity(text: str) -> Clause | None:
    """A noun hint made into an action clause (산책 -> 산책했어요, 노래 -> 노래를 불렀어요), or None."""
    phrase = clean(text)
    noun = ends_in_noun(phrase)
    if noun is None:
        return None
    verb = _ACTIVITY_VERBS.get(noun)
    if verb is None and (_PLAY.search(noun) or _is_verbal_noun(noun)):
        verb = "하다"
    if verb is None:
        return None
    single = " " not in phrase
    if verb == "하다" and single and _is_verbal_noun(noun):
        return parse(phrase + "하다")
    return parse(f"{obj(phrase)} {verb}")


@lru_cache(maxsize=2048)
def _is_verbal_noun(noun: str) -> bool:
    """산책, 청소, 요리: Kiwi reads noun+했어요 as a 하다 verb (XSV); 당근 and 고양이 it does not.

    Only two-syllable nouns (the Sino-Korean verbal nouns): for longer ones Kiwi guesses (모래성했어요).
    """
    if len(noun) != 2:
        return False
    tokens = get_kiwi().tokenize(noun + "했어요")
    return len(tokens) >= 2 and tokens[0].form == noun and tokens[1].tag == "XSV"


@lru_cache(maxsize=2048)
def is_hada_adjective(noun: str) -> bool:
    """행복, 편안, 피곤: noun+했어요 is a 하다 adjective (XSA)."""
    tokens = get_kiwi().tokenize(noun + "했어요")
    return len(tokens) >= 2 and tokens[0].form == noun and tokens[1].tag == "XSA"


def _drop_final(syllable: str, final_index: int) -> str | None:
    code = ord(syllable) - 0xAC00
    if not 0 <= code < 11172 or code % 28 != final_index:
        return None
    return chr(0xAC00 + code - final_index)


def adjective_from_noun(noun: str) -> Clause | None:
    """An emotion noun back to its adjective: 슬픔 -> 슬프다, 외로움 -> 외롭다, 행복 -> 행복하다."""
    noun = clean(noun)
    if not noun or " " in noun:
        return None
    candidates = []
    if noun.endswith("움") and len(noun) >= 2:  # ㅂ-irregular: 외로움 -> 외롭다
        last = noun[-2]
        code = ord(last) - 0xAC00
        if 0 <= code < 11172 and code % 28 == 0:
            candidates.append(noun[:-2] + chr(ord(last) + 17) + "다")  # 17: the final ㅂ
    stripped = _drop_final(noun[-1], 16)  # 16: the final ㅁ (슬픔 -> 슬프)
    if stripped:
        candidates.append(noun[:-1] + stripped + "다")
    for candidate in candidates:
        clause = parse(candidate)
        if clause is not None and clause.kind == "adjective" and clause.head == "":
            return clause
    if is_hada_adjective(noun):
        return parse(noun + "하다")
    return None


def particle_free(text: str) -> bool:
    """True when a noun phrase carries no particle (공원, not 공원에서)."""
    tokens = get_kiwi().tokenize(clean(text))
    return bool(tokens) and not tokens[-1].tag.startswith("J")


def add_i(name: str) -> str:
    """하은 -> 하은이: Korean given names ending in a consonant take 이 in speech and stories."""
    return name + "이" if has_final_consonant(name) and "\uac00" <= name[-1] <= "\ud7a3" else name
