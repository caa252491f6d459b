"""A spoken hint's transcript -> scene hints the parent confirms: who, what they do, where, how they feel, with whom.

"민호가 공원에서 자전거를 탔어요" gives {name: 민호, setting: 공원, i_action: 자전거를 타요}. Offline, with
Kiwi: the first subject (before 이/가, 은/는) is the hero (a name said with the friendly 이, 민준이가,
loses it), a noun before 에서/에 is the place (not a time: 아침에), a noun before 와/과/하고/랑 (with
같이/함께 or not) is who is with them, a predicate that names a feeling (신났어요, 무서웠어, 행복했어요)
is the feeling as the form's examples write it (신남, 무서움, 행복), and each other clause is an action:
what is left of it once the hero, place, company and time are taken out, in the form's present
tense (worker/ml/hints.py conjugates: 탔어요 -> 타요). The first action is `i_action`, the rest `action`.

Where an OpenAI-compatible server suggests keywords (TALES_SUGGESTER, as worker/ml/keywords.py
chooses), its chat model reads the transcript instead; any failure falls back to the offline
reading, since these are suggestions a parent checks. Either way, a hint with a word the
child-safety list refuses (shared/safety.py) is left out, as a typed one would be refused.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from shared.config import Settings
from shared.safety import find_unsafe
from shared.vocabulary import has_final_consonant
from worker.ml.hints import parse
from worker.ml.kiwi import get_kiwi

log = logging.getLogger(__name__)

KEYS = ("name", "i_action", "setting", "feeling", "character", "action")
# As the scene form's fields allow (web/schemas.py: required 100 characters, optional 300).
MAX_LENGTH = {"name": 100, "i_action": 100}
OPTIONAL_MAX = 300

_NOUNS = ("NNG", "NNP", "NNB", "NR", "SN", "SL", "XSN", "XPN", "NP")
_PLACE_PARTICLES = ("에서", "에")
_COMPANY_PARTICLES = ("와", "과", "하고", "랑", "이랑")
_TOGETHER = ("같이", "함께")
_TIME_WORDS = {"오늘", "어제", "내일", "아침", "점심", "저녁", "밤", "낮", "새벽", "주말", "방금", "아까", "그날", "지난번",
               "요즘", "지금", "이번", "다음", "작년", "올해", "봄", "여름", "가을", "겨울", "생일", "때"}
# Connective endings a clause ends with; 러 (놀러 가다), 게 (신나게) and 지 (가지 않다) stay inside a clause.
_CLAUSE_ENDS = ("고", "어서", "아서", "서", "는데", "은데", "ㄴ데", "면서", "으면서", "다가", "지만", "니까", "으니까", "어", "아")
# Feelings as the form writes them (예: 기쁨, 설렘): predicate stems, and nouns said with 하다.
_FEELING_STEMS = {
    "기쁘": "기쁨", "신나": "신남", "무섭": "무서움", "슬프": "슬픔", "즐겁": "즐거움", "재미있": "재미", "행복하": "행복",
    "설레": "설렘", "놀라": "놀람", "화나": "화남", "외롭": "외로움", "반갑": "반가움", "궁금하": "궁금함",
    "졸리": "졸림", "피곤하": "피곤함", "아프": "아픔", "좋": "좋음", "부끄럽": "부끄러움", "두렵": "두려움",
}
_FEELING_NOUNS = {"행복": "행복", "신기": "신기함", "뿌듯": "뿌듯함", "속상": "속상함", "심심": "심심함", "편안": "편안함",
                  "든든": "든든함", "궁금": "궁금함", "피곤": "피곤함", "사랑": "사랑", "감동": "감동", "짜증": "짜증"}
# A clause that only goes somewhere once its place is taken out (갔어요, 와서, 다녀왔다).
_MOTION = re.compile(r"(갔|가|와|왔|오|다녀왔|다녀와|다녀오)(어요|아요|었어요|어|다|고|서|아서|어서|습니다|요)?")
_SENTENCES = re.compile(r"(?<=[.!?。])\s+|\n+")


def hints_from_transcript(text: str, settings: Settings | None = None) -> dict[str, str]:
    """Scene hints read from a transcript: some of name, i_action, setting, feeling, character, action."""
    text = " ".join((text or "").split())
    if not text:
        return {}
    hints = _offline(text)
    if settings is not None and _use_chat(settings):
        try:
            hints = {**hints, **_fit(_by_chat(text, settings))}  # an unfit answer leaves the offline one
        except Exception as exc:  # a suggestion, not a stage: the offline reading stands
            log.warning("the chat model could not read the spoken hint; kept the offline reading: %s", exc)
    return _fit(hints)


def _use_chat(settings: Settings) -> bool:
    from worker.ml.openai_chat import is_configured

    return settings.TALES_SUGGESTER == "openai" or (settings.TALES_SUGGESTER == "auto" and is_configured(settings))


def _fit(hints: dict[str, Any]) -> dict[str, str]:
    """Only known keys with text, within the form's lengths, and nothing the safety list refuses."""
    fitted: dict[str, str] = {}
    for key in KEYS:
        value = hints.get(key)
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value if item)
        value = " ".join(str(value or "").split()).strip(" .,")
        if value and find_unsafe(value) is None:
            fitted[key] = value[: MAX_LENGTH.get(key, OPTIONAL_MAX)]
    return fitted


def _offline(text: str) -> dict[str, str]:
    found: dict[str, list[str]] = {key: [] for key in KEYS}
    for sentence in filter(None, (part.strip() for part in _SENTENCES.split(text))):
        tokens = get_kiwi().tokenize(sentence)
        for clause in _clauses(tokens):
            _read_clause(sentence, clause, found)
    actions = _unique(found["action"])
    return {
        "name": found["name"][0] if found["name"] else "",
        "i_action": actions[0] if actions else "",
        "action": ", ".join(actions[1:]),
        "setting": ", ".join(_unique(found["setting"])),
        "feeling": ", ".join(_unique(found["feeling"])),
        "character": ", ".join(_unique(c for c in found["character"] if c not in found["name"][:1])),
    }


def _unique(items) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


def _clauses(tokens: list) -> list[list]:
    """The tokens cut after each clause-ending connective (not before an auxiliary: 그리고 있어요, 읽어 줬어요)."""
    clauses: list[list] = [[]]
    for k, token in enumerate(tokens):
        clauses[-1].append(token)
        after = tokens[k + 1] if k + 1 < len(tokens) else None
        if token.tag == "EC" and token.form in _CLAUSE_ENDS and after is not None and not after.tag.startswith("VX"):
            if token.form in ("어", "아") and after.tag.startswith("VV"):
                continue  # 뛰어 갔어요: one action
            clauses.append([])
        elif token.tag in ("SF", "SP") and clauses[-1]:
            clauses.append([])
    return [clause for clause in clauses if any(_is_predicate(t.tag) for t in clause)]


def _is_predicate(tag: str) -> bool:
    return tag.startswith(("VV", "VA", "VX", "VCP", "XSV", "XSA"))


def _read_clause(sentence: str, clause: list, found: dict[str, list[str]]) -> None:
    removed: list[tuple[int, int]] = []  # character spans of the sentence taken out of the action
    k = 0
    while k < len(clause):
        token = clause[k]
        if token.tag not in _NOUNS:
            if (token.tag == "MAG" and token.form in _TOGETHER) or token.tag in ("IC", "MAJ"):  # 같이; 음, 그러니까
                removed.append(_span(token, token))
            k += 1
            continue
        end = k
        while end + 1 < len(clause) and clause[end + 1].tag in _NOUNS:
            end += 1
        group = clause[k : end + 1]
        particle = clause[end + 1] if end + 1 < len(clause) else None
        last = particle or group[-1]
        words = _words(sentence, group)
        if all(t.form in _TIME_WORDS or t.tag in ("NR", "SN", "NNB") for t in group):
            removed.append(_span(group[0], particle if particle is not None and particle.tag.startswith("J") else group[-1]))
        elif particle is not None and particle.tag in ("JKS", "JX") and particle.form != "도":
            # The first subject is the hero; a later one stays in its clause (바람이 불어요).
            if not found["name"] and not (len(group) == 1 and group[0].tag == "NP"):
                found["name"].append(_name(group, words))
                removed.append(_span(group[0], last))
            elif len(group) == 1 and group[0].tag == "NP" or _name(group, words) in found["name"]:
                removed.append(_span(group[0], last))
        elif particle is not None and particle.tag == "JKB" and particle.form in _PLACE_PARTICLES:
            found["setting"].append(words)
            removed.append(_span(group[0], last))
        elif particle is not None and particle.tag.startswith("J") and particle.form in _COMPANY_PARTICLES:
            found["character"].append(words)
            removed.append(_span(group[0], last))
        k = end + 1
    feeling = _feeling(clause)
    if feeling:
        found["feeling"].append(feeling)
        return
    action = _action_text(sentence, clause, removed)
    if action and not _MOTION.fullmatch(action):  # 공원에 갔어요: the place says it
        parsed = parse(action)
        found["action"].append(parsed.polite_present() if parsed is not None else action)


def _span(first, last) -> tuple[int, int]:
    return first.start, last.start + last.len


def _words(sentence: str, group: list) -> str:
    text = sentence[group[0].start : group[-1].start + group[-1].len]
    return " ".join(text.split())


def _name(group: list, words: str) -> str:
    """The hero as named: 민준이 -> 민준 (the friendly 이 after a name ending in a consonant)."""
    if len(group) >= 2 and group[-1].tag == "XSN" and group[-1].form == "이" and group[-2].tag == "NNP":
        return words[: -1].strip()
    if len(group) == 1 and group[0].tag == "NNP" and len(words) > 2 and words.endswith("이") and _has_final(words[-2]):
        return words[:-1]
    return words


def _has_final(syllable: str) -> bool:
    """A Hangul syllable with a final consonant (받침); anything else is not one."""
    return "가" <= syllable <= "힣" and has_final_consonant(syllable)


def _feeling(clause: list) -> str | None:
    """The feeling a clause's main predicate names (신났어요 -> 신남), or None when it names an action."""
    predicates = [k for k, t in enumerate(clause) if _is_predicate(t.tag) and not t.tag.startswith("VX")]
    if not predicates:
        return None
    k = predicates[-1]
    token = clause[k]
    if token.tag.startswith("XSA") and k > 0 and clause[k - 1].form in _FEELING_NOUNS:
        return _FEELING_NOUNS[clause[k - 1].form]
    stem = token.form + ("하" if token.tag.startswith("XSA") else "")
    return _FEELING_STEMS.get(token.form) or _FEELING_STEMS.get(stem)


def _action_text(sentence: str, clause: list, removed: list[tuple[int, int]]) -> str:
    """The clause's own words, from its first to the end of its last predicate, less the spans taken out."""
    last = max(k for k, t in enumerate(clause) if _is_predicate(t.tag))
    end = clause[last].start + clause[last].len
    while last + 1 < len(clause) and clause[last + 1].tag.startswith(("E",)):
        last += 1
        end = clause[last].start + clause[last].len
    kept, at = [], clause[0].start
    for start, stop in sorted(removed):
        if start >= at:
            kept.append(sentence[at:start])
        at = max(at, stop)
    kept.append(sentence[at:end])
    return " ".join("".join(kept).split()).strip(" ,")


CHAT_PROMPT = """아이가 사진 한 장을 보며 말한 문장을 받아 적은 글입니다. 그림책의 한 장면 힌트로 나누어 주세요.
JSON으로만 답하세요: {"name": 주인공(이름이나 동물, 말하지 않았으면 ""), "i_action": 주인공이 하는 일(현재형 해요체, 예: "자전거를 타요"),
"setting": 장소(예: "공원"), "feeling": 감정(명사, 예: "기쁨, 설렘"), "character": 함께 있는 인물(쉼표로 여러 개)}
말하지 않은 것은 ""로 두고, 없는 내용을 지어내지 마세요."""


def _by_chat(text: str, settings: Settings) -> dict[str, str]:
    from worker.ml.openai_chat import OpenAIChat

    answer = OpenAIChat(settings).complete_json(
        [{"role": "system", "content": CHAT_PROMPT}, {"role": "user", "content": json.dumps({"transcript": text}, ensure_ascii=False)}],
        max_tokens=300,
    )
    return {key: answer[key] for key in KEYS if isinstance(answer.get(key), (str, list)) and answer.get(key)}
