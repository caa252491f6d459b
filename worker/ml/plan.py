"""The book plan: what every writer knows about the whole book before it writes a page.

- The cast: each protagonist's name as given, and how the story calls them after the first
  mention (하은 -> 하은이, 우주인 아저씨 -> 아저씨, 고양이 첼시 -> 첼시).
- The arc: the ordered pages as beginning, middle and end, and a connecting word for each page,
  chosen by its place and theme and never used twice in one book.
- The title: the user's, the one already generated for this book, or one made from the hints
  and captions (the openai writer asks its model for one instead).
- The reader: the age band's sentence length and vocabulary (`AgeStyle`).

The plan is made from the scenes being written; when only some pages are written again, the
other pages' texts (`SceneInput.neighbours`) tell it the book's length, which connecting words
are taken and who was already introduced. The kot5 writer's trained input is never touched:
`shape` works on what the model wrote (names after the first mention, the connecting word).
"""
from __future__ import annotations

import hashlib
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
    # Written again because the last text could not be used (a safety rewrite): find a new one.
    again: bool = False
    # What seeds the shuffle of the KoT5 input: training rows use their data set id; None is the
    # service's own key (caption + name + i_action).
    seed_key: str | None = None


@dataclass(frozen=True)
class AgeStyle:
    """How the template writer (and the openai writer's brief) write for one reader age band."""

    band: str
    join_actions: int  # actions joined into one sentence with -고 (1: one sentence each)
    merge_cause: bool  # the reason folded into the main sentence (붙어서 날아올랐어요)
    friends_inline: bool  # companions inside the main sentence (동생과 함께 공원에서 …)
    sounds: int  # sound and motion words (의성어·의태어) per page at most
    brief: str  # what the openai writer is told about sentences and words


AGE_STYLES: dict[str, AgeStyle] = {
    "유아": AgeStyle("유아", 1, False, False, 2,
                   "3~5세 유아: 한 문장에 어절 3~5개, 짧고 쉬운 낱말, 의성어·의태어를 자주, 한 장에 2~4문장."),
    "초등 저학년": AgeStyle("초등 저학년", 2, False, False, 1,
                       "초등 1~3학년: 한 문장에 어절 5~8개, 쉬운 낱말, 의성어·의태어를 가끔, 한 장에 3~5문장."),
    "초등 고학년": AgeStyle("초등 고학년", 3, True, True, 1,
                       "초등 4~6학년: 한 문장에 어절 7~12개, 이어진 문장과 풍부한 표현, 한 장에 3~6문장."),
}
DEFAULT_AGE = "초등 저학년"

# Words that start a page. Essay connectives (그다음에는, 마지막으로) are left out on purpose.
_OPENINGS = {"plain": ("어느 날,",), "fair": ("어느 맑은 날,", "햇살이 반짝이는 날,", "어느 날,")}
_MIDDLES = {
    "유아": ("그때,", "조금 뒤,", "이번에는", "그러다가", "얼마 뒤,", "잠시 후,", "또"),
    "초등 저학년": ("그때,", "조금 뒤,", "그러다가", "얼마 뒤,", "이번에는", "잠시 후,", "한참 뒤,", "그러자"),
    "초등 고학년": ("그때,", "그 순간,", "얼마 뒤,", "그러다가", "한참 뒤,", "이번에는", "잠시 후,", "그러자"),
}
_TROUBLE = "그런데"  # a middle page with a reason and a hard feeling: the story's turn
_ENDINGS = {"outcome": ("마침내", "드디어"), "plain": ("어느새", "그렇게")}
_CLOSINGS = {
    "happy": {
        "유아": ("정말 즐거운 하루였어요.", "참 행복한 하루였어요."),
        "초등 저학년": ("정말 즐거운 하루였어요.", "모두의 얼굴에 웃음꽃이 활짝 피었어요.", "참 행복한 하루였어요."),
        "초등 고학년": ("오래오래 기억에 남을 하루였어요.", "모두의 얼굴에 웃음꽃이 활짝 피었어요."),
    },
    "open": {
        "유아": ("내일은 또 무슨 일이 있을까요?",),
        "초등 저학년": ("내일은 또 어떤 일이 기다리고 있을까요?",),
        "초등 고학년": ("내일은 또 어떤 일이 기다리고 있을까요?",),
    },
}
_BAD_WEATHER = re.compile(r"비|눈|밤|저녁|흐림|흐린|태풍|천둥|번개|어둠|어두")
# Kinship and title words: 우주인 아저씨 is 아저씨 after the first mention.
_TITLES = {"아저씨", "아주머니", "아줌마", "할머니", "할아버지", "선생님", "언니", "오빠", "누나", "형", "아빠", "엄마",
           "동생", "공주", "왕자", "박사", "선장", "이모", "삼촌", "고모"}
POSITIVE = {"기쁘", "즐겁", "신나", "행복", "설레", "뿌듯", "편안", "좋", "재미있", "고맙", "반갑", "든든", "따뜻", "흐뭇",
            "상쾌", "자랑스럽", "감사", "사랑", "신기", "궁금", "놀랍", "평화롭", "포근"}
NEGATIVE = {"슬프", "무섭", "두렵", "외롭", "화나", "화가", "속상", "아프", "불안", "걱정", "심심", "우울", "서운", "섭섭",
            "억울", "짜증", "답답", "배고프", "피곤", "졸리", "춥", "창피", "부끄럽", "긴장", "미안", "겁", "괴롭"}
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


def polarity(words: str) -> int:
    """+1 for a happy feeling, -1 for a hard one, 0 when unknown (화가 나다 is hard, 신나다 happy)."""
    compact = words.replace(" ", "")
    if any(word in compact for word in NEGATIVE):
        return -1
    if any(word in compact for word in POSITIVE):
        return 1
    return 0


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
    """토끼, 로켓, 선생님, 친구들: common nouns in Kiwi's dictionary (하은 and 첼시 are not)."""
    tokens = get_kiwi().tokenize(word)
    return bool(tokens) and tokens[0].tag in ("NNG", "NNB", "NP") and all(t.tag in ("NNG", "NNB", "NP", "XSN") for t in tokens)


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
            "cast": [{"name": c.name, "after_first_mention": c.short} for c in self.cast.values()],
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
    total = max([*own, *written, 1])
    band = age if age in AGE_STYLES else DEFAULT_AGE
    style = AGE_STYLES[band]
    ordered = sorted(scenes, key=lambda s: s.index)

    cast: dict[str, Character] = {}
    first_page: dict[str, int] = {}
    for scene in ordered:
        for name in names_in(scene):
            cast.setdefault(name, Character(name, short_name(name)))
            first_page.setdefault(name, scene.index)
    # A page already written that names someone earlier than the pages being written introduced them there.
    for index, text in sorted(written.items()):
        for name, character in cast.items():
            if index < first_page[name] and any(form in text for form in character.forms()):
                first_page[name] = index

    plan = BookPlan(total=total, title=title or derive_title(ordered, cast), title_is_new=not title, age=band,
                    style=style, cast=cast, first_page=first_page)
    used = {_first_words(text) for text in written.values()}
    for scene in ordered:
        plan.connectives[scene.index] = _connective(plan, scene, used)
        used.add(plan.connectives[scene.index])
        if plan.beat(scene.index) in ("end", "whole"):
            plan.closings[scene.index] = _closing(plan, scene)
    return plan


def _seed(*parts: str) -> int:
    return int(hashlib.md5("|".join(parts).encode("utf-8")).hexdigest(), 16)


def _rotate(pool: tuple[str, ...], seed: int) -> list[str]:
    start = seed % len(pool)
    return list(pool[start:] + pool[:start])


def _first_words(text: str) -> str:
    words = text.split()
    return " ".join(words[:2]) if words[:1] and words[0] in ("어느", "햇살이", "그", "잠시", "한참", "얼마", "조금") else (words[0] if words else "")


def _feelings(scene: SceneInput) -> list[int]:
    marks = []
    for item in items(scene.fields.get("feeling")):
        clause = hints.parse(item) or hints.adjective_from_noun(item)
        marks.append(feeling_polarity(clause) if clause else polarity(item))
    return marks


def _connective(plan: BookPlan, scene: SceneInput, used: set[str]) -> str:
    beat = plan.beat(scene.index)
    seed = _seed(str(scene.fields.get("name", "")), str(scene.fields.get("i_action", "")), str(scene.index))
    if beat in ("beginning", "whole"):
        everything = " ".join(str(v) for v in scene.fields.values())
        fair = scene.fields.get("classification") in ("자연탐구", "신체운동_건강") and not _BAD_WEATHER.search(everything)
        pool = _OPENINGS["fair" if fair and plan.age != "유아" else "plain"]
    elif beat == "end":
        pool = _ENDINGS["outcome" if scene.fields.get("outcomeResolution") else "plain"]
    else:
        pool = _MIDDLES[plan.age]
        if scene.fields.get("causalRelationship") and -1 in _feelings(scene) and _TROUBLE not in used:
            return _TROUBLE
    for candidate in _rotate(pool, seed):
        if candidate not in used and _first_words(candidate) not in used:
            return candidate
    return _rotate(pool, seed)[0]


def _closing(plan: BookPlan, scene: SceneInput) -> str:
    marks = _feelings(scene)
    mood = "open" if (-1 in marks and 1 not in marks) else "happy"
    if not marks and not scene.fields.get("outcomeResolution"):
        mood = "open"
    pool = _CLOSINGS[mood][plan.age]
    return _rotate(pool, _seed(str(scene.fields.get("i_action", "")), "closing"))[0]


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
        partner = max(others, key=lambda n: (others[n], n in leads, -order.get(n, 99)))
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


_OPENERS = tuple({"옛날", "어느", "그날", "오늘", "이튿날", "다음", "그러던", "한편", "그때", "그러자",
                  *(words.split()[0].rstrip(",") for pool in (*_OPENINGS.values(), *_MIDDLES.values(), *_ENDINGS.values())
                    for words in pool)})


def _starts_with_connective(text: str) -> bool:
    """True when a paragraph already opens with a connecting word (그런데, 어느 날, 마침내)."""
    first = text.split()[0].rstrip(",")
    if text.startswith(("그 순간", "그 뒤", "그 후", "그날")):
        return True
    if (first in _OPENERS and first != "그") or first.startswith(tuple(o for o in _OPENERS if len(o) >= 2)):
        return True
    tokens = [t for t in get_kiwi().tokenize(first) if t.tag not in ("SP", "SF")]
    return bool(tokens) and all(t.tag in ("MAJ", "MAG") for t in tokens)
