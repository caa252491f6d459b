"""TALES_WRITER=template: a rule-based Korean picture-book writer that needs no model weights.

Each page is written from what its hints mean (worker/ml/meaning.py): who is with the hero, who is
met, who is awaited; where things happen (에서) or where the hero goes (에); the reason first when
it is an event (주인이 공을 던지자 …), after when it is a state (…거든요); a feeling of the body
said of the body; what will happen asked or anticipated the way picture books do (…돌아올까요?,
…면 어쩌죠?). The page's opening words and the book's closing come from the arc
(worker/ml/arc.py). The reader's age band sets the sentences (AgeStyle): short ones with sound
words and refrains for 유아, reasons and times joined into longer ones and wider words for 초등 고학년.
No sentence is said twice in a book. A rewrite draws other wordings (worker/ml/wording.py),
never one the page has shown, and offers the ones it did not take as alternatives.
"""
from __future__ import annotations

import re

from shared.reading import hangul_name
from worker.ml.page import PageWriter
from worker.ml.plan import BookPlan, Draft, SceneInput, make_plan
from worker.ml.wording import Choices, Sentences, seed_of, sentence_core, split_sentences

CANDIDATES = 3  # a rewrite's new text and two alternatives beside it
_TRIES = 64


class TemplateWriter:
    """A rule-based Korean writer: works offline, without weights, in finished 해요체."""

    name = "template"

    def write(self, scenes: list, plan: BookPlan | None = None) -> list[str]:
        return self.write_book(scenes, plan).texts

    def write_book(self, scenes: list, plan: BookPlan | None = None) -> Draft:
        plan = plan or make_plan(scenes)
        said: set[str] = set()
        for scene in scenes:
            for index, text in scene.neighbours.items():
                if index not in {s.index for s in scenes}:
                    said.update(sentence_core(s) for s in split_sentences(text))
        texts, alternatives, stale = [], [], []
        for scene in scenes:
            if scene.rewriting:
                found = self.candidates(scene, plan, said)
                if not found:
                    stale.append(scene.index)
                    found = [scene.shown[-1] if scene.shown else self.paragraph(scene, plan, set(said))]
                texts.append(found[0])
                alternatives.append(found[1:])
                said.update(sentence_core(s) for s in split_sentences(found[0]))
            else:
                texts.append(self.paragraph(scene, plan, said))
                alternatives.append([])
        title = _for_reader(plan.title, plan)
        return Draft(texts=texts, title=title, alternatives=alternatives, stale=stale)

    def candidates(self, scene: SceneInput, plan: BookPlan, said: set[str]) -> list[str]:
        """Up to CANDIDATES texts for a page being rewritten, none of them shown before, drawn reproducibly."""
        found: list[str] = []
        shown = {" ".join(text.split()) for text in scene.shown}
        name = str(scene.fields.get("name", ""))
        for attempt in range(_TRIES):
            seed = seed_of(scene.index, scene.rewrites, attempt, name, scene.fields.get("i_action", ""))
            text = self.paragraph(scene, plan, set(said), Choices(seed))
            if text and text not in shown and text not in found:
                found.append(text)
                if len(found) == CANDIDATES:
                    break
        return found

    def paragraph(self, scene: SceneInput, plan: BookPlan, said: set[str] | None = None, choices: Choices | None = None) -> str:
        choices = choices or Choices()
        said = said if said is not None else set()
        write = PageWriter(scene, plan, Sentences(plan.character(str(scene.fields["name"]).strip()).forms(), said, choices))
        return _for_reader(plan.short_names(scene.index, write.page_text()), plan)


def _for_reader(text: str, plan: BookPlan) -> str:
    """For the youngest readers an English name is written in Hangul (Tom -> 톰; the particle after it already fits)."""
    if plan.age != "유아":
        return text
    return re.sub(r"[A-Za-z]+", lambda m: hangul_name(m.group()) or m.group(), text)
