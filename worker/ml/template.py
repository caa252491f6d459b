"""TALES_WRITER=template: a rule-based Korean picture-book writer that needs no model weights.

Each page follows the book plan (worker/ml/plan.py): its connecting word, the protagonist named
in full on the first mention and by the short name after (하은 -> 하은이), mostly left unsaid in
the sentences that follow, the way Korean stories do. Every hint is read with kiwipiepy
(worker/ml/hints.py) whatever its form, and every sentence is finished in 해요체. A hint that
cannot be made into a sentence (당근 as an action) is left out. Nothing is said about "the photo":
the captions are not used in the text.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.safety import is_safe
from shared.vocabulary import obj, subject, topic, with_
from worker.ml import hints
from worker.ml.hints import Clause
from worker.ml.plan import BookPlan, Character, Draft, feeling_polarity, items, make_plan

# Sound and motion words (의성어·의태어) by the verb they go with; the longest match wins.
SOUNDS: dict[str, str] = {
    "뛰어놀": "신나게", "뛰": "콩콩", "달리": "후다닥", "달려가": "후다닥", "걷": "뚜벅뚜벅", "걸어가": "뚜벅뚜벅",
    "날": "훨훨", "날아가": "훨훨", "날아오르": "훨훨", "웃": "까르르", "울": "엉엉", "먹": "냠냠", "마시": "꿀꺽꿀꺽",
    "자": "새근새근", "잠들": "새근새근", "헤엄치": "첨벙첨벙", "수영": "첨벙첨벙", "구르": "데굴데굴", "굴러가": "데굴데굴",
    "춤추": "덩실덩실", "돌": "빙글빙글", "쌓": "차곡차곡", "그리": "쓱쓱", "씻": "뽀득뽀득", "닦": "싹싹", "기어가": "엉금엉금",
    "바라보": "물끄러미", "찾": "두리번두리번", "안": "꼬옥", "두드리": "똑똑", "떨": "덜덜", "반짝이": "반짝반짝",
    "흔들": "살랑살랑", "던지": "휙", "떨어지": "툭", "불": "후후", "박수치": "짝짝짝", "설레": "두근두근", "뛰어가": "후다닥",
}
# Who does it changes the sound: a rabbit hops 깡충깡충, a rocket flies 슝.
_SOUNDS_BY_NAME: dict[tuple[str, str], str] = {
    ("토끼", "뛰"): "깡충깡충", ("개구리", "뛰"): "폴짝폴짝", ("로켓", "날아오르"): "슝", ("비행기", "날"): "슝",
    ("아기", "걷"): "아장아장", ("거북", "걷"): "엉금엉금", ("오리", "걷"): "뒤뚱뒤뚱",
}
# Adjectives about things, not feelings: said without the protagonist as subject (정말 맛있었어요).
_THING_ADJECTIVES = ("맛있", "맛없", "달콤하", "새콤하", "고소하", "예쁘", "아름답", "멋지", "멋있", "시원하", "크", "작", "높", "넓")
_TIME_NOUNS = ("밤", "아침", "저녁", "점심", "낮", "오후", "오전", "새벽", "날", "주말", "방학")
_MOTION_LEMMAS = ("가", "오", "도착", "다니", "올라가", "내려가", "들어가", "돌아가", "돌아오", "놀러 가")
_INTENSIFIERS = ("정말", "무척", "아주")
_HOT_DRINKS = ("커피", "차를", "코코아", "국", "수프", "핫초코")


def join_ko(words: list[str]) -> str:
    """A, B, C -> 'A, B와 C'."""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-2] + [with_(words[-2]) + " " + words[-1]])


@dataclass
class _Page:
    """The sentences of one page, and where its protagonist was last named."""

    forms: tuple[str, ...]
    sentences: list[str] = field(default_factory=list)
    named_at: int = -10

    def names(self, text: str) -> bool:
        return any(form in text for form in self.forms)

    def may_name(self) -> bool:
        """Name the protagonist again only after a sentence without it."""
        return len(self.sentences) - self.named_at >= 2

    def add(self, text: str) -> None:
        text = " ".join(text.split())
        if not text or not is_safe(text):
            return
        if self.names(text):
            if not self.may_name():
                text = self._drop_subject(text)
                if self.names(text):
                    return
            else:
                self.named_at = len(self.sentences)
        self.sentences.append(text[0].upper() + text[1:] if text[0].isascii() else text)

    def _drop_subject(self, text: str) -> str:
        """하은이가 넘어졌어요 right after another sentence about 하은이 -> 넘어졌어요."""
        for lead in ("", "그래서 ", "그리고 "):
            for form in sorted(self.forms, key=len, reverse=True):
                for particle in ("이가", "이는", "이도", "은", "는", "이", "가", "도"):
                    start = lead + form + particle + " "
                    if text.startswith(start):
                        return lead + text[len(start):]
        return text

    def text(self) -> str:
        return " ".join(self.sentences)


class TemplateWriter:
    """A rule-based Korean writer: works offline, without weights, in finished 해요체."""

    name = "template"

    def write(self, scenes: list, plan: BookPlan | None = None) -> list[str]:
        return self.write_book(scenes, plan).texts

    def write_book(self, scenes: list, plan: BookPlan | None = None) -> Draft:
        plan = plan or make_plan(scenes)
        return Draft(texts=[self.paragraph(scene, plan) for scene in scenes], title=plan.title)

    def paragraph(self, scene, plan: BookPlan) -> str:
        fields = scene.fields
        name = str(fields["name"]).strip()
        lead = plan.character(name)
        page = _Page(lead.forms())
        seed = sum(map(ord, str(fields.get("i_action", "")))) + scene.index
        sounds = [plan.style.sounds]

        # Companions the action already names (강아지랑 놀았어요) are not said twice.
        friends = [self._called(plan, c, scene.index) for c in items(fields.get("character"))
                   if c != name and is_safe(c) and c not in str(fields.get("i_action", ""))]
        causes = [c for c in items(fields.get("causalRelationship")) if is_safe(c)]
        merged_cause = causes.pop(0) if causes and plan.style.merge_cause else None
        page.add(self._opening(scene, plan, lead, friends if plan.style.friends_inline else [], merged_cause, sounds))
        if friends and not plan.style.friends_inline:
            page.add(f"{join_ko(friends)}도 함께였어요.")
        if causes:
            page.add(self._because(causes))
        for sentence in self._actions(fields.get("action"), plan, name, sounds, page, lead):
            page.add(sentence)
        feeling = self._feeling(items(fields.get("feeling")), page, lead, seed, sounds)
        if feeling:
            page.add(feeling)
        for position, outcome in enumerate(items(fields.get("outcomeResolution"))):
            clause = hints.parse(outcome) or hints.activity(outcome)
            if clause is not None:
                page.add(("그래서 " if position == 0 else "그리고 ") + clause.polite_past() + ".")
        for guess in items(fields.get("prediction")):
            clause = hints.parse(guess) or hints.activity(guess)
            if clause is not None:
                page.add((clause.guess() if plan.age == "초등 고학년" and clause.mood == "plain" and not clause.has_adverb
                          else clause.future()) + ".")
        if scene.index in plan.closings:
            page.add(plan.closings[scene.index])
        return plan.short_names(scene.index, page.text())

    @staticmethod
    def _called(plan: BookPlan, name: str, index: int) -> str:
        character = plan.character(name)
        return character.short if plan.introduced(name, index) else character.called_first()

    def _opening(self, scene, plan: BookPlan, lead: Character, friends: list[str], cause: str | None, sounds: list[int]) -> str:
        """The page's first sentence: connecting word, (reason,) protagonist, (companions,) place, action."""
        fields = scene.fields
        first_time = not plan.introduced(lead.name, scene.index)
        who = lead.called_first() if first_time else lead.short
        clause = hints.parse(fields["i_action"]) or hints.activity(fields["i_action"])
        planned = clause is not None and clause.mood == "future"
        if clause is not None and clause.mood != "plain":
            clause = replace(clause, mood="plain")  # what the page shows happens now, not later
        parts = [plan.connectives.get(scene.index, "")]
        if cause:
            because = hints.parse(cause)
            parts.append(because.so() if because else f"{hints.clean(cause)} 때문에")
        if clause is not None and (clause.head.startswith(lead.forms()) or not is_safe(clause.head)):
            who_part = ""
        elif clause is not None and clause.has_subject:
            who_part = topic(who)
        else:
            who_part = subject(who) if first_time or clause is None else topic(who)
        parts.append(who_part)
        if friends:
            parts.append(f"{', '.join(friends[:-1] + [with_(friends[-1])])} 함께")
        parts.append(self._where(items(fields.get("setting")), clause))
        if clause is None:
            parts.append("있었어요")
        elif planned:
            parts.append(clause.decided())  # 내일 소풍을 갈 거예요 -> 내일 소풍을 가기로 했어요
        else:
            clause = self._sound(clause, lead.name, sounds)
            parts.append(clause.polite_past())
        return " ".join(p for p in parts if p) + "."

    @staticmethod
    def _where(places: list[str], clause: Clause | None) -> str:
        places = [p for p in places if is_safe(p) and (clause is None or (hints.ends_in_noun(p) or p) not in clause.head)]
        if not places:
            return ""
        if len(places) == 1 and not hints.particle_free(places[0]):
            return places[0]  # 공원에서, 바다로: the parent gave the particle
        place = join_ko(places)
        if place.endswith(_TIME_NOUNS) or clause is None or clause.lemma.endswith(_MOTION_LEMMAS):
            return place + "에"
        return place + "에서"

    @staticmethod
    def _sound(clause: Clause, name: str, sounds: list[int]) -> Clause:
        if sounds[0] <= 0 or clause.has_adverb or clause.negated:
            return clause
        for key in sorted(SOUNDS, key=len, reverse=True):
            if clause.lemma.endswith(key) and (len(key) > 1 or clause.lemma == key):
                word = next((w for (who, verb), w in _SOUNDS_BY_NAME.items() if who in name and verb == key), SOUNDS[key])
                if key == "마시" and any(hot in clause.head for hot in _HOT_DRINKS):
                    word = "호로록"
                if word in clause.head:
                    return clause
                sounds[0] -= 1
                return clause.with_sound(word)
        return clause

    @staticmethod
    def _because(causes: list[str]) -> str:
        """The reason, told after what it explains: 엔진에 불이 붙었거든요 / 비 때문이었어요."""
        clauses = [hints.parse(c) for c in causes]
        if all(c is not None for c in clauses):
            return " ".join([c.and_() for c in clauses[:-1]] + [clauses[-1].because()]) + "."
        return f"{join_ko([hints.clean(c) for c in causes])} 때문이었어요."

    def _actions(self, value, plan: BookPlan, name: str, sounds: list[int], page: _Page, lead: Character) -> list[str]:
        clauses = [c for c in (hints.parse(a) or hints.activity(a) for a in items(value)) if c is not None]
        clauses = [self._sound(c, name, sounds) for c in clauses]
        size = max(plan.style.join_actions, 1)
        sentences = []
        for start in range(0, len(clauses), size):
            group = clauses[start : start + size]
            text = " ".join([c.and_() for c in group[:-1]] + [group[-1].polite_past()]) + "."
            sentences.append(text)
        return sentences

    def _feeling(self, words: list[str], page: _Page, lead: Character, seed: int, sounds: list[int]) -> str | None:
        """Feelings joined the way people say them: 기쁘고 설렜어요, 무서우면서도 궁금했어요."""
        clauses: list[Clause] = []
        for word in words:
            clause = hints.parse(word) or hints.adjective_from_noun(word)
            if clause is None and hints.ends_in_noun(word):
                clause = hints.parse(f"{obj(hints.clean(word))} 느끼다")
            if clause is not None and is_safe(word):
                clauses.append(clause)
        if not clauses:
            return None
        clauses = clauses[:3]
        if len(clauses) == 1 and clauses[0].lemma.endswith("설레") and sounds[0] > 0 and not clauses[0].head:
            sounds[0] -= 1
            return "가슴이 두근두근 설렜어요."
        parts = []
        for here, after in zip(clauses, clauses[1:]):
            opposite = feeling_polarity(here) * feeling_polarity(after) < 0
            parts.append(here.while_() if opposite else here.and_())
        parts.append(clauses[-1].polite_past())
        body = " ".join(parts)
        about_things = all(c.lemma.startswith(_THING_ADJECTIVES) for c in clauses)
        has_subject = any(c.has_subject or c.head for c in clauses[:1])
        if not about_things and not has_subject and page.may_name():
            return f"{topic(lead.short)} {body}."
        if has_subject:
            return body + "."
        return f"{_INTENSIFIERS[seed % len(_INTENSIFIERS)]} {body}."
