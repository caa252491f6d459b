"""A story classification for scenes whose parent left "이야기 분류" empty.

The story model was trained with one of five classifications per scene (`CLASSIFICATIONS`, the
curriculum areas of the AI Hub data). Parents rarely think in those terms, so the pages make the
field optional and fill it in from the words the parent did write:

1. The scene's action words (`i_action`, `action`) and its setting (`setting`) are searched for
   the keywords below; a keyword counts when it appears anywhere in the text (Korean stems such
   as "뛰" match "뛰어요", "뛰다", "뛰어놀기").
   Longer keywords are matched first and the text they cover is not read again, so 모래성
   (sand castle: art) is not also counted as 모래 (sand: nature).
2. Action keywords weigh 2, setting keywords 1: what the child does says more about the kind of
   story than where it happens (a picnic in a park is still about family, a beetle hunt there is
   nature).
3. The classification with the highest score wins; a tie goes to the one listed first in
   `KEYWORDS`. No keyword at all gives `DEFAULT`, 사회관계 (family, friends, sharing): the theme of
   most family photos.
"""
from __future__ import annotations

from collections.abc import Mapping

from shared.vocabulary import CLASSIFICATIONS

DEFAULT = "사회관계"

# In tie-breaking order. Words are stems or whole nouns, two syllables or more where one syllable
# would match unrelated words (눈 "snow" / 눈 "eye" is left out for that reason).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "신체운동_건강": (
        "달리", "뛰", "축구", "야구", "농구", "공놀이", "공차", "수영", "자전거", "킥보드", "체조", "줄넘기",
        "운동", "미끄럼", "그네", "등산", "산책", "스키", "썰매", "태권도", "씻", "양치", "목욕", "낮잠",
        "병원", "건강", "골고루", "놀이터", "달리기", "뜀뛰기", "구르", "매달리",
    ),
    "자연탐구": (
        "숲", "바다", "바닷가", "해변", "꽃", "나무", "곤충", "벌레", "나비", "개미", "무당벌레", "잠자리",
        "동물", "동물원", "물고기", "수족관", "씨앗", "텃밭", "채소", "열매", "관찰", "실험", "별", "우주",
        "로켓", "하늘", "구름", "무지개", "계곡", "조개", "모래", "갯벌", "강아지풀", "나뭇잎", "단풍", "달님",
        "눈사람", "빗방울", "공룡", "화석",
    ),
    "예술경험": (
        "그림", "그리", "색칠", "물감", "크레파스", "노래", "춤", "악기", "피아노", "기타", "북치", "공연",
        "음악", "미술", "만들기", "종이접기", "찰흙", "점토", "모래성", "블록", "꾸미", "연극", "사진 찍",
    ),
    "의사소통": (
        "책", "읽", "이야기", "말하", "편지", "대화", "전화", "글씨", "글자", "인사", "발표", "동화", "한글",
        "낱말", "받아쓰", "묻", "대답",
    ),
    "사회관계": (
        "친구", "가족", "엄마", "아빠", "할머니", "할아버지", "동생", "언니", "오빠", "누나", "형", "함께",
        "같이", "나누", "도와", "도움", "생일", "파티", "잔치", "소풍", "선물", "학교", "유치원", "어린이집",
        "선생님", "차례", "양보", "사과하", "안아",
    ),
}

# Which fields are read, and how much a keyword found in each counts.
WEIGHTS: dict[str, int] = {"i_action": 2, "action": 2, "setting": 1}

assert set(KEYWORDS) == set(CLASSIFICATIONS) and DEFAULT in CLASSIFICATIONS


# Every keyword with its classification, longest first (the order they are looked for).
_BY_LENGTH: list[tuple[str, str]] = sorted(
    ((word, classification) for classification, words in KEYWORDS.items() for word in words),
    key=lambda pair: -len(pair[0]),
)


def guess_classification(fields: Mapping[str, object]) -> str:
    """The classification for a scene's hints (`name`, `i_action`, `setting`, `action`, ...), by the rule above."""
    scores = dict.fromkeys(KEYWORDS, 0)
    for field, weight in WEIGHTS.items():
        text = str(fields.get(field) or "")
        for word, classification in _BY_LENGTH:
            if word in text:
                scores[classification] += weight * text.count(word)
                text = text.replace(word, "\0")  # covered: a shorter keyword inside it is not counted
    best = max(KEYWORDS, key=lambda name: scores[name])  # max keeps the first of equal scores
    return best if scores[best] > 0 else DEFAULT
