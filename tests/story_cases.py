"""Varied scene hints for the story tests: every form parents type, and the cases an editor flagged.

Each case is (id, hints). The first ones are the verbatim failures from the issue
("A book that reads as one story"); the rest cover dictionary forms, conjugated forms, noun
phrases, emotion nouns and adjectives, several feelings, reasons, results, guesses, companions,
places with and without particles, names of every shape.
"""
from __future__ import annotations


def _s(name: str, i_action: str, classification: str = "사회관계", **extra: str) -> dict[str, str]:
    return {"name": name, "i_action": i_action, "classification": classification, **extra}


CASES: list[tuple[str, dict[str, str]]] = [
    # The editor's verbatim failures.
    ("feeling-tasty", _s("하은", "케이크를 먹다", feeling="맛있다", setting="집")),
    ("feeling-noun-hungry", _s("토끼", "밭에 가다", "자연탐구", feeling="배고픔")),
    ("feeling-noun-joy", _s("토끼", "당근을 먹다", "자연탐구", feeling="기쁨")),
    ("two-feelings", _s("하은", "넘어지다", feeling="아프다, 슬프다")),
    ("noun-as-action", _s("토끼", "밭에 가다", "자연탐구", action="당근")),
    ("modifier-form", _s("신호등", "지키는", "의사소통")),
    ("informal-imperative", _s("늑대", "앉아", "자연탐구")),
    ("guess-plain-style", _s("늑대", "집 앞에 서다", "자연탐구", prediction="아마 집을 무너뜨릴지도 모른다")),
    ("name-everywhere", _s("하은", "공원에 가다", "신체운동_건강", action="그네를 타다, 미끄럼틀을 타다", feeling="신나다",
                           causalRelationship="날씨가 좋았다", outcomeResolution="친구를 사귀었다", prediction="내일 또 오다")),
    ("caption-given", _s("첼시", "창밖을 보다", feeling="궁금하다")),
    # Dictionary forms.
    ("dict-verb", _s("민준", "뛰어놀다", "신체운동_건강", setting="운동장")),
    ("dict-object", _s("서연", "책을 읽다", "의사소통", setting="도서관", feeling="즐겁다")),
    ("dict-motion", _s("지우", "바닷가에 가다", "자연탐구", character="아빠", feeling="설레다")),
    ("dict-adjective", _s("곰돌이", "졸리다", "신체운동_건강")),
    ("dict-hada", _s("다은", "방을 청소하다", "사회관계", character="엄마", outcomeResolution="방이 깨끗해졌다")),
    # Conjugated forms.
    ("polite-past", _s("하린", "모래성을 쌓았어요", "예술경험", setting="해변")),
    ("formal", _s("도윤", "김밥을 먹었습니다", "신체운동_건강", feeling="배부르다")),
    ("informal-past", _s("시우", "강아지랑 놀았어", "사회관계", character="강아지")),
    ("plain-past", _s("예준", "일찍 잠들었다", "신체운동_건강", feeling="피곤하다")),
    ("progressive", _s("수아", "그림을 그리고 있어요", "예술경험", feeling="행복")),
    ("future-given", _s("유나", "내일 소풍을 갈 거예요", "사회관계", feeling="설렘")),
    ("exclaim", _s("하준", "달려요!", "신체운동_건강", feeling="신나요~")),
    ("negative", _s("아기 곰", "울지 않았다", "사회관계", feeling="씩씩하다")),
    ("cannot", _s("아기 곰", "꿀을 찾지 못했다", "자연탐구", feeling="속상하다", prediction="다시 찾아보다")),
    ("quoted", _s("\"뭉치\"", "\"짖었어요\"", "의사소통")),
    # Noun phrases.
    ("nominal-gi", _s("하은", "모래성 쌓기", "예술경험", setting="바닷가")),
    ("nominal-bare-object", _s("민준", "신호등 지키기", "의사소통", feeling="뿌듯함")),
    ("verbal-noun", _s("할머니", "산책", "신체운동_건강", setting="공원", character="하은")),
    ("play-noun", _s("친구들", "숨바꼭질", "사회관계", setting="놀이터", feeling="즐거움")),
    ("activity-nouns", _s("서준", "노래", "예술경험", action="춤, 공놀이", feeling="신남")),
    ("trip-noun", _s("우리 가족", "소풍", "사회관계", setting="숲", feeling="행복함")),
    ("noun-no-action", _s("토끼", "당근", "자연탐구", feeling="기쁨")),
    ("noun-with-modifier", _s("소연", "즐거운 산책", "신체운동_건강", setting="강가")),
    # Feelings of every shape.
    ("feeling-nouns", _s("지호", "선물을 받다", "사회관계", feeling="설렘, 기쁨")),
    ("feeling-mixed", _s("하은", "동굴에 들어가다", "자연탐구", feeling="무섭다, 궁금하다")),
    ("feeling-um", _s("다람쥐", "혼자 남다", "사회관계", feeling="외로움, 두려움")),
    ("feeling-sarang", _s("엄마", "하은이를 안아 주다", "사회관계", feeling="사랑")),
    ("feeling-hogisim", _s("고양이 나비", "상자를 살펴보다", "자연탐구", feeling="호기심")),
    ("feeling-hada-noun", _s("할아버지", "의자에 앉다", "신체운동_건강", feeling="편안함, 행복")),
    ("feeling-angry", _s("동생", "장난감을 뺏기다", "사회관계", feeling="화가 나다, 속상하다")),
    ("feeling-three", _s("은우", "무대에 오르다", "예술경험", feeling="떨리다, 설레다, 기쁘다")),
    ("feeling-sleepy", _s("아기", "하품을 하다", "신체운동_건강", feeling="졸림")),
    # Reasons, results, guesses.
    ("cause-connective", _s("로운", "우산을 쓰다", "자연탐구", causalRelationship="비가 와서")),
    ("cause-noun", _s("로운", "집에 있다", "자연탐구", causalRelationship="감기")),
    ("cause-past", _s("로켓", "하늘 높이 날아오르다", "자연탐구", setting="발사대", causalRelationship="엔진에 불이 붙었다",
                      outcomeResolution="구름 위로 올라갔다")),
    ("cause-two", _s("나래", "밥을 많이 먹다", "신체운동_건강", causalRelationship="배가 고팠다, 많이 뛰었다")),
    ("outcome-noun", _s("지안", "친구와 다투다", "사회관계", character="민호", outcomeResolution="화해")),
    ("outcome-name", _s("하은", "블록을 쌓다", "예술경험", outcomeResolution="하은이가 웃었다")),
    ("prediction-subject", _s("고양이 첼시", "창밖을 바라보다", "사회관계", character="우주인 아저씨",
                              prediction="우주인 아저씨가 돌아오다")),
    ("prediction-guess", _s("준서", "하늘을 보다", "자연탐구", prediction="비가 올 것 같다")),
    ("prediction-noun", _s("준서", "씨앗을 심다", "자연탐구", prediction="새싹")),
    # Companions and places.
    ("friends-many", _s("하은", "생일 파티를 하다", "사회관계", character="엄마, 아빠, 할머니, 동생")),
    ("friend-is-lead", _s("하은", "그네를 타다", "신체운동_건강", character="하은, 민수")),
    ("place-with-particle", _s("민수", "수영을 하다", "신체운동_건강", setting="수영장에서")),
    ("places-two", _s("나비", "꽃밭을 날다", "자연탐구", setting="숲, 꽃밭", feeling="즐겁다")),
    ("time-setting", _s("별이", "별을 세다", "자연탐구", setting="밤")),
    ("place-and-motion", _s("우주인 아저씨", "우주 여행을 준비하다", "자연탐구", setting="우주 센터", feeling="설레다",
                            prediction="곧 하늘로 떠나다")),
    # Names of every shape.
    ("latin-name", _s("Tom", "공을 차다", "신체운동_건강", feeling="신나다")),
    ("vowel-name", _s("민지", "케이크를 만들다", "예술경험", character="아빠", feeling="뿌듯하다")),
    ("title-name", _s("선생님", "동화책을 읽어 주다", "의사소통", character="아이들", feeling="즐겁다")),
    ("animal-name", _s("아기 돼지", "벽돌집을 짓다", "사회관계", action="벽돌을 나르다, 지붕을 올리다",
                       outcomeResolution="집이 튼튼해졌다")),
    ("copula", _s("지우", "우주인이다", "자연탐구", prediction="달에 가다")),
    ("sound-given", _s("토끼", "깡충깡충 뛰다", "신체운동_건강", setting="풀밭")),
    ("long-hints", _s("할머니와 하은", "텃밭에서 상추와 토마토를 함께 따다", "자연탐구", setting="할머니 댁 텃밭",
                      action="물을 주다, 벌레를 잡다, 바구니에 담다", feeling="뿌듯하다, 즐겁다",
                      outcomeResolution="바구니가 가득 찼다", prediction="저녁에 샐러드를 만들어 먹다")),
    ("punctuation", _s("  하은 ", " 공원에 갔다. ", "신체운동_건강", feeling=" 기쁘다! , ", setting="공원 ,")),
    ("drink", _s("우주인 아저씨", "따뜻한 커피를 마시다", "의사소통", setting="집", feeling="편안함",
                 outcomeResolution="모두 행복해졌다")),
]
CAPTIONS: dict[str, str] = {"caption-given": "창가에 앉은 고양이"}
