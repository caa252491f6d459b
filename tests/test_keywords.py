"""Offline keyword suggestions (kiwipiepy): 배경/행동/감정, 3-5 each, from the Korean caption."""
from __future__ import annotations

import pytest

from worker.ml.keywords import DEFAULT_ACTIONS, DEFAULT_FEELINGS, DEFAULT_SETTINGS, KiwiSuggester


@pytest.fixture(scope="module")
def suggester() -> KiwiSuggester:
    return KiwiSuggester()


def test_places_come_first_and_the_subject_is_not_a_place(suggester):
    [result] = suggester.suggest([("강아지가 공원에서 공을 가지고 놀고 있어요", "ko")])
    assert result["setting"][0] == "공원"
    assert "강아지" not in result["setting"]
    assert "놀기" in result["action"]


def test_position_nouns_make_a_place_phrase(suggester):
    [forest] = suggester.suggest([("가족이 숲 속을 산책하고 있다", "ko")])
    assert forest["setting"][0] == "숲 속"
    assert forest["action"][0] == "산책하기"
    [tree] = suggester.suggest([("아이가 나무 아래에서 책을 읽어요", "ko")])
    assert tree["setting"][0] == "나무 아래" and tree["action"][0] == "읽기"


def test_feelings_are_nouns_not_verb_stems(suggester):
    [result] = suggester.suggest([("아이가 바닷가에서 모래성을 쌓으며 즐겁게 웃어요", "ko")])
    assert result["feeling"][:2] == ["즐거움", "웃음"]
    [happy] = suggester.suggest([("행복한 아이가 그네를 타요", "ko")])
    assert happy["feeling"][0] == "행복"


def test_three_to_five_of_each_and_defaults_without_a_korean_caption(suggester):
    results = suggester.suggest([
        (None, None),
        ("a dog in the park", "en"),
        ("공원과 숲과 바다와 산과 들과 강에서 아이들이 뛰고 걷고 웃고 놀고 먹고 자요", "ko"),
    ])
    defaults = {"setting": list(DEFAULT_SETTINGS), "action": list(DEFAULT_ACTIONS), "feeling": list(DEFAULT_FEELINGS[:3])}
    assert results[0] == results[1] == defaults
    for result in results:
        for category in ("setting", "action", "feeling"):
            assert 3 <= len(result[category]) <= 5
            assert len(set(result[category])) == len(result[category])
