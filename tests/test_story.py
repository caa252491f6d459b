"""A book that reads as one story: the template writer's Korean, the book plan, titles, reader age.

No database or worker: writers and plans are plain objects. The grammar check is
tests/korean_grammar.py (kiwipiepy); the hints are tests/story_cases.py.
"""
from __future__ import annotations

import re
import statistics

import pytest

from tests.korean_grammar import Report, check, sentences
from tests.story_cases import CAPTIONS, CASES
from worker.ml.hints import parse
from worker.ml.plan import AGE_STYLES, make_plan, short_name
from worker.ml.writer import SceneInput, TemplateWriter

AGES = tuple(AGE_STYLES)
FOLLOW_UP = {"name": "곰", "i_action": "집에 돌아오다", "classification": "사회관계", "feeling": "기쁘다"}


def _book(hints_list: list[dict], captions: dict[int, str] | None = None) -> list[SceneInput]:
    captions = captions or {}
    return [SceneInput(index=i, fields=hints, caption=captions.get(i), caption_lang="ko")
            for i, hints in enumerate(hints_list, start=1)]


def _names(hints: dict) -> tuple[str, ...]:
    name = hints["name"].strip().strip('"')
    return tuple({name, short_name(name)})


def test_there_are_at_least_60_varied_cases():
    assert len(CASES) >= 60 and len({case_id for case_id, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id, hints", CASES, ids=[case_id for case_id, _ in CASES])
def test_every_sentence_is_finished_haeyo_without_bare_nouns_splices_or_a_repeated_name(case_id, hints):
    for age in AGES:
        scenes = _book([hints, FOLLOW_UP], {1: CAPTIONS.get(case_id)})
        texts = TemplateWriter().write(scenes, make_plan(scenes, age=age))
        report = Report()
        for text, lead in zip(texts, [hints, FOLLOW_UP], strict=True):
            assert text.strip(), f"{age}: an empty page"
            check(text, _names(lead), report)
        assert report.count == 0, f"{age}: {report.violations}\n{texts}"


def test_the_editors_broken_cases_now_read_right():
    def page(**hints) -> str:
        hints = {"classification": "사회관계", **hints}
        return TemplateWriter().write(_book([hints]))[0]

    assert "맛있었어요" in page(name="하은", i_action="케이크를 먹다", feeling="맛있다")
    assert "하은이는 맛있었어요" not in page(name="하은", i_action="케이크를 먹다", feeling="맛있다")
    assert "배고파서" in page(name="토끼", i_action="밭에 가다", feeling="배고픔")  # a feeling of the body
    assert "기뻤어요" in page(name="토끼", i_action="밭에 가다", feeling="기쁨")
    assert "아프고 슬펐어요" in page(name="하은", i_action="넘어지다", feeling="아프다, 슬프다")
    assert "무서웠지만 궁금했어요" in page(name="하은", i_action="동굴에 들어가다", feeling="무섭다, 궁금하다")
    assert re.search(r"당근을 (\S+ )?발견했어요", page(name="토끼", i_action="밭에 가다", action="당근"))  # found, not left out
    assert "지켰어요" in page(name="민준", i_action="신호등을 지키는")
    assert "앉았어요" in page(name="늑대", i_action="앉아")
    assert "집을 무너뜨리면 어쩌죠?" in page(name="늑대", i_action="서다", prediction="아마 집을 무너뜨릴지도 모른다")
    assert "모래성을 차곡차곡 쌓았어요" in page(name="하은", i_action="모래성 쌓기")
    for text in (page(name="하은", i_action="웃다", feeling="기쁨, 설렘"), page(name="첼시", i_action="보다")):
        assert "마음이" not in text and "사진" not in text


def test_hints_in_any_form_become_the_same_sentence():
    forms = ["뛰어놀다", "뛰어놀았다", "뛰어놀았어요", "뛰어놀아", "뛰어놀기", "뛰어놀았습니다", "뛰어노는"]
    assert {parse(form).polite_past() for form in forms} == {"뛰어놀았어요"}


def test_captions_never_make_a_sentence_about_the_photo():
    scenes = _book([{"name": "첼시", "i_action": "창밖을 보다", "classification": "사회관계"}], {1: "창가에 앉은 고양이"})
    text = TemplateWriter().write(scenes)[0]
    assert "사진" not in text and "보여요" not in text and "창가에 앉은 고양이" not in text


def _sample_book() -> list[SceneInput]:
    from talesrunner import samples

    return _book(samples.SCENES)


def test_a_whole_book_has_one_arc_of_connecting_words_and_no_essay_language():
    for start in range(0, len(CASES) - 3, 4):
        scenes = _book([hints for _, hints in CASES[start : start + 4]])
        texts = TemplateWriter().write(scenes)
        firsts = [" ".join(text.split()[:2]) for text in texts]
        assert len(set(firsts)) == len(firsts), texts
        plan = make_plan(scenes)
        assert texts[0].startswith(("어느 날", "어느 맑은 날,", "햇살이 반짝이는 날,", "하루는"))
        assert texts[-1].startswith(tuple(plan.connective_options[4])) and not texts[-1].startswith(("그렇게", "그러자", "또"))
        for text in texts:
            assert not re.search(r"그다음에는|마지막으로|그러던 중|첫째|둘째", text), text
        # the book closes (the hero's name left out when the sentence before named them)
        assert any(texts[-1].endswith((closing, closing.split(" ", 1)[-1])) for closing in plan.closing_options[4]), texts[-1]


def test_the_protagonist_is_named_in_full_once_then_by_the_short_name():
    hints = {"name": "우주인 아저씨", "i_action": "산책하다", "classification": "사회관계"}
    texts = TemplateWriter().write(_book([hints, {**hints, "i_action": "집에 오다"}, {**hints, "i_action": "잠들다"}]))
    assert texts[0].count("우주인 아저씨") == 1
    assert all("우주인 아저씨" not in text and "아저씨" in text for text in texts[1:])
    assert short_name("하은") == "하은이" and short_name("고양이 첼시") == "첼시" and short_name("토끼") == "토끼"
    texts = TemplateWriter().write(_book([{"name": "하은", "i_action": "웃다", "classification": "사회관계"}] * 2))
    assert "하은이가" in texts[0] and "하은이는" in texts[1] and "하은이가" not in texts[1]  # new, then known


def test_one_page_written_again_matches_the_book_it_belongs_to():
    scenes = _sample_book()
    texts = TemplateWriter().write(scenes)
    for again in range(len(scenes)):
        others = {scene.index: text for scene, text in zip(scenes, texts) if scene is not scenes[again]}
        alone = SceneInput(index=scenes[again].index, fields=scenes[again].fields, neighbours=others,
                           others={scene.index: scene.fields for scene in scenes if scene is not scenes[again]})
        assert TemplateWriter().write([alone]) == [texts[again]]


def test_titles_are_generated_when_missing_and_kept_when_given():
    plan = make_plan(_sample_book())
    assert plan.title_is_new and plan.title == "우주인 아저씨와 로켓"
    assert make_plan(_sample_book(), title="우리 책").title == "우리 책"
    one = lambda **extra: make_plan(_book([{"name": "하은", "i_action": "놀다", "classification": "신체운동_건강", **extra}])).title
    assert one(feeling="신나다") == "하은이의 신나는 하루"
    assert one(setting="바닷가") == "바닷가에 간 하은이"
    assert one() == "하은이의 씩씩한 하루"
    captioned = make_plan(_book([{"name": "하은", "i_action": "놀다", "classification": "자연탐구"}], {1: "공원에서 노는 아이"}))
    assert captioned.title == "공원에 간 하은이"
    assert TemplateWriter().write_book(_sample_book()).title == plan.title



def test_the_title_names_the_companion_the_story_is_about_not_only_the_one_most_often_along():
    """엄마 comes along on three pages; 할머니 is waited for, gone to market, coming back and at dinner."""
    def s(action: str, **extra: str) -> dict[str, str]:
        return {"name": "하은", "i_action": action, "classification": "사회관계", **extra}

    book = _book([s("기차역에 가다", setting="할머니 댁", character="엄마"), s("고양이를 쓰다듬다", character="고양이 나비, 엄마"),
                  s("할머니를 기다리다", causalRelationship="할머니가 시장에 가셨다", prediction="할머니가 곧 돌아오시다"),
                  s("저녁을 먹다", character="할머니, 엄마")])
    assert make_plan(book).title == "하은이와 할머니"
    # Two children with pages of their own: the other child, not the dog that came along once.
    siblings = _book([s("모래성을 쌓다", character="강아지"), {"name": "도윤", "i_action": "김밥을 먹다", "classification": "사회관계"}])
    assert make_plan(siblings).title == "하은이와 도윤이"


@pytest.mark.parametrize("age", list(AGE_STYLES))
def test_books_made_one_after_another_do_not_all_end_alike_and_the_same_hints_end_the_same_way(age):
    books = [_book([hints for _, hints in CASES[start : start + 3]]) for start in range(0, len(CASES), 3)]
    endings = []
    for book in books:
        plan = make_plan(book, age=age)
        TemplateWriter().write(book, plan)
        again = make_plan(book, age=age)
        TemplateWriter().write(book, again)
        assert plan.closings == again.closings
        hero = plan.character(str(book[-1].fields["name"]).strip()).short
        endings.append(re.sub(r"^X(은|는)", "X는", plan.closings[book[-1].index].replace(hero, "X")))
    assert len(set(endings)) >= 4, endings

def _mean_words(age: str) -> float:
    lengths = []
    for start in range(0, len(CASES), 3):
        scenes = _book([hints for _, hints in CASES[start : start + 3]])
        for text in TemplateWriter().write(scenes, make_plan(scenes, age=age)):
            lengths += [len(s.text.split()) for s in sentences(text)]
    return statistics.mean(lengths)


def test_the_reader_age_sets_sentence_length():
    means = {age: _mean_words(age) for age in AGES}
    assert means["유아"] < means["초등 저학년"] < means["초등 고학년"], means
    assert means["초등 고학년"] - means["유아"] >= 0.5, means


def test_the_plan_shapes_a_models_paragraph_around_it():
    plan = make_plan(_book([{"name": "하은", "i_action": "놀다", "classification": "사회관계"}] * 3))
    shaped = plan.shape(2, "하은은 공원에 갔어요. 하은이 웃었어요. 하은이가 노래를 불렀어요.")
    assert shaped.startswith(plan.connectives[2] + " ")
    assert "하은이는 공원에" in shaped and "하은이가 웃었어요" in shaped and "하은이가 노래를" in shaped
    first = plan.shape(1, "하은은 공원에 갔어요. 하은은 웃었어요.")
    assert first == f"{plan.connectives[1]} 하은은 공원에 갔어요. 하은이는 웃었어요."
    assert plan.shape(3, "그런데 하은이 넘어졌어요.") == "그런데 하은이가 넘어졌어요."  # it had its own connecting word
