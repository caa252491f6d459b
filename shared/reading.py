"""How Korean reads what is not Hangul: digits, Latin letters, English names.

A particle after a word follows the sound the word ends in when read aloud (Tom -> 톰 -> Tom은,
list.txt -> …티엑스티 -> list.txt는, HTML -> …엠엘 -> HTML은, 10 -> 십 -> 10은). `ends_in_consonant`
says True or False where the reading is clear and None where it is not (Bob: 밥 or 보브?): the
particle is then written both ways, 은(는), as Korean editors do.
"""
from __future__ import annotations

import re

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
# 0 영, 1 일, 2 이, 3 삼, 4 사, 5 오, 6 육, 7 칠, 8 팔, 9 구 (10 십, 100 백, 1000 천 all end in a consonant too).
_DIGIT_HAS_FINAL = {"0": True, "1": True, "2": False, "3": True, "4": False,
                    "5": False, "6": True, "7": True, "8": True, "9": False}
# Letter names: 엘, 엠, 엔, 알 end in a consonant; 에이, 비, 씨, … in a vowel.
_LETTER_HAS_FINAL = set("lmnr")
_VOWELS = set("aeiouy")

# English names as Korean writes them (국립국어원 외래어 표기법, common spellings), for young
# readers who cannot read Latin letters and for the particle after them.
ENGLISH_NAMES: dict[str, str] = {
    "tom": "톰", "tommy": "토미", "emma": "엠마", "olivia": "올리비아", "liam": "리엄", "noah": "노아", "mia": "미아",
    "lucas": "루카스", "leo": "레오", "lily": "릴리", "amy": "에이미", "anna": "안나", "ben": "벤", "jack": "잭",
    "james": "제임스", "john": "존", "jane": "제인", "kate": "케이트", "max": "맥스", "mike": "마이크", "sam": "샘",
    "sophia": "소피아", "sophie": "소피", "alice": "앨리스", "bob": "밥", "chris": "크리스", "daniel": "대니얼",
    "david": "데이비드", "eric": "에릭", "ella": "엘라", "grace": "그레이스", "harry": "해리", "henry": "헨리",
    "jenny": "제니", "julia": "줄리아", "lisa": "리사", "lucy": "루시", "luna": "루나", "mary": "메리", "nick": "닉",
    "peter": "피터", "paul": "폴", "rose": "로즈", "ryan": "라이언", "sarah": "세라", "steve": "스티브", "susan": "수전",
    "tony": "토니", "ted": "테드", "charlie": "찰리", "oliver": "올리버", "ethan": "이선", "chloe": "클로이", "zoe": "조이",
    "ava": "에이바", "amelia": "아멜리아", "jason": "제이슨", "kevin": "케빈", "brian": "브라이언", "alex": "알렉스",
    "andy": "앤디", "bella": "벨라", "coco": "코코", "momo": "모모", "toby": "토비", "teddy": "테디", "buddy": "버디",
    "kitty": "키티", "elsa": "엘사", "olaf": "올라프", "jerry": "제리", "pooh": "푸", "molly": "몰리", "daisy": "데이지",
    "ruby": "루비", "emily": "에밀리", "hannah": "해나", "william": "윌리엄", "benjamin": "벤저민", "mark": "마크",
    "matt": "맷", "kim": "킴", "lee": "리", "park": "파크", "judy": "주디", "nemo": "니모", "dory": "도리",
}


def _hangul_final(syllable: str) -> bool:
    return (ord(syllable) - _HANGUL_FIRST) % 28 != 0


def _latin_final(word: str) -> bool | None:
    """The last sound of a run of Latin letters as Korean reads it (a name, a word, or letters spelled out)."""
    if word.lower() in ENGLISH_NAMES:
        return _hangul_final(ENGLISH_NAMES[word.lower()][-1])
    lower = word.lower()
    if len(word) >= 2 and (word.isupper() or not _VOWELS & set(lower)):
        return lower[-1] in _LETTER_HAS_FINAL  # HTML, txt, BMW: spelled out letter by letter
    if len(word) == 1:
        return lower in _LETTER_HAS_FINAL
    if lower.endswith(("ng", "m", "n", "l", "ne", "me", "le", "ck", "ic")):
        return True  # 킹, 톰, 존, 폴, 제인, 테이블, 잭, 에릭
    if lower.endswith(("r", "a", "i", "o", "u", "y", "e", "s", "x", "z", "f", "v", "sh", "ch", "th", "d", "g", "w", "h")):
        return False  # 피터, 엠마, 릴리, 마이크, 크리스, 맥스, 프레드
    if lower[-1] in "tp" and len(lower) >= 3 and lower[-2] in _VOWELS and lower[-3] not in _VOWELS:
        return True  # 맷, 캣, 팁, 로봇: a short vowel closed by t or p
    if lower[-1] in "tp" and lower[-2] == lower[-1]:
        return True  # Scott 스콧
    if lower[-1] in "tpk":
        return False  # 로버트, 마크
    return None  # Bob (밥 or 보브), Marc, Raj: not known


def ends_in_consonant(word: str) -> bool | None:
    """True when `word` read aloud ends in a consonant (받침), False in a vowel, None when it cannot be known."""
    stripped = word.rstrip(" \t\n.,!?~\"')]}")
    if not stripped:
        return False
    last = stripped[-1]
    if _HANGUL_FIRST <= ord(last) <= _HANGUL_LAST:
        return _hangul_final(last)
    if last.isdigit():
        return _DIGIT_HAS_FINAL[last] if last in _DIGIT_HAS_FINAL else None
    if last.isascii() and last.isalpha():
        return _latin_final(re.findall(r"[A-Za-z]+$", stripped)[0])
    return None


def hangul_name(word: str) -> str | None:
    """Tom -> 톰: an English name in Hangul, for readers who do not read Latin letters yet; None when not known."""
    return ENGLISH_NAMES.get(word.lower()) if word.isascii() and word.isalpha() else None
