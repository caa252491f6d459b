"""The rule that fills in "이야기 분류" when a parent leaves it empty (shared/classification.py)."""
from __future__ import annotations

import pytest

from shared.classification import DEFAULT, KEYWORDS, guess_classification
from shared.vocabulary import CLASSIFICATIONS


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ({"i_action": "깡충깡충 뛰어요", "setting": "운동장"}, "신체운동_건강"),
        ({"i_action": "자전거를 타요"}, "신체운동_건강"),
        ({"i_action": "조개를 주워요", "setting": "바닷가"}, "자연탐구"),
        ({"i_action": "나비를 봐요", "action": "관찰하기"}, "자연탐구"),
        ({"i_action": "그림을 그려요", "setting": "거실"}, "예술경험"),
        ({"i_action": "노래를 불러요"}, "예술경험"),
        ({"i_action": "책을 읽어요", "setting": "도서관"}, "의사소통"),
        ({"i_action": "할머니께 편지를 써요"}, "의사소통"),
        ({"i_action": "친구와 과자를 나누어 먹어요"}, "사회관계"),
    ],
)
def test_the_action_and_setting_words_choose_the_classification(hints, expected):
    assert guess_classification({"name": "민지", **hints}) == expected


def test_no_known_word_gives_the_default():
    assert guess_classification({"name": "민지", "i_action": "웃어요"}) == DEFAULT == "사회관계"
    assert guess_classification({}) == DEFAULT


def test_the_action_outweighs_the_setting():
    # A setting word (바닷가, nature) loses to an action word (그림, art).
    assert guess_classification({"i_action": "그림을 그려요", "setting": "바닷가"}) == "예술경험"


def test_a_longer_keyword_hides_the_shorter_one_inside_it():
    assert guess_classification({"i_action": "모래성을 쌓아요"}) == "예술경험"  # not 모래 (nature)
    assert guess_classification({"i_action": "모래를 만져요"}) == "자연탐구"


def test_fields_other_than_action_and_setting_are_not_read():
    assert guess_classification({"name": "바다", "feeling": "노래", "i_action": "웃어요"}) == DEFAULT


def test_equal_scores_go_to_the_first_listed():
    first, second = list(KEYWORDS)[:2]
    hints = {"i_action": f"{KEYWORDS[first][1]} {KEYWORDS[second][1]}"}
    assert guess_classification(hints) == first


def test_every_answer_is_one_of_the_models_classifications():
    for words in KEYWORDS.values():
        for word in words:
            assert guess_classification({"i_action": word}) in CLASSIFICATIONS
