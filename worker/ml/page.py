"""One page of the template writer, in the order a picture book tells it (worker/ml/template.py has the writer).

The reason first when it is an event (주인이 공을 던지자 …), after when it is a state (…거든요); the
hero with company (엄마와 함께), in a place (공원에서) or going there (공원에); who is met; other
actions; what happened, then how the hero feels about it (a body feeling said of the body); what
will happen, asked or anticipated; the closing on the last page. Each slot's wordings come best
first, and `Choices` takes the first or draws one for a rewrite.
"""
from __future__ import annotations

import re
from dataclasses import replace

from shared.vocabulary import obj, subject, topic, with_
from worker.ml import hints
from worker.ml.hints import ELDERS, Clause
from worker.ml.meaning import (
    BODY,
    _SUDDEN,
    _subject_of,
    feeling_words,
    is_motion,
    join_ko,
    named_in_action,
    read_page,
    tokens,
)
from worker.ml.plan import BookPlan, SceneInput
from worker.ml.wording import HOT_DRINKS, INTENSIFIERS, REFRAINS, RICH, WEATHER, Sentences, is_sound, manner_words

_THING_ADJECTIVES = ("맛있", "맛없", "달콤하", "새콤하", "고소하", "예쁘", "아름답", "멋지", "멋있", "크", "작", "높", "넓")
_ACCIDENTS = ("잃", "넘어지", "다치", "떨어뜨리", "미끄러지", "부딪", "놓치", "젖", "깨뜨리")
_HOMES = ("댁", "집", "마을", "나라", "고향")
_MOODS = ("설레", "신나", "기쁘", "즐겁", "행복하", "궁금하", "뿌듯하", "편안하", "설레", "고맙", "반갑")  # 설레는 마음으로
# Verbs whose manner words only a rewrite offers: on their own they say nothing about how.
_RESTRAINED = {"가", "하", "있", "받", "쓰", "지키", "사귀", "만나", "발견하", "오르", "남", "서", "앉", "뺏기", "주", "잡"}
_PLAIN_ADVERBS = ("일찍", "많이", "높이", "다시", "또", "함께", "같이", "늦게", "오래", "멀리")  # a sound word may join these
_INDOORS = ("집", "방", "거실", "부엌", "교실", "침대", "댁", "안")


class PageWriter:
    """One page: its sentences in the order a picture book tells them."""

    def __init__(self, scene: SceneInput, plan: BookPlan, out: Sentences):
        self.scene, self.plan, self.out, self.choices = scene, plan, out, out.choices
        self.style = plan.style
        self.meaning = read_page(scene, plan)
        self.name = str(scene.fields["name"]).strip()
        self.lead = plan.character(self.name)
        self.first_time = not plan.introduced(self.lead.name, scene.index)
        self.who = self.lead.called_first() if self.first_time else self.lead.short
        self.elder = self.name.split()[-1] in ELDERS
        self.sounds = self.style.sounds
        self.felt = feeling_words(self.meaning) | {o.key for o in self.meaning.outcomes}
        self.refrain: str | None = None
        self.inner: set[str] = set()  # the linking words this page has used (그래서 once a page)
        self.merged = ""  # "other" when another's deed was joined to the main sentence (콩이가 돌아오자 톰이 …)
        self.cause_done = False  # the page's first reason is said in or before the main sentence
        self.along_after = ""  # 엄마도 같이 갔어요 (the youngest readers' company, a sentence of its own)
        self.manners: set[str] = set()  # sound and manner words used on this page (씽씽 once)

    def called(self, person: str) -> str:
        character = self.plan.character(person)
        return character.short if self.plan.introduced(person, self.scene.index) else character.called_first()

    def honour(self, clause: Clause) -> Clause:
        subject_ = _subject_of(clause)
        elder = self.elder if subject_ is None else subject_.split()[-1] in ELDERS
        return replace(clause, honor=True) if elder and clause.kind == "verb" else clause

    def page_text(self) -> str:
        meaning = self.meaning
        for person in meaning.people:
            if person.role == "named":
                named_in_action(meaning, self.plan, person.name, self.called(person.name))
        connective = self.choices.pick(self.plan.connective_options.get(self.scene.index)
                                       or [self.plan.connectives.get(self.scene.index, "")])
        if any(word in connective for word in ("밤", "저녁")):  # 그날 밤, …: not 밤에 again
            meaning.places = [p for p in meaning.places if not (p.endswith("에") and p[:-1] in connective)]
        self.main_sentences(connective)
        self.after_main()
        self.outcomes(everyone=False)  # what happened, then how the hero feels about it (not 그래서 after a feeling)
        self.feelings()
        self.outcomes(everyone=True)  # 모두 행복해졌어요: after the hero's own feeling
        self.guesses()
        closing = self.plan.closing_options.get(self.scene.index) or (
            [self.plan.closings[self.scene.index]] if self.scene.index in self.plan.closings else [])
        self.out.add(closing)
        return self.out.text()

    # The first sentences: (the reason, said first when it is an event,) the hero, company, place, action.
    def main_sentences(self, connective: str) -> None:
        meaning, style = self.meaning, self.style
        main = meaning.main
        if main is not None and main.has_subject is False:
            main = self.honour(main)
        cause = meaning.causes[0] if meaning.causes else None
        prefix, own, inner = "", "", ""
        lead_in: list[str] = []
        if cause is not None and cause.clause is not None:
            c = self.honour(cause.clause)
            accident = main is not None and (main.negated or main.lemma.endswith(_ACCIDENTS))
            c = self.weather(c)
            if cause.kind == "event":
                if style.merge_cause:
                    forms = [c.then_(), c.so()] if c.lemma.endswith(_SUDDEN) else [c.so(), c.then_()]
                    prefix = self.choices.pick(forms)  # 주인이 공을 던지자, 비가 와서
                else:
                    lead_in.append(c.polite_past() + ".")  # 톰이 공을 던졌어요. 그러자 콩이가 …
                    inner = "그러자" if c.lemma.endswith(_SUDDEN) else "그래서"
            elif cause.kind == "own":
                if style.merge_cause:
                    own = c.on_the_way() if accident else c.so()
                else:
                    lead_in.append(f"{topic(self.who) if not self.first_time else subject(self.who)} {c.polite_past()}.")
                    inner = "그러다" if accident else "그래서"
            elif not style.merge_cause and self.choices.pick([True, False]):
                lead_in.append(c.polite_past() + ".")  # 날씨가 좋았어요. 그래서 …
                inner = "그래서"
            elif not style.merge_cause:
                pass  # told after: …거든요
            elif self.choices.pick([style.rich, not style.rich]):
                prefix = c.so()  # 날씨가 좋아서 … (older readers; otherwise told after: …거든요)
        elif cause is not None and style.merge_cause:
            prefix = f"{cause.text} 때문에"
        self.cause_done = bool(prefix or own or lead_in) or cause is None
        clause_text = self.main_clause(main, merge_outcome=not prefix and not own and not lead_in)
        who_part = self.who_part(main, connective if not lead_in else inner)
        along = self.along_phrase(main)
        places = " ".join(meaning.places)
        mood = self.inline_feeling(main) if who_part and not prefix and not self.merged else ""
        if who_part and places and not lead_in and not style.refrain and self.choices.pick([False, True]):
            core = [prefix, places, who_part, own, mood, along, clause_text]  # 공원에서 하은이는 …
        else:
            core = [prefix, who_part, own, mood, along, places, clause_text]
        if style.refrain and along and main is not None and not lead_in and not self.merged:
            # The youngest hear who else is there in a sentence of its own, the verb said again: 엄마도 같이 갔어요.
            core = [c for c in core if c != along]
            company = [self.called(p) for p in meaning.along()]
            together = " ".join(f"{p}{'이랑' if _final(p) else '랑'}" for p in company[:-1])
            elders = all(p.split()[-1] in ELDERS for p in company)
            self.along_after = f"{together} {company[-1]}도 같이 {replace(main.without_head(), honor=elders).polite_past()}.".strip()
            along = ""
        if style.refrain and who_part and places.endswith("에서") and main is not None and (along or main.head) \
                and not lead_in:
            # The youngest read one thing a sentence: 하은이는 엄마랑 같이 공원에 갔어요. 나비를 졸졸 쫓아갔어요.
            where = re.sub(r"(에서|에)$", "", places)
            went = "있었어요" if where.endswith(_INDOORS) else "갔어요"
            if self.elder:
                went = "계셨어요" if went == "있었어요" else "가셨어요"
            lead_in = [" ".join(p for p in [prefix, who_part, along, f"{where}에", went] if p) + "."]
            sentence = clause_text + "."
            inner = ""
        else:
            sentence = " ".join(p for p in core if p) + "."
        if lead_in:
            if inner:
                self.inner.add(inner)
            self.out.add(f"{connective} {lead_in[0]}".strip(), pick=False)
            self.out.add(f"{inner} {sentence}".strip(), pick=False)
        else:
            self.out.add(f"{connective} {sentence}".strip(), pick=False)
        if self.along_after:
            self.out.add(self.along_after, pick=False)
        if self.refrain:
            self.out.add([f"{self.refrain}, {self.refrain}!", ""] if not self.choices.first else [f"{self.refrain}, {self.refrain}!"])

    def _adverb(self, clause: Clause, words: list[str] | tuple[str, ...]) -> str:
        """One of `words` for the clause, or "": a rewrite may also pick none."""
        if self.choices.first and clause.key in _RESTRAINED:
            return ""  # 기차역에 갔어요, not 씩씩하게: a manner the hints do not say waits for a rewrite
        return self.choices.pick(words if self.choices.first else [*words, ""])

    def weather(self, clause: Clause) -> Clause:
        """비가 주룩주룩 왔어요: the weather's own sound, for the younger readers."""
        subject_ = _subject_of(clause)
        words = WEATHER.get((subject_ or "", clause.lemma), ())
        if not words or self.style.rich or clause.has_adverb or self.sounds <= 0:
            return clause
        word = self._adverb(clause, words)
        if not word:
            return clause
        self.sounds -= 1
        return clause.with_sound(word)

    def who_part(self, main: Clause | None, before: str) -> str:
        if main is not None and (main.head.startswith(self.lead.forms()) or main.has_subject):
            return ""  # the hint names its own subject (하은이가 웃었다, 비가 오다)
        if main is not None and main.stem[-1][1].startswith("VCP"):
            return topic(self.who)  # 지우는 우주인이었어요
        if self.first_time or before.endswith("는") or main is None or self.merged == "other":
            # new to the story, after 하루는, or before -자 and another's deed (콩이가 돌아오자 톰이 …)
            return subject(self.who)
        return topic(self.who)

    def along_phrase(self, main: Clause | None) -> str:
        along = [self.called(p) for p in self.meaning.along()]
        if not along:
            return ""
        together = ", ".join(along[:-1] + [with_(along[-1])])  # 할머니, 엄마와 함께
        if self.style.band == "유아":
            rang = " ".join(f"{p}{'이랑' if _final(p) else '랑'}" for p in along)  # 할머니랑 엄마랑 같이
            options = [f"{rang} 같이", f"{together} 함께"]
        else:
            options = [f"{together} 함께"]
            if len(along) == 1 and main is not None and not is_motion(main):
                options.append(f"{along[0]} 곁에서")
            elif len(along) == 1:
                options.append(f"{together} 나란히")
        if any(self.plan.introduced(p, self.scene.index) for p in self.meaning.along()):
            options = options[self.scene.index % len(options):] + options[: self.scene.index % len(options)]
        return self.choices.pick(options)

    def inline_feeling(self, main: Clause | None) -> str:
        """설레는 마음으로: an older reader's one happy feeling folded into the main sentence."""
        heart = [f for f in self.meaning.feelings if not f.body]
        if not self.style.rich or main is None or self.meaning.planned or main.negated or len(self.meaning.feelings) != 1 \
                or len(heart) != 1 or heart[0].clause.key not in _MOODS or heart[0].clause.head \
                or not self.choices.pick([True, False]):
            return ""
        self.meaning.feelings = []
        return f"{heart[0].clause.adnominal()} 마음으로"

    def main_clause(self, main: Clause | None, merge_outcome: bool = False) -> str:
        meaning = self.meaning
        if main is None:
            return "있었어요"
        if meaning.sky:
            main = _with_sky(main, meaning.sky)
        if meaning.planned:
            return main.decided()
        main = self.manner(main)
        outcomes = [o for o in meaning.outcomes if not _everyone(o)]
        other = _subject_of(outcomes[0]) if len(outcomes) == 1 else None
        other = other is not None and not other.startswith(self.lead.forms()) and not self.lead.name.startswith(other)
        if self.style.merge_cause and merge_outcome and other and not meaning.actions and main.kind == "verb" \
                and not meaning.place_after and self.choices.pick([True, False]):
            # 콩이가 집에 돌아오자 톰이 꼭 안아 줬어요: what happened joined to what the hero did.
            outcome = self.honour(outcomes[0])
            meaning.outcomes = [o for o in meaning.outcomes if o is not outcomes[0]]
            self.merged = "other"
            return f"{main.then_()} {self.out._drop_subject(outcome.polite_past())}"
        actions = list(meaning.actions)
        if self.style.rich and actions and len(actions) <= 2 and main.kind == "verb" and not meaning.place_after:
            self.meaning.actions = []
            joined = [a.and_() for a in actions[:-1]] + [actions[-1].polite_past()]
            return " ".join([main.so() if is_motion(main) else main.and_(), *joined])
        return main.polite_past()

    def manner(self, clause: Clause) -> Clause:
        """A sound or manner word before the verb (콩콩 뛰었어요, 천천히 마셨어요), never one that repeats a feeling."""
        plain_adverbs = all(t.form in _PLAIN_ADVERBS for t in tokens(clause.head) if t.tag == "MAG")
        if (clause.has_adverb and not plain_adverbs) or clause.negated:
            return clause
        if clause.kind != "verb" and clause.lemma != "있":
            if self.choices.first or clause.head:
                return clause
            word = self.choices.pick(["", "무척", "정말"])  # 곰돌이가 무척 졸렸어요
            return clause.with_sound(word) if word else clause
        hot = any(drink in clause.head for drink in HOT_DRINKS)
        words = [w for w in manner_words(clause.key, self.name, self.style.rich, hot)
                 if w not in clause.head and w not in self.manners and not any(w.startswith(f[:2]) for f in self.felt)]
        if self.style.rich:
            words = [w for w in words if not is_sound(w)] + [w for w in words if is_sound(w)]
        if self.sounds <= 0:
            words = [w for w in words if not is_sound(w)]
        if not words:
            return clause
        word = self._adverb(clause, words)
        if not word:
            return clause
        self.manners.add(word)
        if is_sound(word):
            self.sounds -= 1
            if self.style.refrain and self.refrain is None and word in REFRAINS:
                self.refrain = word
        return clause.with_sound(word)

    # After the first sentences: a place of its own, who is met, the reason when it is a state, other actions.
    def after_main(self) -> None:
        meaning, style = self.meaning, self.style
        actions = list(meaning.actions)
        if meaning.place_after:
            place = meaning.place_after
            if actions and not is_motion(actions[0]):
                first = actions[0]
                actions[0] = replace(first, head=f"{place}에서 {first.head}", verb_at=first.verb_at + len(place) + 3)
            elif place.endswith(_HOMES):
                self.out.add([f"{place}에 가는 길이었어요.", f"{place}에 가려던 참이었어요."])
            else:
                self.out.add([f"{place}에 도착했어요.", f"어느새 {place}에 닿았어요."])
        met = [self.called(p) for p in meaning.met()]
        if met:
            together = join_ko(met)
            options = ([f"그곳에서 {obj(together)} 만났어요."] if meaning.places else []) + [f"{obj(together)} 만났어요.",
                                                                                          f"{subject(together)} 다가왔어요."]
            self.out.add(options[1:2] if style.band == "유아" else options)
        causes = meaning.causes[1:] if self.cause_done else meaning.causes
        if causes:
            clauses = [self.honour(c.clause) if c.clause is not None else None for c in causes]
            if all(c is not None for c in clauses):
                self.out.add(" ".join([c.and_() for c in clauses[:-1]] + [clauses[-1].because()]) + ".")
            else:
                self.out.add(f"{join_ko([hints.clean(c.text) for c in causes])} 때문이었어요.")
        actions = [self.manner(self.honour(a)) for a in actions]
        size = max(style.join_actions, 1)
        for start in range(0, len(actions), size):
            group = actions[start : start + size]
            self.out.add(" ".join([c.and_() for c in group[:-1]] + [group[-1].polite_past()]) + ".")

    def feelings(self) -> None:
        """Body feelings said of the body; heart feelings of the hero, hard ones before the ones that stay (-지만)."""
        style = self.style
        body = [f for f in self.meaning.feelings if f.body]
        heart = [f for f in self.meaning.feelings if not f.body][:3]
        for feeling in body:
            options = [f"{words}." for words in BODY[feeling.body]]
            self.out.add(options[1:] + options[:1] if style.rich else options)
        if not heart:
            return
        if len({f.polarity for f in heart if f.polarity}) > 1:
            heart = [f for f in heart if f.polarity < 0] + [f for f in heart if f.polarity >= 0]
        parts = []
        for here, after in zip(heart, heart[1:]):
            parts.append(here.clause.but_() if here.polarity * after.polarity < 0 else here.clause.and_())
        last = replace(heart[-1].clause, honor=True) if self.elder else heart[-1].clause
        parts.append(last.polite_past())
        said = " ".join(parts)
        first = heart[0].clause
        if len(heart) == 1 and first.key == "설레" and not first.head and self.sounds > 0 and not style.rich:
            self.sounds -= 1
            self.out.add(["가슴이 두근두근 설렜어요.", f"{topic(self.who)} 마음이 설렜어요."])
            return
        if all(f.clause.lemma.startswith(_THING_ADJECTIVES) for f in heart):
            self.out.add([f"{word} {said}." for word in INTENSIFIERS])
            return
        if any(f.clause.has_subject or f.clause.head for f in heart[:1]):
            self.out.add([f"{topic(self.who)} {said}.", f"{said}.", *(f"{word} {said}." for word in INTENSIFIERS[:2])])
            return
        intensified = [f"{word} {said}." for word in INTENSIFIERS]
        hero = [f"{topic(self.who)} {said}."] if self.out.may_name() else []
        rich = list(RICH.get(first.key, ())) if len(heart) == 1 and style.rich else []
        rich = [f"{r}." for r in rich]
        if style.rich:
            self.out.add(rich + hero + intensified)
        else:
            self.out.add(hero + intensified)

    def outcomes(self, everyone: bool) -> None:
        for position, outcome in enumerate(self.meaning.outcomes):
            if _everyone(outcome) != everyone:
                continue
            outcome = self.honour(outcome)
            subject_ = _subject_of(outcome)
            if position and not everyone:
                words = ["그리고"]
            elif everyone:
                words = ["", "그러자"]  # 모두 웃었어요: no reason to claim
            elif subject_ and not subject_.startswith(self.lead.forms()) and not self.lead.name.startswith(subject_):
                words = ["그러자", "그랬더니"]
            else:
                words = ["그래서", "그리고"] if self.style.band != "초등 고학년" else ["그래서", "그 덕분에"]
            words = [w for w in words if w not in self.inner] or ["그리고"]
            if self.out.add([f"{word} {outcome.polite_past()}.".strip() for word in words]):
                self.inner.update(w for w in words if self.out.sentences[-1].startswith(w) and w)

    def guesses(self) -> None:
        """What will happen, asked or anticipated (…돌아올까요?, …면 어쩌죠?, …하기로 했어요), not forecast flat."""
        for guess in self.meaning.guesses:
            c = guess.clause
            if guess.kind == "noun":
                self.out.add([f"이제 {obj(guess.text)} 볼 수 있을까요?", f"곧 {obj(guess.text)} 만날 수 있을까요?"])
                continue
            c = self.honour(replace(c, mood="plain"))
            if guess.kind == "return":
                soon = any(word in c.head for word in ("곧", "내일", "이따", "금방", "오늘"))
                asked = _when(c).question() + "?"
                told = c.hearsay() + "."
                self.out.add([told, asked] if soon else [asked, c.question() + "?"])
            elif guess.kind == "worry":
                head = re.sub(r"^(아마도|아마|혹시|어쩌면)\s*", "", c.head)
                c = replace(c, head=head, verb_at=max(c.verb_at - (len(c.head) - len(head)), 0))
                if not c.has_subject:
                    c = replace(c, head=f"{subject(self.lead.short)} {c.head}", verb_at=c.verb_at + len(subject(self.lead.short)) + 1)
                self.out.add([c.worry() + "?", c.guess() + "."])
            elif guess.kind == "plan":
                self.out.add([c.decided() + ".", c.can_question() + "?"])
            elif guess.kind == "guess":
                self.out.add([c.likely() + ".", c.question() + "?"])
            else:
                self.out.add([c.question() + "?", c.guess() + "."])


def _everyone(clause: Clause) -> bool:
    return re.match(r"(모두|다 함께|다같이|모두들)(\s|$)", clause.head) is not None


def _when(clause: Clause) -> Clause:
    """톰이 찾으러 오다 -> 톰은 언제 찾으러 올까요: the one awaited as the topic, 언제 before what they do."""
    found = tokens(clause.head)
    for token in found:
        if token.tag == "JKS":
            noun = clause.head[: token.start]
            rest = clause.head[token.end:].lstrip()
            head = f"{topic(noun.strip())} 언제 {rest}"
            return replace(clause, head=head, verb_at=len(head) - len(rest) + clause.verb_at - (len(clause.head) - len(rest)))
    return clause.with_sound("언제")


def _final(word: str) -> bool:
    from shared.vocabulary import has_final_consonant

    return has_final_consonant(word)


def _with_sky(clause: Clause, sky: str) -> Clause:
    """별을 봤어요 with 밤하늘 -> 밤하늘의 별을 봤어요: the sky is where what is seen is, not where the seeing is."""
    found = tokens(clause.head)
    for at, token in enumerate(found):
        if token.tag == "JKO":
            start = at
            while start > 0 and found[start - 1].tag.startswith(("NN", "XSN")) and found[start - 1].end == found[start].start:
                start -= 1
            begin = found[start].start if start < at else token.start
            head = clause.head[:begin] + f"{sky}의 " + clause.head[begin:]
            return replace(clause, head=head, verb_at=clause.verb_at + len(sky) + 2)
    return clause
