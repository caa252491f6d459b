"""A book's pages from any writer, with the plan in view and every page checked for child safety.

A page being rewritten ("N쪽 새로 쓰기") gets the best of the writer's candidates that the page has
not shown before (worker/ml/rank.py), and the others are offered beside it; when there is none,
the page is named in `Draft.stale` and keeps its text. A page whose text has a word a children's book must not carry (shared/safety.py) is written
once more by the same writer (knowing the other pages, and asked for a new text); if it is
still unsafe, or the second try fails, the template writer's page takes its place. The book's
notes say which pages, in Korean with the operator detail in parentheses.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from shared.safety import find_unsafe, is_safe
from worker.errors import StageError
from worker.ml import rank
from worker.ml.plan import BookPlan, Draft, make_plan
from worker.ml.template import TemplateWriter

OFFERED = 3  # alternatives offered beside a rewritten page at most

log = logging.getLogger(__name__)


def _pages(indices: list[int]) -> str:
    return ", ".join(str(i) for i in indices)


def write_book(writer, scenes: list, plan: BookPlan | None = None) -> Draft:
    """`writer.write_book(scenes, plan)`, with unsafe pages rewritten once or replaced."""
    plan = plan or make_plan(scenes)
    draft = writer.write_book(scenes, plan)
    texts, sources = list(draft.texts), [writer.name] * len(scenes)
    alternatives = [draft.others(i) for i in range(len(scenes))]
    stale = set(draft.stale)
    for i, scene in enumerate(scenes):
        if not scene.rewriting:
            continue
        offered = alternatives[i] if scene.index in stale else [texts[i], *alternatives[i]]
        ranked = rank.choose(offered, scene.fields, scene.shown)
        if ranked:
            texts[i], alternatives[i] = ranked[0], ranked[1 : OFFERED + 1]
            stale.discard(scene.index)
        else:
            texts[i], alternatives[i] = "", []  # nothing new: the page keeps the text it has
            stale.add(scene.index)
    title = draft.title if is_safe(draft.title) else plan.title
    unsafe = [i for i, text in enumerate(texts) if not is_safe(text)]
    if not unsafe:
        return Draft(texts=texts, title=title, sources=sources, alternatives=alternatives, stale=sorted(stale))

    found = {scenes[i].index: find_unsafe(texts[i]) for i in unsafe}
    log.warning("unsafe words in the %s writer's pages %s: %s", writer.name, [scenes[i].index for i in unsafe],
                {i: f.category for i, f in found.items() if f})
    others = {scene.index: text for scene, text in zip(scenes, texts) if is_safe(text)}
    again = [replace(scenes[i], again=True, neighbours={**scenes[i].neighbours, **{k: v for k, v in others.items() if k != scenes[i].index}})
             for i in unsafe]
    try:
        second = writer.write_book(again, plan).texts
    except (StageError, TimeoutError, ConnectionError) as exc:
        log.warning("rewriting the unsafe pages failed: %s", exc)
        second = [""] * len(again)
    rewritten, replaced = [], []
    for i, text in zip(unsafe, second, strict=True):
        if text and is_safe(text):
            texts[i] = text
            rewritten.append(scenes[i].index)
        else:
            texts[i] = TemplateWriter().write_book([scenes[i]], plan).texts[0]
            sources[i] = TemplateWriter.name
            replaced.append(scenes[i].index)
    notes = []
    categories = ", ".join(sorted({f.category for f in found.values() if f}))
    if rewritten:
        notes.append(f"아이 책에 맞지 않는 말이 있어 {_pages(rewritten)}쪽을 다시 썼어요 "
                     f"(unsafe words ({categories}) in the {writer.name} writer's text: page(s) {rewritten} rewritten).")
    if replaced:
        notes.append(f"아이 책에 맞지 않는 말이 있어 {_pages(replaced)}쪽은 규칙 기반 문장으로 바꿨어요 "
                     f"(unsafe words ({categories}) in the {writer.name} writer's text twice: page(s) {replaced} "
                     "replaced by the template writer).")
    return Draft(texts=texts, title=title, sources=sources, notes=notes, alternatives=alternatives, stale=sorted(stale))
