"""The template writer's words over the tests' 66 hint sets, per reader age band.

    .venv/bin/python bench/story_words.py            # the table (a minute on 2 cores)
    .venv/bin/python bench/story_words.py --show 3   # and the first N missed hints and repeats per band
    .venv/bin/python bench/story_words.py --rewrites # and two rewrites of every page of the 22 three-page books

Each hint set is written as the first page of a two-page book, then in 22 books of three pages and
11 of six (tests/story_measure.py says what is counted). The last line is
`ratio=<초등 고학년 어절 per sentence / 유아 어절 per sentence>`: how far apart the bands read.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from talesrunner import samples  # noqa: E402
from tests.story_measure import HEADER, books, measure  # noqa: E402
from worker.ml.plan import AGE_STYLES, SceneInput, make_plan  # noqa: E402
from worker.ml.template import TemplateWriter  # noqa: E402


def _s(name: str, i_action: str, classification: str = "사회관계", **extra: str) -> dict[str, str]:
    return {"name": name, "i_action": i_action, "classification": classification, **extra}


# The books of docs/story-before-after.md: the demo, and two families' hints that are not test cases.
SHOWN: dict[str, list[dict[str, str]]] = {
    "데모 책": samples.SCENES,
    "하은이와 할머니": [
        _s("하은", "기차역에 가다", setting="할머니 댁", character="엄마", feeling="설레다"),
        _s("하은", "나비를 쫓아가다", "자연탐구", setting="공원", character="강아지 보리", action="뛰어놀다", feeling="신나다"),
        _s("하은", "고양이를 쓰다듬다", character="고양이 나비, 엄마", feeling="따뜻하다"),
        _s("하은", "할머니를 기다리다", character="할머니", causalRelationship="할머니가 시장에 가셨다",
           prediction="할머니가 곧 돌아오시다", feeling="심심하다"),
        _s("하은", "저녁을 먹다", character="할머니, 엄마", feeling="행복하다", outcomeResolution="모두 웃었다"),
    ],
    "콩이와 Tom": [
        _s("강아지 콩이", "공을 물고 돌아오다", "신체운동_건강", setting="마당", causalRelationship="Tom이 공을 던졌다",
           character="Tom", feeling="신나다"),
        _s("콩이", "바닷가에 가다", "자연탐구", setting="모래사장", action="모래를 파다", feeling="즐겁다"),
        _s("콩이", "길을 잃다", "자연탐구", causalRelationship="갈매기를 쫓아갔다", feeling="무섭다, 외롭다",
           prediction="Tom이 찾으러 오다"),
        _s("콩이", "집에 돌아오다", "사회관계", character="Tom", outcomeResolution="Tom이 콩이를 꼭 안아 주었다", feeling="기쁘다"),
    ],
}


def rewrites() -> tuple[int, int]:
    """Every page of the 22 three-page books rewritten twice per band, as the worker asks (what was shown never again).

    A rewrite counts as good when it gives a new text and at least two distinct alternatives none of which was shown.
    """
    from tests.story_cases import CASES
    from worker.ml import story

    writer, good, total = TemplateWriter(), 0, 0
    for age in AGE_STYLES:
        for start in range(0, len(CASES), 3):
            scenes = [SceneInput(index=i, fields=h) for i, (_, h) in enumerate(CASES[start : start + 3], start=1)]
            texts = writer.write(scenes, make_plan(scenes, age=age))
            for scene, text in zip(scenes, texts):
                shown = [text]
                for count in (1, 2):
                    again = SceneInput(index=scene.index, fields=scene.fields, shown=tuple(shown), rewrites=count,
                                       neighbours={s.index: t for s, t in zip(scenes, texts) if s is not scene},
                                       others={s.index: s.fields for s in scenes if s is not scene})
                    draft = story.write_book(writer, [again], make_plan([again], age=age))
                    new, offered = draft.texts[0], draft.alternatives[0]
                    total += 1
                    good += bool(new) and new not in shown and len(set(offered)) >= 2 and not set(offered) & set(shown)
                    shown += [new, *offered]
    return good, total


def show_books() -> None:
    writer = TemplateWriter()
    for title, hints in SHOWN.items():
        scenes = [SceneInput(index=i, fields=h) for i, h in enumerate(hints, start=1)]
        for age in AGE_STYLES:
            draft = writer.write_book(scenes, make_plan(scenes, age=age))
            print(f"\n## {title} ({age}) — {draft.title}\n")
            for index, text in enumerate(draft.texts, start=1):
                print(f"{index}. {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=0, help="print this many missed hints and repeated sentences per band")
    parser.add_argument("--books", action="store_true", help="print the books of docs/story-before-after.md for every band")
    parser.add_argument("--rewrites", action="store_true", help="rewrite every page twice and count the new texts")
    args = parser.parse_args()
    if args.books:
        show_books()
    started = time.perf_counter()
    writer = TemplateWriter()
    arrangements = books()
    results = [measure(writer.write, age, arrangements) for age in AGE_STYLES]
    print(HEADER)
    for result in results:
        print(result.row())
    for result in results:
        if args.show:
            print(f"\n{result.age}: missed {result.missed[: args.show]}\nrepeats {result.repeats[: args.show]}"
                  f"\naway and along {result.away_and_along[: args.show]}\ngrammar {result.grammar.counts()}")
    if args.rewrites:
        good, total = rewrites()
        print(f"\nrewrites with a new text and two alternatives: {good} of {total}")
    print(f"\n{sum(r.pages for r in results)} pages in {time.perf_counter() - started:.1f} s")
    print(f"ratio={results[-1].words_per_sentence / results[0].words_per_sentence:.2f}")


if __name__ == "__main__":
    main()
