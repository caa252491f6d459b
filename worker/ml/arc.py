"""The arc of a book: each page's opening words, chosen for a reason, and a closing for the last page.

A connecting word says how a page follows the one before, so it is chosen from what the pages
say (worker/ml/meaning.py), never from a list by turn:
- the first page opens a story (어느 날, 어느 맑은 날 when nothing says rain or night, 어느 날 밤);
- a middle page is later (조금 뒤, 얼마 뒤), or at night when it turns night (그날 밤), or the turn of the
  story when something goes wrong (그러다가 after something the hero was doing, else 그런데), or the
  moment someone new comes in (그때), or elsewhere with another hero (한편), or a repeat of what an
  earlier page did (이번에는);
- the last page: 드디어 only when someone awaited comes back or what was hoped for happens, 마침내
  only after a build-up (a trouble, a plan or a guess on an earlier page) and an outcome, else
  time (얼마 뒤, 어느새, 그날 저녁).
Every page gets the words that fit in order of preference; the first unused one is its own, the
others are what a rewrite may pick. The closing line says how the hero ends the day, in words
the page has not used, and differs from the openings.
"""
from __future__ import annotations

import hashlib
import re

from shared.vocabulary import topic
from worker.ml.meaning import TIME_NOUNS, Page, read_page

_BAD_WEATHER = re.compile(r"비|눈|밤|저녁|흐림|흐린|태풍|천둥|번개|어둠|어두")
_NIGHT = re.compile(r"밤|저녁|새벽|잠들|잠을 자")
_ONGOING = ("놀", "뛰어놀", "걷", "쫓아가", "따라가", "타", "헤엄치", "달리", "산책하", "찾", "구경하", "뛰", "날", "걸어가",
            "여행하", "탐험하", "수영하", "오르", "올라가", "가")
_ACHIEVE = ("완성하", "해내", "성공하", "찾", "도착하", "이기", "만나", "돌아오", "끝내", "받")
_TIME = {
    "유아": ("조금 뒤,", "잠시 후,", "얼마 뒤,"),
    "초등 저학년": ("조금 뒤,", "잠시 후,", "얼마 뒤,", "한참 뒤,"),
    "초등 고학년": ("얼마 뒤,", "잠시 후,", "한참 뒤,", "시간이 조금 흐른 뒤,"),
}
_ENDING_TIME = {"유아": ("어느새", "얼마 뒤,", "조금 뒤,"), "초등 저학년": ("얼마 뒤,", "어느새", "시간이 흘러,"),
                "초등 고학년": ("얼마 뒤,", "어느새", "시간이 흘러,")}
OPENERS = ("어느 날,", "어느 맑은 날,", "햇살이 반짝이는 날,", "어느 날 밤,", "깜깜한 밤,", "별이 뜬 밤,", "하루는", "오늘은", "그날 밤,", "그러다가", "그런데", "그때,",
           "한편,", "이번에는", "드디어", "마침내", "그날 저녁,", "조금 뒤,", "잠시 후,", "얼마 뒤,", "한참 뒤,",
           "시간이 조금 흐른 뒤,", "어느새", "시간이 흘러,")


def _seed(*parts: str) -> int:
    return int(hashlib.md5("|".join(parts).encode("utf-8")).hexdigest(), 16)


def _rotate(pool: tuple[str, ...] | list[str], seed: int) -> list[str]:
    pool = list(pool)
    start = seed % len(pool) if pool else 0
    return pool[start:] + pool[:start]


def first_words(text: str) -> str:
    """The connecting words a page opens with ("어느 맑은 날," or "그때,"), or its first word."""
    for opener in sorted(OPENERS, key=len, reverse=True):
        if text.startswith(opener):
            return opener
    words = text.split()
    return words[0] if words else ""


def _night(scene) -> bool:
    said = " ".join(str(scene.fields.get(key, "")) for key in ("setting", "i_action"))
    return bool(_NIGHT.search(said))


def _hero(scene) -> str:
    return str(scene.fields.get("name", "")).strip()


def _same(plan, one: str, other: str) -> bool:
    """하은 and 하은이, 강아지 콩이 and 콩이: one character."""
    return one == other or plan.character(one) == plan.character(other)


def opening_options(plan, scene) -> list[str]:
    everything = " ".join(str(v) for v in scene.fields.values())
    if _night(scene):
        return ["어느 날 밤,", "깜깜한 밤,", "별이 뜬 밤,"]
    fair = scene.fields.get("classification") in ("자연탐구", "신체운동_건강") and not _BAD_WEATHER.search(everything)
    seed = _seed(_hero(scene), str(scene.fields.get("i_action", "")), str(scene.index))
    if fair and plan.age != "유아":
        return _rotate(("어느 맑은 날,", "햇살이 반짝이는 날,"), seed) + ["어느 날,", "하루는", "오늘은"]
    return ["어느 날,", "하루는", "오늘은"]


def middle_options(plan, scene, page: Page, before, before_page: Page | None, earlier: list[tuple]) -> list[str]:
    """The words that fit a middle page, best first (see the module docstring)."""
    options: list[str] = []
    same_hero = before is not None and _same(plan, _hero(before), _hero(scene))
    if _night(scene) and not (before is not None and _night(before)):
        options.append("그날 밤,")
    if page.trouble():
        own_reason = any(c.kind == "own" for c in page.causes)  # 갈매기를 쫓아가다가: the page says how it came
        if same_hero and not own_reason and before_page is not None and before_page.main is not None \
                and before_page.main.lemma.endswith(_ONGOING) and not before_page.trouble():
            options.append("그러다가")
        options.append("그런데")
    if page.met() or any(c.kind == "event" for c in page.causes):
        options.append("그때,")
    lemma = page.main.lemma if page.main is not None else None
    if lemma and any(_same(plan, _hero(s), _hero(scene)) and p.main is not None and p.main.lemma == lemma
                     and p.main_text != page.main_text for s, p in earlier):
        options.append("이번에는")
    if before is not None and not same_hero and _hero(scene) not in str(before.fields.get("character", "")) \
            and _hero(before) not in str(scene.fields.get("character", "")):
        options.append("한편,")
    seed = _seed(_hero(scene), str(scene.fields.get("i_action", "")), str(scene.index))
    return options + _rotate(_TIME[plan.age], seed)


def ending_options(plan, scene, page: Page, earlier_pages: list[Page]) -> list[str]:
    options: list[str] = []
    awaited = {name for p in earlier_pages for name in p.away()}
    here = {person.name for person in page.people if person.role in ("along", "named", "met")}
    lemma = page.main.lemma if page.main is not None else ""
    hoped = any(g.clause is not None and lemma and g.clause.lemma == lemma for p in earlier_pages for g in p.guesses)
    if (awaited & here) or (awaited and lemma.endswith(("돌아오", "도착하", "만나"))) or hoped:
        options.append("드디어")
    build_up = any(p.trouble() or p.guesses or p.planned for p in earlier_pages)
    if build_up and (page.outcomes or lemma.endswith(_ACHIEVE)) and not page.trouble():
        options.append("마침내")
    if _night(scene) or "저녁" in " ".join(str(v) for v in scene.fields.values()):
        options.append("그날 저녁," if "밤" not in str(scene.fields.get("setting", "")) else "그날 밤,")
    seed = _seed(_hero(scene), str(scene.fields.get("i_action", "")), "end")
    return options + _rotate(_ENDING_TIME[plan.age], seed)


def closing_options(plan, scene, page: Page) -> list[str]:
    """How the book ends: how the hero ends the day (happy), or a question to the reader (open)."""
    hero = plan.character(_hero(scene)).short
    company = [p.name for p in page.people if p.role in ("along", "named", "met")]
    many = len(company) >= 1 or any("모두" in o.head for o in page.outcomes)
    hard = page.trouble() and not any(f.polarity > 0 for f in page.feelings)
    if hard:
        return {
            "유아": ["내일은 또 무슨 일이 있을까요?", f"{hero}에게 내일은 좋은 일이 있을까요?"],
            "초등 저학년": [f"{hero}에게 내일은 어떤 일이 기다리고 있을까요?", "내일은 또 어떤 일이 기다리고 있을까요?"],
            "초등 고학년": [f"{topic(hero)} 내일 다시 힘을 내 보기로 마음먹었어요.", "내일은 또 어떤 일이 기다리고 있을까요?"],
        }[plan.age]
    options = {
        "유아": [f"{topic(hero)} 오늘이 정말 좋았어요.", "정말 신나는 하루였어요!", "참 즐거운 하루였어요.",
               f"{hero}의 하루가 반짝반짝 빛났어요."],
        "초등 저학년": [f"{hero}에게 잊지 못할 하루였어요.", f"{topic(hero)} 오늘을 오래오래 기억할 거예요.",
                    "참 즐거운 하루였어요.", f"{topic(hero)} 오늘 일을 일기장에 꼭 적어 두기로 했어요."],
        "초등 고학년": [f"{topic(hero)} 오늘 있었던 일을 오래도록 잊지 못할 거예요.",
                    f"{hero}에게 오늘은 특별한 하루로 마음속에 남았어요.", f"그렇게 {hero}의 하루가 천천히 저물어 갔어요."],
    }[plan.age]
    # Each book its own first choice (seeded by its hero and last page), so books made one after
    # another do not all end alike; the same hints still end the same way.
    options = _rotate(options, _seed(hero, str(scene.fields.get("i_action", "")), "close"))
    if many:
        options.insert(1, "모두의 얼굴에 웃음꽃이 활짝 피었어요.")
    felt = {f.clause.lemma.replace(" ", "") for f in page.feelings}
    return [o for o in options if not any(word in o for word in _feeling_forms(felt))] or options


def _feeling_forms(lemmas: set[str]) -> set[str]:
    forms = {"좋": ("좋았", "좋은"), "신나": ("신나는", "신났"), "즐겁": ("즐거운", "즐거웠"), "행복하": ("행복한", "행복했")}
    return {form for lemma in lemmas for key, words in forms.items() if lemma.startswith(key) for form in words}


def plan_arc(plan, ordered: list, written: dict[int, str], whole: list | None = None) -> None:
    """Fill plan.connective_options / connectives and closing_options / closings for the pages being written.

    `whole` is every page whose hints are known (the pages being written and, for a page written
    alone, the others), so a page's words follow from the page before it either way.
    """
    whole = whole or ordered
    pages = {scene.index: read_page(scene, plan) for scene in whole}
    by_index = {scene.index: scene for scene in whole}
    own = {scene.index for scene in ordered}
    used = {first_words(text) for index, text in written.items() if index not in own}
    for scene in ordered:
        beat = plan.beat(scene.index)
        earlier = [s for s in whole if s.index < scene.index]
        if beat in ("beginning", "whole"):
            options = opening_options(plan, scene)
        elif beat == "end":
            options = ending_options(plan, scene, pages[scene.index],
                                     [pages[s.index] for s in earlier if _same(plan, _hero(s), _hero(scene))
                                      or _hero(scene) in str(s.fields.get("character", ""))])
        else:
            before = by_index.get(scene.index - 1)
            options = middle_options(plan, scene, pages[scene.index], before, pages.get(scene.index - 1),
                                     [(s, pages[s.index]) for s in earlier])
        fresh = [o for o in dict.fromkeys(options) if o not in used]
        plan.connective_options[scene.index] = fresh or list(dict.fromkeys(options))
        plan.connectives[scene.index] = plan.connective_options[scene.index][0]
        used.add(plan.connectives[scene.index])
        if beat in ("end", "whole"):
            plan.closing_options[scene.index] = closing_options(plan, scene, pages[scene.index])
            plan.closings[scene.index] = plan.closing_options[scene.index][0]


__all__ = ["OPENERS", "TIME_NOUNS", "first_words", "plan_arc"]
