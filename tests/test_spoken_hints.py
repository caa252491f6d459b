"""A child's spoken sentence, as transcribed, read into the scene hints the parent confirms."""
from __future__ import annotations

import json

import pytest

from shared.config import Settings
from tests.openai_stub import ChatStub, user_json
from web.schemas import SceneAnnotation
from worker.ml.spoken_hints import KEYS, hints_from_transcript

# (transcript, the hints it must give exactly): every shape a child or a parent says a hint in.
CASES: list[tuple[str, dict[str, str]]] = [
    ("민호가 공원에서 자전거를 탔어요", {"name": "민호", "setting": "공원", "i_action": "자전거를 타요"}),
    ("민준이가 놀이터에서 그네를 탔다", {"name": "민준", "setting": "놀이터", "i_action": "그네를 타요"}),  # 민준이 -> 민준, plain ending
    ("엄마랑 같이 바다에서 모래성을 쌓았어요", {"character": "엄마", "setting": "바다", "i_action": "모래성을 쌓아요"}),  # no name
    ("지우는 너무 신났어요", {"name": "지우", "feeling": "신남"}),
    ("나는 무서웠어", {"feeling": "무서움"}),  # the child itself: no name to suggest
    ("곰돌이가 행복했어요", {"name": "곰돌이", "feeling": "행복"}),
    ("오늘 아침에 강아지와 함께 산책했어요", {"character": "강아지", "i_action": "산책해요"}),  # a time is not a place
    ("토끼가 당근을 먹고 잠을 잤어요", {"name": "토끼", "i_action": "당근을 먹어요", "action": "잠을 자요"}),  # two clauses
    ("서연이는 친구들하고 숨바꼭질을 했는데 정말 재미있었어요",
     {"name": "서연", "character": "친구들", "i_action": "숨바꼭질을 해요", "feeling": "재미"}),
    ("아빠가 나무 아래에서 책을 읽어 줬어요", {"name": "아빠", "setting": "나무 아래", "i_action": "책을 읽어 줘요"}),
    ("수아가 그림을 그리고 있어요", {"name": "수아", "i_action": "그림을 그리고 있어요"}),  # an auxiliary is not a clause
    ("민호가 할머니 집에 가서 수박을 먹었습니다", {"name": "민호", "setting": "할머니 집", "i_action": "수박을 먹어요"}),  # formal
    ("하린이는 동생이랑 눈사람을 만들었어", {"name": "하린", "character": "동생", "i_action": "눈사람을 만들어요"}),
    ("고양이가 상자 안에서 잠을 자요", {"name": "고양이", "setting": "상자 안", "i_action": "잠을 자요"}),  # present already
    ("음 그러니까 공원에서 뛰어놀았어요", {"setting": "공원", "i_action": "뛰어놀아요"}),  # fillers dropped
    ("우리 가족은 바닷가에 놀러 갔어요. 바람이 불어서 추웠어요",
     {"name": "우리 가족", "setting": "바닷가", "i_action": "놀러 가요", "action": "바람이 불어요, 추워요"}),  # two sentences
]


@pytest.mark.parametrize("transcript, expected", CASES, ids=[case[0] for case in CASES])
def test_a_transcript_gives_the_hints_a_parent_would_type(transcript, expected):
    assert hints_from_transcript(transcript) == expected


def test_the_bar_sentence_names_minho_and_an_action_with_a_bicycle():
    hints = hints_from_transcript("민호가 공원에서 자전거를 탔어요…")
    assert hints["name"] == "민호" and "자전거" in hints["i_action"]


def test_hints_fit_the_scene_form_and_an_empty_transcript_gives_none():
    hints = hints_from_transcript("민호가 공원에서 자전거를 탔어요")
    SceneAnnotation(**hints, classification="신체운동_건강")  # the form's own validation takes them as they are
    assert hints_from_transcript("") == {} and hints_from_transcript("   ") == {}
    assert set(hints_from_transcript("음")) <= set(KEYS)


def test_a_hint_with_a_word_unfit_for_a_childrens_book_is_left_out():
    hints = hints_from_transcript("민호가 공원에서 씨발 자전거를 탔어요")
    assert hints.get("name") == "민호" and hints.get("setting") == "공원"
    assert "i_action" not in hints  # the action held the word: the parent types it


def _chat(stub: ChatStub, **extra) -> Settings:
    return Settings(OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="test", TALES_OPENAI_MAX_RETRIES=0,
                    TALES_OPENAI_TIMEOUT=10, **extra)


def test_where_the_suggester_is_openai_the_chat_model_reads_the_transcript(stub):
    stub.reply = lambda body: json.dumps({"name": "민호", "i_action": "씽씽 자전거를 타요", "setting": "동네 공원",
                                          "feeling": "", "character": ["아빠", "강아지"], "extra": "무시"}, ensure_ascii=False)
    hints = hints_from_transcript("민호가 공원에서 자전거를 탔어요", _chat(stub, TALES_SUGGESTER="openai"))
    assert hints == {"name": "민호", "i_action": "씽씽 자전거를 타요", "setting": "동네 공원", "character": "아빠, 강아지"}
    assert user_json(stub.requests[-1]) == {"transcript": "민호가 공원에서 자전거를 탔어요"}


def test_the_chat_models_unfit_words_are_left_out_and_the_offline_reading_fills_in(stub):
    stub.reply = lambda body: json.dumps({"name": "개새끼", "i_action": "자전거를 타요"}, ensure_ascii=False)
    hints = hints_from_transcript("민호가 공원에서 자전거를 탔어요", _chat(stub, TALES_SUGGESTER="openai"))
    assert hints == {"name": "민호", "i_action": "자전거를 타요", "setting": "공원"}


def test_a_failing_chat_model_leaves_the_offline_reading(stub):
    stub.reply = lambda body: (500, {"error": {"message": "down"}})
    hints = hints_from_transcript("민호가 공원에서 자전거를 탔어요", _chat(stub, TALES_SUGGESTER="auto"))
    assert hints == {"name": "민호", "setting": "공원", "i_action": "자전거를 타요"}
    assert stub.requests  # it was asked


def test_the_kiwi_suggester_setting_keeps_the_server_out_of_it(stub):
    hints = hints_from_transcript("민호가 공원에서 자전거를 탔어요", _chat(stub, TALES_SUGGESTER="kiwi"))
    assert hints["name"] == "민호" and not stub.requests
