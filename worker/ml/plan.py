"""The book plan: what every writer knows about the whole book before it writes a page.

- The cast: each protagonist's name as given, and how the story calls them after the first
  mention (하은 -> 하은이, 우주인 아저씨 -> 아저씨, 고양이 첼시 -> 첼시).
- The arc (worker/ml/arc.py): the ordered pages as beginning, middle and end, and each page's
  opening words chosen for a reason (a turn, a later time, someone awaited back), never used twice
  in one book, with the other words that fit for a rewrite; the closing of the last page.
- The title: the user's, the one already generated for this book, or one made from the hints
  and captions (the openai writer asks its model for one instead).
- The reader: the age band's sentence length and vocabulary (`AgeStyle`).

The plan is made from the scenes being written; when only some pages are written again, the
other pages' texts and hints (`SceneInput.neighbours`, `SceneInput.others`) tell it the book's
length, the page before, which connecting words are taken and who was already introduced.
The kot5 writer's trained input is never touched: `shape` works on what the model wrote (names
after the first mention, the connecting word).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from shared.vocabulary import has_final_consonant, obj, subject, topic, with_
from worker.ml import hints
from worker.ml.kiwi import get_kiwi


@dataclass(frozen=True)
class SceneInput:
    """What a writer knows about one scene."""

    index: int
    fields: dict[str, str]
    caption: str | None = None
    caption_lang: str | None = None
    # Paragraphs already written for the other scenes, for writers that keep a story coherent.
    neighbours: dict[int, str] = field(default_factory=dict)
    # The other scenes' hints, so a page written alone knows the page before it (its connecting word).
    others: dict[int, dict[str, str]] = field(default_factory=dict)
    # Written again because the last text could not be used (a safety rewrite): find a new one.
    again: bool = False
    # What seeds the shuffle of the KoT5 input: training rows use their data set id; None is the
    # service's own key (caption + name + i_action).
    seed_key: str | None = None
    # A rewrite ("N쪽 새로 쓰기"): the texts this page has shown or offered, none of which may come
    # back, and how many times it was rewritten (with the page, what seeds the template's wording).
    shown: tuple[str, ...] = ()
    rewrites: int = 0

    @property
    def rewriting(self) -> bool:
        return bool(self.shown) or self.rewrites > 0


@dataclass(frozen=True)
class AgeStyle:
    """How the template writer (and the openai writer's brief) write for one reader age band."""

    band: str
    join_actions: int  # actions joined into one sentence with -고 (1: one sentence each)
    merge_cause: bool  # the reason folded into the main sentence (불이 붙어서 날아올랐어요)
    sounds: int  # sound and motion words (의성어·의태어) per page at most
    refrain: bool  # a sound word said again as a refrain (깡충깡충, 깡충깡충!)
    rich: bool  # the wider words of older readers (호기심이 생겼어요 for 궁금했어요); no baby words (냠냠)
    brief: str  # what the openai writer is told about sentences and words


AGE_STYLES: dict[str, AgeStyle] = {
    "유아": AgeStyle("유아", 1, False, 3, True, False,
                   "3~5세 유아: 한 문장에 어절 3~5개, 짧고 쉬운 낱말, 의성어·의태어와 되풀이를 자주, 한 장에 2~4문장, "
                   "영어 이름은 한글로(Tom -> 톰)."),
    "초등 저학년": AgeStyle("초등 저학년", 2, True, 2, False, False,
                       "초등 1~3학년: 한 문장에 어절 5~8개, 쉬운 낱말, 의성어·의태어를 가끔, 한 장에 3~5문장."),
    "초등 고학년": AgeStyle("초등 고학년", 3, True, 1, False, True,
                       "초등 4~6학년: 한 문장에 어절 7~12개, 까닭과 때로 이어진 문장, 폭넓은 낱말, 아기 말(냠냠) 없이, "
                       "한 장에 3~6문장."),
}
DEFAULT_AGE = "초등 저학년"

POSITIVE = {"기쁘", "즐겁", "신나", "행복", "설레", "뿌듯", "편안", "좋", "재미있", "고맙", "반갑", "든든", "따뜻", "흐뭇",
            "상쾌", "자랑스럽", "감사", "사랑", "신기", "궁금", "놀랍", "평화롭", "포근"}
NEGATIVE = {"슬프", "무섭", "두렵", "외롭", "화나", "화가", "속상", "아프", "불안", "걱정", "심심", "우울", "서운", "섭섭",
            "억울", "짜증", "답답", "배고프", "피곤", "졸리", "춥", "창피", "부끄럽", "긴장", "미안", "겁", "괴롭", "지루", "떨리"}
# Kinship and title words: 우주인 아저씨 is 아저씨 after the first mention.
_TITLES = {"아저씨", "아주머니", "아줌마", "할머니", "할아버지", "선생님", "언니", "오빠", "누나", "형", "아빠", "엄마",
           "동생", "공주", "왕자", "박사", "선장", "이모", "삼촌", "고모"}
_THEME_WORDS = {"자연탐구": "신기한", "사회관계": "다정한", "신체운동_건강": "씩씩한", "예술경험": "알록달록", "의사소통": "재잘재잘"}
_PLACES = {"공원", "바다", "바닷가", "해변", "숲", "산", "강", "들판", "정원", "마당", "거실", "부엌", "학교", "놀이터", "유치원",
           "동물원", "수족관", "박물관", "도서관", "시장", "호수", "계곡", "캠핑장", "농장", "우주", "하늘", "집", "방"}


@dataclass(frozen=True)
class Draft:
    """What a writer gives back for a book: one paragraph per scene asked for, and the book's title."""

    texts: list[str]
    title: str
    sources: list[str] = field(default_factory=list)  # the writer of each page, when they differ
    notes: list[str] = field(default_factory=list)  # for the book's record (Korean, operator detail in parentheses)
    # The writer's other candidates for each page (a rewrite offers them beside the new text).
    alternatives: list[list[str]] = field(default_factory=list)
    # Pages (scene indices) rewritten where the writer had nothing new to give: they keep their text.
    stale: list[int] = field(default_factory=list)

    def others(self, position: int) -> list[str]:
        return list(self.alternatives[position]) if position < len(self.alternatives) else []


def polarity(words: str) -> int:
    """+1 for a happy feeling, -1 for a hard one, 0 when unknown (화가 나다 is hard, 신나다 and 즐겁다 happy)."""
    compact = words.replace(" ", "")
    happy = False
    for word in sorted(POSITIVE, key=len, reverse=True):
        if word in compact:
            happy = True
            compact = compact.replace(word, "·")  # 즐겁 holds 겁 (fear): the happy word is taken out first
    if any(word in compact for word in NEGATIVE):
        return -1
    return 1 if happy else 0


def feeling_polarity(clause) -> int:
    return polarity(clause.head + clause.lemma)


def items(value: str | None) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


@dataclass(frozen=True)
class Character:
    """A protagonist: the name as given and the name the story uses after the first mention."""

    name: str
    short: str

    def forms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.name, self.short)))

    def called_first(self) -> str:
        """The first mention: the name as given, except a given name, which stories say as 하은이 from the start."""
        return self.short if self.short == hints.add_i(self.name) else self.name


def short_name(name: str) -> str:
    """하은 -> 하은이, 우주인 아저씨 -> 아저씨, 고양이 첼시 -> 첼시, 토끼 -> 토끼."""
    words = name.split()
    if "," in name or any(w.endswith(("와", "과", "랑")) for w in words[:-1]):
        return name  # 할머니와 하은: two people, one name
    if len(words) > 1:
        last = words[-1]
        if last in _TITLES:
            return last
        return hints.add_i(last) if not _common_noun(last) else name
    return name if _common_noun(name) else hints.add_i(name)


def _common_noun(word: str) -> bool:
    """토끼, 로켓, 선생님, 친구들: common nouns in Kiwi's dictionary (하은, 첼시, 다은, 예준 are not).

    Kiwi tags a word it does not know as a noun too, with a low score: 다은 and 예준 score below -15,
    the dictionary's 토끼, 기린, 물개 above -14.
    """
    tokens = get_kiwi().analyze(word, top_n=1)[0][0]
    return bool(tokens) and tokens[0].tag in ("NNG", "NNB", "NP") and all(t.tag in ("NNG", "NNB", "NP", "XSN") for t in tokens) \
        and min(t.score for t in tokens) > -15


def names_in(scene: SceneInput) -> list[str]:
    """The scene's protagonist and companions, protagonist first."""
    name = str(scene.fields.get("name", "")).strip()
    return [n for n in dict.fromkeys([name, *items(scene.fields.get("character"))]) if n]


@dataclass
class BookPlan:
    """The plan for one book; see the module docstring."""

    total: int
    title: str
    title_is_new: bool  # True when no title was given or generated before: the openai writer may name it
    age: str
    style: AgeStyle
    cast: dict[str, Character] = field(default_factory=dict)
    first_page: dict[str, int] = field(default_factory=dict)  # name -> the page that introduces it
    connectives: dict[int, str] = field(default_factory=dict)  # page -> its first words
    closings: dict[int, str] = field(default_factory=dict)  # the last page -> its closing line
    # Every connecting word and closing that fits, best first (worker/ml/arc.py): a rewrite picks among them.
    connective_options: dict[int, list[str]] = field(default_factory=dict)
    closing_options: dict[int, list[str]] = field(default_factory=dict)

    def beat(self, index: int) -> str:
        """"beginning", "middle" or "end" ("whole" for a one-page book)."""
        if self.total <= 1:
            return "whole"
        return "beginning" if index == 1 else "end" if index == self.total else "middle"

    def character(self, name: str) -> Character:
        return self.cast.get(name) or Character(name, short_name(name))

    def introduced(self, name: str, index: int) -> bool:
        """True when an earlier page already named this character."""
        return self.first_page.get(name, index) < index

    def brief(self) -> dict:
        """The plan as the openai writer's model reads it."""
        return {
            "title": None if self.title_is_new else self.title,
            "reader": {"age": self.age, "style": self.style.brief},
            "cast": [{"name": c.name, "after_first_mention": c.short} for c in dict.fromkeys(self.cast.values())],
            "arc": {str(i): self.beat(i) for i in range(1, self.total + 1)},
        }

    def short_names(self, index: int, text: str) -> str:
        """Every character named in full only on its first mention in the book; the short name after."""
        for name, character in self.cast.items():
            text = _shorten(text, character, keep_first=not self.introduced(name, index))
        return text

    def shape(self, index: int, text: str) -> str:
        """A model's paragraph fitted to the plan: the page's connecting word, short names after the first mention."""
        text = self.short_names(index, " ".join(text.split()))
        connective = self.connectives.get(index)
        if connective and text and not _starts_with_connective(text):
            text = f"{connective} {text}"
        return text


def make_plan(scenes: list[SceneInput], title: str | None = None, age: str | None = None) -> BookPlan:
    """The plan for writing `scenes` (all of a book, or some pages with the rest in neighbours)."""
    written: dict[int, str] = {}
    for scene in scenes:
        written.update(scene.neighbours)
    own = {scene.index for scene in scenes}
    written = {i: t for i, t in written.items() if i not in own}
    context: dict[int, SceneInput] = {}
    for scene in scenes:
        for index, fields in scene.others.items():
            if index not in own and fields:
                context[index] = SceneInput(index=index, fields=dict(fields))
    total = max([*own, *written, *context, 1])
    band = age if age in AGE_STYLES else DEFAULT_AGE
    style = AGE_STYLES[band]
    ordered = sorted(scenes, key=lambda s: s.index)
    whole = sorted([*ordered, *context.values()], key=lambda s: s.index)

    cast: dict[str, Character] = {}
    first_page: dict[str, int] = {}
    for scene in whole:
        for name in names_in(scene):
            # 콩이 after 강아지 콩이 (or 하은이 after 하은) is the same one, already introduced.
            known = next((other for other, c in cast.items() if name != other and short_name(name) == c.short
                          and name in (c.short, c.name, hints.add_i(c.name))), None)
            if known is not None and name not in cast:
                cast[name], first_page[name] = cast[known], first_page[known]
            cast.setdefault(name, Character(name, short_name(name)))
            first_page.setdefault(name, scene.index)
    # A page already written that names someone earlier than the pages being written introduced them there.
    for index, text in sorted(written.items()):
        for name, character in cast.items():
            if index < first_page[name] and any(form in text for form in character.forms()):
                first_page[name] = index

    plan = BookPlan(total=total, title=title or derive_title(whole, cast), title_is_new=not title, age=band,
                    style=style, cast=cast, first_page=first_page)
    from worker.ml.arc import plan_arc  # the arc reads the pages' meaning, which reads the plan

    plan_arc(plan, ordered, written, whole)
    return plan


def derive_title(scenes: list[SceneInput], cast: dict[str, Character] | None = None) -> str:
    """A title from the hints (and Korean captions): the two leads, a feeling, a place, or the theme."""
    from shared.vocabulary import default_title

    if not scenes:
        return default_title(None)
    cast = cast or {}
    leads = Counter(str(s.fields.get("name", "")).strip() for s in scenes if str(s.fields.get("name", "")).strip())
    if not leads:
        return default_title(None)
    order = {name: position for position, name in enumerate(dict.fromkeys(str(s.fields.get("name", "")).strip() for s in scenes))}
    main = max(leads, key=lambda n: (leads[n], -order[n]))
    named = (cast.get(main) or Character(main, short_name(main))).called_first()
    others = Counter(n for s in scenes for n in names_in(s) if n != main)
    if others and (len(leads) > 1 or max(others.values()) >= 2):
        # The companion the story is about: on the most pages in any hint (할머니를 기다리다, 할머니가
        # 시장에 가셨다, not only the company fields), then a lead of pages of its own (a sibling), the
        # most mentions, the first met.
        told = {n: [len(re.findall(rf"(?<![가-힣]){re.escape(n)}", " ".join(map(str, s.fields.values())))) for s in scenes]
                for n in others}
        partner = max(others, key=lambda n: (sum(1 for c in told[n] if c), n in leads, sum(told[n]), others[n],
                                             -order.get(n, 99)))
        return f"{with_(named)} {(cast.get(partner) or Character(partner, short_name(partner))).called_first()}"
    feelings = [c for s in scenes for item in items(s.fields.get("feeling"))
                if (c := hints.parse(item) or hints.adjective_from_noun(item)) is not None and feeling_polarity(c) > 0]
    if feelings:
        return f"{named}의 {feelings[0].adnominal()} 하루"
    places = [p for s in scenes for p in items(s.fields.get("setting")) if hints.particle_free(p)]
    if not places:
        places = [t.form for s in scenes if s.caption and s.caption_lang == "ko"
                  for t in get_kiwi().tokenize(s.caption) if t.tag == "NNG" and t.form in _PLACES]
    if places:
        return f"{places[0]}에 간 {named}"
    theme = _THEME_WORDS.get(str(scenes[0].fields.get("classification", "")), "특별한")
    return f"{named}의 {theme} 하루"


_PARTICLE_RE = r"(이랑|랑|에게|한테|은|는|이|가|을|를|과|와|의|도|만)?"


def _reparticle(word: str, particle: str) -> str:
    if particle in ("은", "는"):
        return topic(word)
    if particle in ("이", "가"):
        return subject(word)
    if particle in ("을", "를"):
        return obj(word)
    if particle in ("과", "와"):
        return with_(word)
    if particle in ("이랑", "랑"):
        return word + ("이랑" if has_final_consonant(word) else "랑")
    return word + particle


def _shorten(text: str, character: Character, keep_first: bool) -> str:
    """Every mention of the full name after the first (or all, when an earlier page introduced it) -> the short name."""
    if character.short == character.name:
        return text
    given = character.short == hints.add_i(character.name)  # 하은 -> 하은이: "하은이 웃었어요" is 하은 + 이
    seen = [False]

    def swap(match: re.Match) -> str:
        word, particle = match.group(1), match.group(2) or ""
        if word == character.short and (particle or not given):
            seen[0] = True
            return match.group(0)  # already the short name
        if word == character.short:  # 하은이 + no particle: the name with the subject particle
            word, particle = character.name, "이"
        if keep_first and not seen[0]:
            seen[0] = True
            return match.group(0)
        return _reparticle(character.short, particle)

    names = "|".join(re.escape(n) for n in sorted({character.short, character.name}, key=len, reverse=True))
    return re.sub(f"({names})" + _PARTICLE_RE, swap, text)


_OPENERS = ("옛날", "어느", "그날", "오늘", "이튿날", "다음", "그러던", "한편", "그때", "그러자", "그런데", "그러다가", "마침내",
            "드디어", "어느새", "조금", "잠시", "얼마", "한참", "이번에는", "하루는", "햇살이", "시간이")


def _starts_with_connective(text: str) -> bool:
    """True when a paragraph already opens with a connecting word (그런데, 어느 날, 마침내)."""
    first = text.split()[0].rstrip(",")
    if text.startswith(("그 순간", "그 뒤", "그 후", "그날")):
        return True
    if (first in _OPENERS and first != "그") or first.startswith(tuple(o for o in _OPENERS if len(o) >= 2)):
        return True
    tokens = [t for t in get_kiwi().tokenize(first) if t.tag not in ("SP", "SF")]
    return bool(tokens) and all(t.tag in ("MAJ", "MAG") for t in tokens)
