"""What a picture-book editor counts, measured over the tests' hint sets (tests/story_cases.py).

`measure(writer, age)` writes three arrangements of the 66 hint sets and counts, per age band:
- `repeats`: sentences said twice in one book (the same words, connecting word aside);
- `away_and_along`: pages that have someone both with the hero and awaited (X도 함께 … X가 돌아올);
- `coverage`: optional hint items that reach their page (a word of the item, or its stem, is on it);
- `words_per_sentence`, `sentences_per_page`: 어절 per sentence, sentences per page;
- `sound_share`: sound and motion words (의성어·의태어) among all 어절;
- `linked_share`: sentences joined by a reason or a time (-어서, -자, -니까, -는 동안, -기 때문에 …);
- `grammar`: tests/korean_grammar.py violations.
`bench/story_words.py` prints them; tests/test_story_meaning.py holds the writer to them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.korean_grammar import Report, check, sentences
from tests.story_cases import CAPTIONS, CASES
from worker.ml import rank
from worker.ml.plan import SceneInput, make_plan, short_name

FOLLOW_UP = {"name": "곰", "i_action": "집에 돌아오다", "classification": "사회관계", "feeling": "기쁘다"}
OPTIONAL = ("character", "setting", "action", "feeling", "causalRelationship", "outcomeResolution", "prediction")
SOUND_WORDS = {
    "콩콩", "후다닥", "뚜벅뚜벅", "훨훨", "까르르", "엉엉", "냠냠", "꿀꺽꿀꺽", "새근새근", "첨벙첨벙", "데굴데굴", "덩실덩실",
    "빙글빙글", "차곡차곡", "쓱쓱", "뽀득뽀득", "싹싹", "엉금엉금", "물끄러미", "두리번두리번", "꼬옥", "똑똑", "덜덜", "반짝반짝",
    "살랑살랑", "휙", "툭", "후후", "짝짝짝", "두근두근", "깡충깡충", "폴짝폴짝", "슝", "아장아장", "뒤뚱뒤뚱", "호로록", "쿵",
    "쿵쾅쿵쾅", "쌩쌩", "졸졸", "보글보글", "부릉부릉", "칙칙폭폭", "사각사각", "주룩주룩", "쨍쨍", "콩닥콩닥", "꾸벅꾸벅", "방긋",
    "생글생글", "싱글벙글", "훌쩍훌쩍", "흥얼흥얼", "도란도란", "오물오물", "쪼르르", "살금살금", "성큼성큼", "펄쩍", "풍덩",
    "뭉게뭉게", "솔솔", "바스락", "쏙", "꾹꾹", "토닥토닥", "쓰담쓰담", "빙그레", "활짝", "와르르", "뚝딱뚝딱", "송골송골",
    "폴폴", "팔랑팔랑", "반질반질", "야금야금", "쫑긋", "꼬르륵", "으쓱", "깔깔", "하하", "호호", "음매", "멍멍", "야옹", "꿀꿀",
    "삐약삐약", "개굴개굴", "짹짹", "부웅", "휘익", "주섬주섬", "무럭무럭", "쑥쑥", "꼼꼼", "조물조물", "찰칵", "쫄깃", "말랑말랑",
}
_LINKS = re.compile(r"(어서|아서|해서|워서|라서|자[ ,]|니까|으니|는 동안|기 때문에|때문에|다가|고 나서|자마자|려고|면서|지만|는데|았더니|었더니|ㄴ 뒤|은 뒤|는 뒤)")


def is_sound_word(word: str) -> bool:
    """콩콩, 깡충깡충: the lexicon, or a doubled two-syllable word (살랑살랑) the lexicon lacks."""
    word = word.strip(".,!?~")
    if word in SOUND_WORDS:
        return True
    return len(word) == 4 and word[:2] == word[2:] and all("\uac00" <= ch <= "\ud7a3" for ch in word)


def _book(hints_list: list[dict], captions: dict[int, str] | None = None) -> list[SceneInput]:
    captions = captions or {}
    return [SceneInput(index=i, fields=hints, caption=captions.get(i), caption_lang="ko")
            for i, hints in enumerate(hints_list, start=1)]


def books() -> list[list[SceneInput]]:
    """Every case as the first page of two; 22 books of three; 11 books of six."""
    made = [_book([hints, FOLLOW_UP], {1: CAPTIONS[case_id]} if case_id in CAPTIONS else None) for case_id, hints in CASES]
    made += [_book([hints for _, hints in CASES[start : start + 3]]) for start in range(0, len(CASES), 3)]
    made += [_book([hints for _, hints in CASES[start : start + 6]]) for start in range(0, len(CASES), 6)]
    return made


def reaches(item: str, page: str) -> bool:
    """A hint item on its page (worker/ml/rank.py: its words, its short name, or half its stems)."""
    item = item.strip().strip("\"'")
    return rank.reaches(item, page, short_name(item) if item else None)


_AWAY = re.compile(r"(돌아오|돌아올|돌아온|기다리|기다렸|보고 싶|떠났|떠나|오실|올 거|오기를)")


def away_and_along(page: str, names: list[str]) -> bool:
    """Someone with the hero on this page (X도 함께, X와 함께) and also gone or awaited on it."""
    for name in names:
        forms = {name, short_name(name)}
        along = any(re.search(re.escape(f) + r"(도 함께|와 함께|과 함께|랑 함께|이랑 함께)", page) for f in forms)
        away = any(re.search(re.escape(f) + r"\S*\s+\S*" + _AWAY.pattern, page) or re.search(re.escape(f) + r"\S*\s+" + _AWAY.pattern, page)
                   for f in forms)
        if along and away:
            return True
    return False


@dataclass
class Measure:
    age: str
    books: int = 0
    pages: int = 0
    sentences: int = 0
    words: int = 0
    sound_words: int = 0
    linked: int = 0
    repeats: list[str] = field(default_factory=list)
    away_and_along: list[str] = field(default_factory=list)
    hints: int = 0
    reached: int = 0
    missed: list[str] = field(default_factory=list)
    grammar: Report = field(default_factory=Report)

    @property
    def coverage(self) -> float:
        return self.reached / self.hints if self.hints else 1.0

    @property
    def words_per_sentence(self) -> float:
        return self.words / self.sentences if self.sentences else 0.0

    @property
    def sentences_per_page(self) -> float:
        return self.sentences / self.pages if self.pages else 0.0

    @property
    def sound_share(self) -> float:
        return self.sound_words / self.words if self.words else 0.0

    @property
    def linked_share(self) -> float:
        return self.linked / self.sentences if self.sentences else 0.0

    def row(self) -> str:
        return (f"| {self.age} | {self.books} | {self.pages} | {len(self.repeats)} | {len(self.away_and_along)} | "
                f"{self.coverage:.1%} | {self.words_per_sentence:.2f} | {self.sentences_per_page:.2f} | "
                f"{self.sound_share:.1%} | {self.linked_share:.1%} | {self.grammar.count} |")


HEADER = ("| age | books | pages | repeated sentences | away and along | optional hints on their page | "
          "어절 per sentence | sentences per page | sound words (of 어절) | sentences linked by reason/time | grammar |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def _core(sentence: str) -> str:
    """A sentence without its opening connective or punctuation, for spotting repeats."""
    return re.sub(r"^(어느 날,|그때,|조금 뒤,|그러자|그런데|마침내|드디어|그래서|그리고)\s*", "", sentence.strip()).rstrip(".!?")


def measure(write, age: str, all_books: list[list[SceneInput]] | None = None) -> Measure:
    """`write(scenes, plan) -> texts` over every arrangement, for one age band."""
    result = Measure(age)
    for scenes in all_books or books():
        texts = write(scenes, make_plan(scenes, age=age))
        result.books += 1
        seen: dict[str, int] = {}
        for scene, text in zip(scenes, texts, strict=True):
            result.pages += 1
            name = str(scene.fields["name"]).strip().strip('"')
            check(text, tuple({name, short_name(name)}), result.grammar)
            for sentence in sentences(text):
                said = sentence.text.strip()
                words = said.split()
                result.sentences += 1
                result.words += len(words)
                result.sound_words += sum(is_sound_word(w) for w in words)
                result.linked += bool(_LINKS.search(said))
                core = _core(said)
                if core and core in seen:
                    result.repeats.append(f"{seen[core]}/{scene.index}: {said}")
                seen.setdefault(core, scene.index)
            characters = [c.strip() for c in str(scene.fields.get("character") or "").split(",") if c.strip()]
            if away_and_along(text, characters):
                result.away_and_along.append(text)
            for key in OPTIONAL:
                for item in str(scene.fields.get(key) or "").split(","):
                    if not item.strip():
                        continue
                    result.hints += 1
                    if reaches(item, text):
                        result.reached += 1
                    else:
                        result.missed.append(f"{key}={item.strip()}: {text}")
    return result
