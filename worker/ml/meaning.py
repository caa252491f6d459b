"""What each hint of a page means, read before a word is written (the template writer's first step).

- `character`: who is with the hero (along), who the hero meets (met: someone new to the book,
  met on a later page), who is away and awaited (away: a reason or guess of the page says they
  left or will come back), or who a hint already names (named: not said again);
- `setting`: where the action happens (공원에서) or where the hero goes (공원에), chosen from the
  verb's morphemes (kiwipiepy); a place beside a destination the action already has is not
  stacked on it (기차역에 할머니 댁에); a place in the sky is said of what is seen (밤하늘의 별);
- `feeling`: a feeling of the body (배가 고팠어요, 몸이 따뜻해졌어요) or of the heart (하은이는 기뻤어요);
- `causalRelationship`: the reason, an event (said first: 주인이 공을 던지자) or a state (-어서, -거든요);
- `outcomeResolution`: what happened; `prediction`: what will (a return awaited, a worry, a plan).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from shared.safety import is_safe
from shared.vocabulary import obj
from worker.ml import hints
from worker.ml.hints import ELDERS, Clause
from worker.ml.kiwi import get_kiwi
from worker.ml.plan import BookPlan, SceneInput, feeling_polarity, items, polarity

MOTION = ("가", "오", "다니", "도착하", "향하", "떠나", "이사하", "출발하")
_STAY = ("있", "없", "살", "남", "앉", "서", "눕", "머물", "숨", "도착하", "모이", "들르")
_SEEING = ("보", "바라보", "세", "구경하", "올려다보", "쳐다보")
_SKY = ("하늘", "밤하늘", "창밖", "우주", "구름")
TIME_NOUNS = ("밤", "아침", "저녁", "점심", "낮", "오후", "오전", "새벽", "주말", "방학", "여름", "겨울", "봄", "가을")
_HOMES = ("댁", "집", "마을", "나라", "고향")
_LEAVE_OR_RETURN = ("떠나", "돌아오", "돌아가", "오", "나가", "출발하", "가")
_AWAITING = ("기다리", "그리워하", "보고 싶", "찾")
# People the hero is with from the start: said as company, not as someone met.
FAMILY = ("엄마", "아빠", "할머니", "할아버지", "동생", "언니", "오빠", "누나", "형", "이모", "삼촌", "고모", "가족", "부모님",
          "어머니", "아버지", "강아지", "고양이", "주인")
# Feelings of the body, and how a picture book says them (about the body, not "하은이는 따뜻했어요").
BODY: dict[str, tuple[str, ...]] = {
    "따뜻하": ("몸도 마음도 따뜻해졌어요", "몸이 사르르 따뜻해졌어요"),
    "포근하": ("몸이 포근했어요", "포근하고 편안했어요"),
    "춥": ("몸이 덜덜 떨릴 만큼 추웠어요", "추워서 몸이 꽁꽁 얼 것 같았어요"),
    "덥": ("땀이 송골송골 날 만큼 더웠어요", "더워서 몸이 후끈 달아올랐어요"),
    "시원하": ("몸이 시원해졌어요", "바람에 몸이 시원해졌어요"),
    "배고프": ("배고파서 꼬르륵 소리가 났어요", "몹시 배가 고팠어요"),
    "배부르": ("배가 불러서 볼록해졌어요", "든든하게 배가 불렀어요"),
    "졸리": ("졸려서 눈이 스르르 감겼어요", "졸려서 꾸벅꾸벅 고개를 떨궜어요"),
    "피곤하": ("몸이 나른해질 만큼 피곤했어요", "피곤해서 몸이 축 늘어졌어요"),
    "목마르": ("목이 바싹 말랐어요", "목이 말라서 침을 꿀꺽 삼켰어요"),
    "간지럽": ("간질간질 간지러웠어요", "몸이 간지러웠어요"),
}
_ACCIDENTS = ("잃", "넘어지", "다치", "떨어뜨리", "미끄러지", "부딪", "놓치", "젖", "깨뜨리", "길을 잃")
_SUDDEN = ("던지", "부르", "울리", "열리", "터지", "떨어지", "나타나", "외치", "치", "켜", "두드리", "소리치", "짖")
_WORRIES = ("무너뜨리", "무너지", "망가지", "다치", "떨어지", "잃", "부서지", "깨지", "울", "늦", "아프", "사라지", "넘어지")


@dataclass(frozen=True)
class Person:
    name: str
    role: str  # "along" | "met" | "away" | "named"


@dataclass(frozen=True)
class Feeling:
    clause: Clause
    body: str | None  # the BODY key when it is a feeling of the body
    polarity: int


@dataclass(frozen=True)
class Cause:
    clause: Clause | None
    text: str
    kind: str  # "event" (someone else did it), "own" (the hero did it), "state", "noun"


@dataclass(frozen=True)
class Guess:
    clause: Clause | None
    text: str
    kind: str  # "return" | "worry" | "plan" | "guess" | "other" | "noun"


@dataclass
class Page:
    """One page's hints, each read for what it means."""

    main: Clause | None
    main_text: str
    places: list[str] = field(default_factory=list)  # rendered with their particle: 공원에서, 밤에
    place_after: str | None = None  # a place that goes with an action or a sentence of its own
    sky: str | None = None  # 밤하늘: said of what is seen (밤하늘의 별)
    people: list[Person] = field(default_factory=list)
    actions: list[Clause] = field(default_factory=list)
    feelings: list[Feeling] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)
    outcomes: list[Clause] = field(default_factory=list)
    guesses: list[Guess] = field(default_factory=list)
    planned: bool = False  # the main hint is a plan (내일 소풍을 갈 거예요)

    def along(self) -> list[str]:
        return [p.name for p in self.people if p.role == "along"]

    def met(self) -> list[str]:
        return [p.name for p in self.people if p.role == "met"]

    def away(self) -> list[str]:
        return [p.name for p in self.people if p.role == "away"]

    def trouble(self) -> bool:
        """A hard moment: a hard feeling, an accident, or something the hero could not do."""
        could_not = self.main is not None and self.main.negated and "못" in self.main_text
        return any(f.polarity < 0 and not f.body for f in self.feelings) or could_not or (
            self.main is not None and self.main.lemma.endswith(_ACCIDENTS))


@lru_cache(maxsize=4096)
def tokens(text: str):
    return tuple(get_kiwi().tokenize(text))


def _name_forms(plan: BookPlan, name: str) -> tuple[str, ...]:
    character = plan.character(name)
    words = name.split()
    return tuple(dict.fromkeys([name, character.short, *([words[0]] if len(words) > 1 and words[0] not in ELDERS else [])]))


def _mentions(text: str, forms: tuple[str, ...]) -> bool:
    return any(re.search(re.escape(form) + r"(?![가-힣]{2})", text) for form in forms if form)


def _subject_of(clause: Clause) -> str | None:
    """The noun the clause names as its subject (할머니가 시장에 가셨다 -> 할머니), or None."""
    found = tokens(clause.head)
    for at, token in enumerate(found):
        if token.tag == "JKS":
            start = at
            while start > 0 and found[start - 1].tag.startswith(("NN", "XSN", "SL", "SN", "NP")):
                start -= 1
            return clause.head[found[start].start:token.start].strip() if start < at else None
    return None


def is_motion(clause: Clause) -> bool:
    return clause.lemma.endswith(MOTION) or clause.lemma.endswith("놀러 가")


_OUTINGS = ("소풍", "여행", "캠핑", "산책", "등산", "낚시", "나들이", "구경", "심부름", "놀이", "수영", "견학")


def has_object(clause: Clause) -> bool:
    """나비를 쫓아가다 has one; 소풍을 가다 does not (the outing is how one goes, 숲에 소풍을 가다)."""
    found = tokens(clause.head)
    return any(t.tag == "JKO" and not (at and found[at - 1].form in _OUTINGS) for at, t in enumerate(found))


def has_destination(clause: Clause) -> bool:
    return any(t.tag == "JKB" and t.form in ("에", "로", "으로", "에게", "한테") for t in tokens(clause.head))


def place_phrase(place: str, clause: Clause | None) -> str | None:
    """The place with the particle its verb asks for: 공원에서 (an action there), 공원에 (going there, staying there).

    None when the verb already has a destination (기차역에 가다): the place is not stacked on it.
    """
    if not hints.particle_free(place):
        return place  # 공원에서, 바다로: the parent gave the particle
    if place.endswith(TIME_NOUNS):
        return place + "에"
    if clause is None:
        return place + "에서"
    if is_motion(clause):
        if has_object(clause):
            return place + "에서"  # 공원에서 나비를 쫓아갔어요
        if has_destination(clause):
            return None
        return place + "에"
    if clause.lemma.endswith(_STAY):
        return place + "에"
    return place + "에서"


def _feeling(word: str) -> Feeling | None:
    clause = hints.parse(word) or hints.adjective_from_noun(word)
    if clause is None and hints.ends_in_noun(word):
        clause = hints.parse(f"{obj(hints.clean(word))} 느끼다")
    if clause is None or not is_safe(word):
        return None
    body = clause.key if clause.key in BODY and not clause.head else None
    return Feeling(clause, body, feeling_polarity(clause))


def _cause(text: str, hero_forms: tuple[str, ...]) -> Cause:
    clause = hints.parse(text)
    if clause is None:
        return Cause(None, hints.clean(text), "noun")
    subject = _subject_of(clause)
    if clause.kind == "adjective" or clause.lemma.endswith(("있", "없")):
        return Cause(clause, text, "state")  # 날씨가 좋았다, 배가 고팠다
    if subject and not any(subject.startswith(form) or form.startswith(subject) for form in hero_forms):
        return Cause(clause, text, "event")  # 주인이 공을 던졌다, 엔진에 불이 붙었다, 비가 와서
    return Cause(clause, text, "own")  # 갈매기를 쫓아갔다, 많이 뛰었다


def _is_someone(noun: str) -> bool:
    """A person or an animal (주인, 할머니, Tom, 늑대), not a thing or the weather (비, 날씨, 엔진)."""
    if noun.isascii() or noun.split()[-1] in FAMILY or noun.endswith(ELDERS):
        return True
    last = tokens(noun)[-1] if tokens(noun) else None
    return last is not None and (last.tag == "NNP" or noun.split()[-1] in _ANIMATE)


_ANIMATE = {"친구", "친구들", "아이", "아이들", "늑대", "토끼", "곰", "여우", "사자", "호랑이", "다람쥐", "새", "갈매기", "나비",
            "강아지", "고양이", "오리", "돼지", "병아리", "닭", "소", "말", "원숭이", "코끼리", "기린", "사람들", "모두", "주인",
            "아저씨", "아주머니", "아줌마", "형", "누나", "오빠", "언니", "선생님", "의사", "경찰", "왕자", "공주", "요정", "로봇"}


def _guess(text: str, hero_forms: tuple[str, ...]) -> Guess:
    clause = hints.parse(text) or hints.activity(text)
    if clause is None:
        return Guess(None, hints.clean(text), "noun")
    subject = _subject_of(clause)
    other = bool(subject) and not any(subject.startswith(f) or f.startswith(subject) for f in hero_forms)
    if clause.lemma.endswith(_WORRIES) or clause.negated:
        return Guess(clause, text, "worry")
    if other and _is_someone(subject) and clause.lemma.endswith(("돌아오", "오", "도착하", "찾으러 오", "데리러 오")):
        return Guess(clause, text, "return")
    if clause.mood == "guess" or (other and not _is_someone(subject)):
        return Guess(clause, text, "guess")  # 비가 올 것 같다
    if not other:
        return Guess(clause, text, "plan")  # 내일 또 오다, 다시 찾아보다
    return Guess(clause, text, "other")


def _found(text: str) -> Clause | None:
    """당근 as an action: the hero finds it (당근을 발견했어요), rather than the hint being lost."""
    noun = hints.ends_in_noun(text)
    return hints.parse(f"{obj(hints.clean(text))} 발견하다") if noun and " " not in hints.clean(text) else None


def read_page(scene: SceneInput, plan: BookPlan) -> Page:
    """The page's hints read for what they mean (see the module docstring)."""
    fields = scene.fields
    name = str(fields["name"]).strip()
    hero_forms = _name_forms(plan, name)
    main_text = str(fields.get("i_action", ""))
    main = hints.parse(main_text) or hints.activity(main_text)
    page = Page(main=main, main_text=main_text)
    if main is not None and main.mood == "future":
        page.planned = True
    if main is not None and main.mood != "plain":
        page.main = main = replace(main, mood="plain")  # what the page shows happens now
    if main is None and is_safe(main_text):
        page.main = main = _found(main_text)
    page.actions = [c for c in (hints.parse(a) or hints.activity(a) or _found(a) for a in items(fields.get("action"))
                                if is_safe(a)) if c is not None]
    page.feelings = [f for f in (_feeling(w) for w in items(fields.get("feeling"))) if f is not None]
    page.causes = [_cause(c, hero_forms) for c in items(fields.get("causalRelationship")) if is_safe(c)]
    page.outcomes = [c for c in (hints.parse(o) or hints.activity(o) for o in items(fields.get("outcomeResolution")) if is_safe(o))
                     if c is not None]
    page.guesses = [_guess(g, hero_forms) for g in items(fields.get("prediction")) if is_safe(g)]
    _read_places(page, fields, main)
    _read_people(page, scene, plan, name)
    return page


def _read_places(page: Page, fields: dict, main: Clause | None) -> None:
    said = main.head if main is not None else ""
    bare: list[str] = []
    for place in items(fields.get("setting")):
        if not is_safe(place) or (hints.ends_in_noun(place) or place) in said:
            continue  # 공원에 가다 with 공원: said already
        clean = hints.clean(place)
        if not hints.particle_free(place):
            page.places.append(clean)  # 공원에서: the parent gave the particle
        elif clean.endswith(TIME_NOUNS):
            page.places.insert(0, clean + "에")  # 밤에
        elif main is not None and clean in _SKY and main.lemma.endswith(_SEEING) and has_object(main):
            page.sky = clean  # 밤하늘의 별을 봤어요
        else:
            bare.append(clean)
    if not bare:
        return
    joined = join_ko(bare)
    phrase = place_phrase(joined, main)
    if phrase is None:
        page.place_after = joined
    else:
        page.places.append(phrase)


def join_ko(words: list[str]) -> str:
    """A, B, C -> 'A, B와 C'."""
    from shared.vocabulary import with_

    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-2] + [with_(words[-2]) + " " + words[-1]])


def _read_people(page: Page, scene: SceneInput, plan: BookPlan, name: str) -> None:
    fields = scene.fields
    doing = " ".join([str(fields.get("i_action", "")), str(fields.get("action", ""))])
    told = [c.clause for c in page.causes if c.clause] + [g.clause for g in page.guesses if g.clause] + page.outcomes
    for person in items(fields.get("character")):
        if person == name or not is_safe(person):
            continue
        forms = _name_forms(plan, person)
        leaving = [c for c in told if _mentions(c.head, forms) and c.lemma.endswith(_LEAVE_OR_RETURN)]
        awaited = page.main is not None and page.main.lemma.endswith(_AWAITING) and _mentions(page.main.head, forms)
        if leaving or awaited:
            page.people.append(Person(person, "away"))
        elif _mentions(doing, forms) or any(_mentions(c.head, forms) for c in told) \
                or _generic_in(page.main, person) or _gives_to(page.main):
            page.people.append(Person(person, "named"))
        elif plan.first_page.get(person, scene.index) == scene.index and scene.index > 1 \
                and not any(word in FAMILY for word in person.split()) and not plan.introduced(person, scene.index):
            page.people.append(Person(person, "met"))
        else:
            page.people.append(Person(person, "along"))


_GENERIC_PEOPLE = ("친구들", "친구", "아이들", "아이", "동생", "언니", "오빠", "누나", "형")


def _generic_in(clause: Clause | None, person: str) -> str | None:
    """친구와 다투다 with 민호: the action's 친구 is 민호 (a name, not one of the generic words itself)."""
    if clause is None or any(word in _GENERIC_PEOPLE or word in FAMILY for word in person.split()):
        return None
    return next((g for g in _GENERIC_PEOPLE if re.search(re.escape(g) + r"(?=[와과랑이가을를에도]|\s)", clause.head)), None)


def _gives_to(clause: Clause | None) -> bool:
    """읽어 주다, 안아 주다: done for someone, who is then said with 에게."""
    return clause is not None and clause.stem[-1][0] == "주" and clause.stem[-1][1].startswith("VX") \
        and not any(t.tag == "JKB" and t.form in ("에게", "한테") for t in tokens(clause.head))


def named_in_action(page: Page, plan: BookPlan, person: str, called: str) -> None:
    """고양이를 쓰다듬다 with 고양이 나비: the action names the cat, so it says 고양이 나비를 (나비를 later)."""
    words = person.split()
    if page.main is None:
        return
    generic_person = _generic_in(page.main, person)
    if generic_person and person not in page.main.head:
        match = re.search(re.escape(generic_person) + r"(?=[와과랑이가을를에도]|\s)", page.main.head)
        head = page.main.head[:match.start()] + f"{generic_person} {called}" + page.main.head[match.end():]
        page.main = replace(page.main, head=_reparticle_after(head, match.start() + len(generic_person) + 1 + len(called)),
                            verb_at=page.main.verb_at + len(called) + 1)
        return
    if _gives_to(page.main) and person not in page.main.head and plan.character(person).short not in page.main.head:
        to = f"{called}에게 "
        page.main = replace(page.main, head=to + page.main.head, verb_at=page.main.verb_at + len(to))
        return
    if len(words) < 2:
        return
    generic = words[0]
    if person in page.main.head or plan.character(person).short in page.main.head:
        return
    match = re.search(re.escape(generic) + r"(?=[을를이가와과랑도에]|\s)", page.main.head)
    if match:
        head = page.main.head[:match.start()] + called + page.main.head[match.end():]
        shift = len(called) - len(generic)
        page.main = replace(page.main, head=head, verb_at=page.main.verb_at + shift if page.main.verb_at > match.start() else page.main.verb_at)
        fixed = _reparticle_after(page.main.head, match.start() + len(called))
        page.main = replace(page.main, head=fixed)


def _reparticle_after(text: str, at: int) -> str:
    """The particle right after position `at` made to fit the word before it (나비를, 첼시를)."""
    from shared.vocabulary import has_final_consonant

    pairs = {"을": ("을", "를"), "를": ("을", "를"), "이": ("이", "가"), "가": ("이", "가"), "과": ("과", "와"), "와": ("과", "와")}
    if at < len(text) and text[at] in pairs and (at + 1 == len(text) or text[at + 1] == " "):
        consonant, vowel = pairs[text[at]]
        return text[:at] + (consonant if has_final_consonant(text[:at]) else vowel) + text[at + 1:]
    return text


def feeling_words(page: Page) -> set[str]:
    """The stems of the page's feelings (신나, 기쁘), so no other sentence says the same feeling again."""
    return {f.clause.key for f in page.feelings}


def positive(page: Page) -> bool:
    return any(f.polarity > 0 for f in page.feelings) or (not page.feelings and not page.trouble())


__all__ = ["BODY", "Cause", "Feeling", "Guess", "Page", "Person", "has_destination", "has_object", "is_motion",
           "place_phrase", "polarity", "read_page"]
