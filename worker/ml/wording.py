"""The template writer's words: sound and manner words by verb, age-band vocabulary, and choosing among wordings.

A page is written from slots (its opening words, the word before its verb, how a feeling is said,
…), each with wordings that mean the same, best first. A book's first writing takes the first of
each; a rewrite draws among them with a seed made from the page and how many times it was
rewritten (`Choices`), so the same rewrite gives the same text again and the next one another.
"""
from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from shared.safety import is_safe
from worker.ml.arc import OPENERS

T = TypeVar("T")

# Words said before a verb, by the verb's dictionary stem (longest match wins), best first:
# sound and motion words (의성어·의태어) and plain manner words.
MANNER: dict[str, tuple[str, ...]] = {
    "뛰어놀": ("신나게", "마음껏", "사이좋게"), "뛰": ("콩콩", "폴짝폴짝", "힘껏"), "달리": ("후다닥", "쌩쌩", "힘껏"),
    "달려가": ("후다닥", "쪼르르", "힘껏"), "뛰어가": ("후다닥", "쪼르르"), "걷": ("뚜벅뚜벅", "천천히", "사뿐사뿐"),
    "걸어가": ("뚜벅뚜벅", "천천히"), "날": ("훨훨", "팔랑팔랑"), "날아가": ("훨훨", "휘익"), "날아오르": ("훨훨", "힘차게", "슝"),
    "웃": ("까르르", "방긋", "활짝"), "울": ("엉엉", "훌쩍훌쩍"), "먹": ("냠냠", "맛있게", "오물오물"),
    "마시": ("꿀꺽꿀꺽", "천천히"), "자": ("새근새근", "푹"), "잠들": ("새근새근", "스르르", "곤히"),
    "헤엄치": ("첨벙첨벙", "힘차게"), "수영": ("첨벙첨벙", "힘차게"), "구르": ("데굴데굴",), "굴러가": ("데굴데굴",),
    "춤추": ("덩실덩실", "신나게"), "추": ("덩실덩실", "신나게"), "돌": ("빙글빙글",), "쌓": ("차곡차곡", "조심조심", "높이높이"),
    "그리": ("쓱쓱", "정성껏", "알록달록"), "씻": ("뽀득뽀득", "깨끗이"), "닦": ("싹싹", "반짝반짝"), "기어가": ("엉금엉금",),
    "바라보": ("물끄러미", "가만히", "한참"), "찾": ("두리번두리번", "이리저리", "열심히"), "안": ("꼬옥", "살며시"),
    "두드리": ("똑똑",), "떨": ("덜덜", "바들바들"), "반짝이": ("반짝반짝",), "흔들": ("살랑살랑", "이리저리"),
    "던지": ("휙", "힘껏"), "떨어지": ("툭", "뚝"), "불": ("후후", "후"), "박수치": ("짝짝짝",),
    "쓰다듬": ("살살", "부드럽게", "살며시"), "쫓아가": ("졸졸", "후다닥", "열심히"), "따라가": ("졸졸", "쪼르르"),
    "만들": ("뚝딱뚝딱", "정성껏", "열심히"), "짓": ("뚝딱뚝딱", "튼튼하게", "열심히"), "준비하": ("꼼꼼히", "차근차근", "열심히"),
    "읽": ("또박또박", "재미있게", "소리 내어"), "타": ("씽씽", "신나게"), "청소하": ("싹싹", "깨끗이", "구석구석"),
    "기다리": ("한참", "꾹 참고", "오래오래"), "파": ("영차영차", "열심히", "부지런히"), "심": ("꾹꾹", "정성껏", "조심조심"),
    "나르": ("영차영차", "부지런히"), "올리": ("영차", "조심조심"), "부르": ("랄랄라", "큰 소리로", "즐겁게"),
    "노래하": ("랄랄라", "즐겁게"), "물": ("앙", "꽉"), "돌아오": ("쪼르르", "후다닥"), "놀": ("신나게", "사이좋게", "재미있게"),
    "올라가": ("영차영차", "성큼성큼"), "들어가": ("살금살금", "조심조심"), "숨": ("꼭꼭", "살금살금"), "세": ("하나둘", "하나하나"),
    "차": ("뻥", "힘껏"), "하품하": ("하암",), "구경하": ("두리번두리번", "이리저리"), "살펴보": ("꼼꼼히", "요리조리"),
    "보": ("가만히", "물끄러미"), "산책하": ("느릿느릿", "천천히"), "다투": ("티격태격",), "싸우": ("티격태격",),
    "앉": ("가만히", "털썩", "살포시"), "서": ("우뚝", "가만히"), "받": ("두 손으로", "살며시"), "뺏기": ("그만", "순식간에"),
    "쓰": ("얼른", "활짝"), "있": ("하루 종일", "꼼짝 않고"), "지키": ("꼭", "잘"), "사귀": ("새로", "금세"),
    "오르": ("성큼성큼", "천천히"), "남": ("덩그러니", "홀로"), "들어오": ("살금살금", "조심조심"), "만나": ("반갑게", "우연히"),
    "발견하": ("우연히", "마침"), "하": ("신나게", "즐겁게"), "뺏": ("휙", "냉큼"), "잡": ("꽉", "얼른"), "주": ("듬뿍", "살살"),
    "가": ("총총", "씩씩하게", "룰루랄라"), "졸리": ("스르르", "꾸벅꾸벅"), "짖": ("멍멍", "컹컹", "크게"),
    "담": ("차곡차곡", "가득"), "따": ("하나하나", "조심조심"), "만들어 먹": ("맛있게",), "기대하": ("잔뜩",),
}
# The weather's own sounds: 비가 주룩주룩 왔어요, 바람이 쌩쌩 불었어요.
WEATHER: dict[tuple[str, str], tuple[str, ...]] = {
    ("비", "오"): ("주룩주룩", "보슬보슬"), ("눈", "오"): ("펑펑", "소복소복"), ("바람", "불"): ("쌩쌩", "솔솔"),
    ("눈", "내리"): ("펑펑", "소복소복"), ("비", "내리"): ("주룩주룩", "보슬보슬"), ("해", "뜨"): ("쨍쨍",),
    ("천둥", "치"): ("우르릉 쾅쾅",), ("번개", "치"): ("번쩍",),
}
# Who does it changes the sound: a rabbit hops 깡충깡충, a rocket flies 슝.
BY_NAME: dict[tuple[str, str], tuple[str, ...]] = {
    ("토끼", "뛰"): ("깡충깡충", "폴짝폴짝"), ("개구리", "뛰"): ("폴짝폴짝", "팔짝"), ("로켓", "날아오르"): ("슝", "힘차게"),
    ("비행기", "날"): ("슝", "높이"), ("아기", "걷"): ("아장아장",), ("거북", "걷"): ("엉금엉금",), ("오리", "걷"): ("뒤뚱뒤뚱",),
    ("강아지", "짖"): ("멍멍", "컹컹"), ("강아지", "달려가"): ("쪼르르", "후다닥"),
}
HOT_DRINKS = ("커피", "차를", "코코아", "국", "수프", "핫초코")
# Sound words for the youngest: a book for grades 4-6 does not say them.
BABY_WORDS = {"냠냠", "까르르", "아장아장", "새근새근", "꼬옥", "콩콩", "엉엉", "뽀득뽀득", "호로록", "꿀꺽꿀꺽", "쪼르르", "랄랄라",
              "영차영차", "영차", "앙", "하암", "오물오물", "졸졸", "똑똑", "후후", "멍멍"}
SOUND_WORDS = {
    "콩콩", "후다닥", "뚜벅뚜벅", "훨훨", "까르르", "엉엉", "냠냠", "꿀꺽꿀꺽", "새근새근", "첨벙첨벙", "데굴데굴", "덩실덩실",
    "빙글빙글", "차곡차곡", "쓱쓱", "뽀득뽀득", "싹싹", "엉금엉금", "물끄러미", "두리번두리번", "꼬옥", "똑똑", "덜덜", "반짝반짝",
    "살랑살랑", "휙", "툭", "후후", "짝짝짝", "두근두근", "깡충깡충", "폴짝폴짝", "슝", "아장아장", "뒤뚱뒤뚱", "호로록", "쌩쌩",
    "팔랑팔랑", "방긋", "훌쩍훌쩍", "오물오물", "사뿐사뿐", "휘익", "바들바들", "뚝", "멍멍", "컹컹", "살살", "졸졸", "쪼르르",
    "뚝딱뚝딱", "또박또박", "씽씽", "랄랄라", "앙", "영차영차", "영차", "꾹꾹", "꼭꼭", "살금살금", "성큼성큼", "뻥", "하암",
    "요리조리", "느릿느릿", "티격태격", "팔짝", "꼬르륵", "스르르", "꾸벅꾸벅", "송골송골", "후끈", "간질간질", "사르르", "꽁꽁",
    "찔끔", "바싹", "차근차근", "하나하나", "구석구석", "알록달록", "높이높이", "털썩", "살포시", "우뚝", "덩그러니",
    "총총", "룰루랄라", "주룩주룩", "보슬보슬", "펑펑", "소복소복", "솔솔", "쨍쨍", "우르릉 쾅쾅", "번쩍", "하나둘",
}
# Feelings of the heart as older readers say them, by the adjective's stem.
RICH: dict[str, tuple[str, ...]] = {
    "기쁘": ("뛸 듯이 기뻤어요", "기쁜 마음이 가득 차올랐어요"), "궁금하": ("궁금한 마음이 무럭무럭 커졌어요", "궁금해서 눈을 반짝였어요"),
    "행복하": ("더없이 행복했어요", "행복한 마음이 가득 번졌어요"), "설레": ("가슴이 설렘으로 부풀었어요", "설레는 마음에 가슴이 두근거렸어요"),
    "뿌듯하": ("가슴이 뿌듯했어요", "뿌듯한 마음에 어깨가 으쓱했어요"), "편안하": ("마음이 한결 편안해졌어요", "편안하게 몸을 기댔어요"),
    "무섭": ("무서워서 등골이 오싹했어요", "무서운 마음에 몸이 움츠러들었어요"), "두렵": ("두려운 마음이 밀려왔어요", "두려워서 숨을 죽였어요"),
    "외롭": ("외로움이 밀려왔어요", "외로운 마음에 어깨가 축 처졌어요"), "속상하": ("속상한 마음에 어깨가 축 처졌어요", "속상해서 한숨이 나왔어요"),
    "심심하": ("하품이 나올 만큼 심심했어요", "심심해서 시간이 참 더디게 흘렀어요"), "즐겁": ("즐거운 시간을 보냈어요", "즐거워서 시간 가는 줄 몰랐어요"),
    "신나": ("신나서 어깨가 들썩였어요", "신나는 마음을 감출 수 없었어요"), "슬프": ("슬픔이 밀려왔어요", "슬퍼서 눈시울이 붉어졌어요"),
    "화나": ("얼굴이 빨개질 만큼 화가 났어요", "화가 나서 씩씩거렸어요"), "놀랍": ("놀라워서 눈이 동그래졌어요", "놀라움에 입이 떡 벌어졌어요"),
    "떨리": ("떨리는 마음에 손끝까지 떨렸어요", "가슴이 떨려 왔어요"), "씩씩하": ("씩씩하게 어깨를 폈어요", "씩씩하게 마음을 다잡았어요"),
    "신기하": ("모든 것이 신기하기만 했어요", "신기해서 눈이 휘둥그레졌어요"), "고맙": ("고마운 마음이 가득했어요",),
}
# Sound words a page for the youngest says twice over, as a refrain (깡충깡충, 깡충깡충!).
REFRAINS = {"콩콩", "깡충깡충", "폴짝폴짝", "냠냠", "첨벙첨벙", "훨훨", "데굴데굴", "뚜벅뚜벅", "뒤뚱뒤뚱", "아장아장", "엉금엉금",
            "덩실덩실", "빙글빙글", "짝짝짝", "영차영차", "뚝딱뚝딱", "멍멍", "쿵쿵", "씽씽", "쌩쌩", "팔랑팔랑"}
INTENSIFIERS = ("정말", "무척", "아주", "참")


def manner_words(lemma: str, name: str, age_rich: bool, hot: bool = False) -> tuple[str, ...]:
    """The words that may go before a verb with this stem, best first (a book for older readers leaves out baby words)."""
    for key in sorted(MANNER, key=len, reverse=True):
        if lemma.endswith(key) and (len(key) > 1 or lemma == key):
            words = next((w for (who, verb), w in BY_NAME.items() if who in name and verb == key), MANNER[key])
            if key == "마시" and hot:
                words = ("호로록", "후후 불며", "천천히")
            if age_rich:
                words = tuple(w for w in words if w not in BABY_WORDS)
            return words
    return ()


def is_sound(word: str) -> bool:
    word = word.strip(".,!?~")
    return word in SOUND_WORDS or (len(word) == 4 and word[:2] == word[2:] and all("\uac00" <= ch <= "\ud7a3" for ch in word))


def seed_of(*parts: object) -> int:
    return int(hashlib.md5("|".join(map(str, parts)).encode("utf-8")).hexdigest(), 16) % 2**32


class Choices:
    """Which wording each slot takes: the first of each (seed None), or a draw seeded for one rewrite."""

    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed) if seed is not None else None

    @property
    def first(self) -> bool:
        return self.rng is None

    def pick(self, options: Sequence[T]) -> T:
        if not options:
            raise ValueError("nothing to pick from")
        if self.rng is None or len(options) == 1:
            return options[0]
        return options[self.rng.randrange(len(options))]

    def order(self, options: Sequence[T]) -> list[T]:
        """The options, the picked one first: the others stand in when it cannot be used (a sentence said already)."""
        options = list(options)
        if not options:
            return options
        chosen = self.pick(options)
        return [chosen] + [o for o in options if o is not chosen and o != chosen]


# Words that link sentences inside a page (not a page's opening words).
INNER = ("그래서", "그리고", "그러자", "그러다", "그랬더니", "그 덕분에", "그곳에서")


def sentence_core(sentence: str) -> str:
    """A sentence without its opening connecting word and end mark, for spotting one said twice."""
    text = sentence.strip()
    for opener in sorted((*OPENERS, *INNER), key=len, reverse=True):
        if text.startswith(opener + " ") or text.startswith(opener + ","):
            text = text[len(opener):].lstrip(", ")
            break
    return text.rstrip(".!?").strip()


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


@dataclass

class Sentences:
    """One page's sentences as they are chosen: none said before in the book, the hero not named twice in a row."""

    forms: tuple[str, ...]
    said: set[str]
    choices: Choices
    sentences: list[str] = field(default_factory=list)
    named_at: int = -10

    def names(self, text: str) -> bool:
        return any(form in text for form in self.forms)

    def may_name(self) -> bool:
        """Name the hero again only after a sentence without the name."""
        return len(self.sentences) - self.named_at >= 2

    def add(self, options: str | list[str] | None, pick: bool = True) -> bool:
        """The first wording (or the one drawn) that is safe, not said already in the book, and names the hero rightly."""
        if not options:
            return False
        options = [options] if isinstance(options, str) else [o for o in options if o]
        for text in (self.choices.order(options) if pick else options):
            text = " ".join(text.split())
            if not text or not is_safe(text):
                continue
            if self.names(text) and not self.may_name():
                text = self._drop_subject(text)
                if self.names(text):
                    continue
            core = sentence_core(text)
            if core in self.said:
                continue
            if self.names(text):
                self.named_at = len(self.sentences)
            self.said.add(core)
            self.sentences.append(text[0].upper() + text[1:] if text[0].isascii() else text)
            return True
        return False

    def _drop_subject(self, text: str) -> str:
        """하은이가 넘어졌어요 (or 톰이 하은이를 안아 줬어요) right after another sentence about 하은이: the name is left unsaid."""
        for form in sorted(self.forms, key=len, reverse=True):
            for particle in ("이가", "이는", "이도", "이를", "은", "는", "이", "가", "도", "을", "를"):
                found = re.search(r"(^|(?<=\s))" + re.escape(form + particle) + r"\s", text)
                if found:
                    return text[: found.start()] + text[found.end():]
        return text

    def text(self) -> str:
        return " ".join(self.sentences)
