"""A synthetic AI Hub "동화 삽화 생성 데이터" folder: small images and annotations in the real layout.

The real data set cannot be shipped or downloaded here, so the tests and the walkthrough in docs/models.md
build, train and evaluate on these instead. Each page is an image `<id>.jpg` and an annotation
`<id>.json` named like the real files (`03_01T_01S_9788959991051_57122`: series, type, age band
01S/02S/03S, ISBN, page), with the fields the data set builder reads and a few it ignores.
The paragraphs are short Korean picture-book text with correct particles, made from the same
hints the annotation holds; some carry quotes and symbols that the target cleaning removes.

    talesrunner dataset fixtures DIR [--rows N] [--no-bad]
"""
from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from shared.vocabulary import obj, subject, topic, with_
from shared.synthetic import upright_picture
from training import aihub
from training.build import FIXTURE_MARKER
from training.rows import DatasetRow, clean_target

PROTAGONISTS = ("토끼", "다람쥐", "곰돌이", "아기 고양이", "강아지 콩이", "민지", "준호", "할머니", "아기 오리", "거북이")
FRIENDS = ("다람쥐", "토끼", "엄마", "친구들", "아빠", "동생")


@dataclass(frozen=True)
class Scene:
    """One kind of page: the hints, in annotation form and as the clauses of its paragraph."""

    i_action: str
    did: str  # the action as a past polite clause
    setting: str
    classification: str
    feeling: str
    felt: str
    cause: str
    outcome: str
    prediction: str
    thing: str


SCENES = (
    Scene("도토리를 줍다", "도토리를 주웠어요", "숲", "자연탐구", "기쁘다", "기뻤어요",
          "겨울이 오기 전에 먹을 것을 모아야 했다", "바구니가 도토리로 가득 찼다", "겨우내 배부르게 지내다", "바구니"),
    Scene("비눗방울을 불다", "비눗방울을 불었어요", "공원", "예술경험", "신나다", "신났어요",
          "바람이 솔솔 불었다", "비눗방울이 하늘 높이 날아갔다", "내일도 공원에 오다", "비눗방울"),
    Scene("모래성을 쌓다", "모래성을 쌓았어요", "바닷가", "신체운동_건강", "뿌듯하다", "뿌듯했어요",
          "파도가 멀리 물러났다", "커다란 모래성이 완성되었다", "파도가 모래성을 데려가다", "모래성"),
    Scene("그림책을 읽다", "그림책을 읽었어요", "도서관", "의사소통", "즐겁다", "즐거웠어요",
          "비가 와서 밖에 나갈 수 없었다", "새로운 낱말을 많이 알게 되었다", "다음에 또 책을 빌리다", "그림책"),
    Scene("인사를 나누다", "반갑게 인사를 나누었어요", "유치원", "사회관계", "설레다", "설렜어요",
          "새 친구가 전학을 왔다", "둘은 금세 친해졌다", "함께 놀이터에서 놀다", "이름표"),
    Scene("꽃에 물을 주다", "꽃에 물을 주었어요", "꽃밭", "자연탐구", "행복하다", "행복했어요",
          "며칠 동안 비가 오지 않았다", "시들었던 꽃이 다시 고개를 들었다", "꽃이 활짝 피다", "물뿌리개"),
    Scene("자전거를 타다", "자전거를 탔어요", "놀이터", "신체운동_건강", "용감하다", "용감했어요",
          "보조 바퀴를 떼었다", "처음으로 혼자 끝까지 달렸다", "더 먼 곳까지 달려 보다", "자전거"),
    Scene("노래를 부르다", "노래를 불렀어요", "무대", "예술경험", "떨리다", "떨렸어요",
          "학예회 날이 되었다", "모두가 큰 박수를 쳐 주었다", "다음에는 춤도 추다", "마이크"),
    Scene("케이크를 만들다", "케이크를 만들었어요", "부엌", "사회관계", "설레다", "설렜어요",
          "오늘은 엄마의 생일이었다", "달콤한 케이크가 완성되었다", "엄마가 깜짝 놀라다", "케이크"),
    Scene("별을 세다", "밤하늘의 별을 세었어요", "마당", "자연탐구", "평온하다", "평온했어요",
          "구름 한 점 없는 밤이었다", "반짝이는 별똥별을 보았다", "소원이 이루어지다", "망원경"),
)
AGE_CODES = ("01S", "02S", "03S")
# Text the original's cleaning removes (quotes, notes, hearts) and keeps (.,?!).
DECORATIONS = ("“와, 정말 멋지다!” ", "♪ ", "", "", "(정말이에요) ", "")


def paragraph(name: str, friend: str, scene: Scene, rng: random.Random) -> str:
    """A short page of picture-book text for these hints."""
    opening = rng.choice(("어느 날, ", "오늘은 ", "아침부터 ", "해가 질 무렵, "))
    first = f"{opening}{scene.setting}에서 {subject(name)} {with_(friend)} 함께 {scene.did}."
    why = f"{scene.cause.removesuffix('다')}거든요." if rng.random() < 0.5 else ""
    then = f"{topic(name)} {obj(scene.thing)} 꼭 쥐고 {scene.felt}."
    # Every outcome is a plain past sentence (…았다/었다): its polite form ends in …어요.
    ending = f"마침내 {scene.outcome.removesuffix('다')}어요."
    decoration = rng.choice(DECORATIONS)
    return " ".join(part for part in (decoration + first, why, then, ending) if part)


def page_id(number: int, pages_per_book: int = 1) -> str:
    """A file id shaped like the real ones: series_type_ageband_ISBN_page; pages `pages_per_book` at a
    time share a book (its ISBN, series and age band)."""
    book = number // max(1, pages_per_book)
    series = 1 + book % 5
    isbn = f"97889{(5999105 + book * 7919) % 10**7:07d}{book % 10}"
    return f"{series:02d}_01T_{AGE_CODES[book % 3]}_{isbn}_{57000 + number * 3}"


def annotation(page: str, name: str, friend: str, scene: Scene, text: str) -> dict:
    """The JSON of one page, in the data set's layout (with some fields the builder does not read)."""
    return {
        "bookInfo": {"isbn": page.split("_")[3], "readAge": page.split("_")[2], "title": f"{name}의 하루"},
        "imageInfo": [{
            "imageId": page,
            "pageNum": int(page.rsplit("_", 1)[1]) % 100,
            "srcText": text,
            "entity": [{"name": name, "i_action": scene.i_action, "bbox": [12, 8, 40, 36]}],
            "imageCaptionInfo": {"classification": scene.classification, "imageCaption": ""},
            "character": friend,
            "setting": scene.setting,
            "action": f"{scene.thing} 들기",
            "feeling": scene.feeling,
            "causalRelationship": scene.cause,
            "outcomeResolution": scene.outcome,
            "prediction": scene.prediction,
        }],
    }


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    upright_picture(64, 48, seed=seed).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def write_fixtures(directory: str | Path, rows: int = 40, bad: bool = True, seed: int = 7, pages_per_book: int = 1) -> Path:
    """Write `rows` good pages (and, with `bad`, one page of each bad kind) under DIR/; returns DIR.

    `pages_per_book` consecutive pages share a book (an ISBN in their ids), as in the real data set;
    1 (the default) makes every page a book of its own."""
    root = Path(directory)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / FIXTURE_MARKER).write_text("made by training.fixtures: synthetic pages, not AI Hub data\n", encoding="utf-8")
    rng = random.Random(seed)
    for number in range(rows):
        name = PROTAGONISTS[number % len(PROTAGONISTS)]
        scene = SCENES[(number * 3 + number // len(SCENES)) % len(SCENES)]
        friend = next(f for f in rng.sample(FRIENDS, 2) if f != name)
        page = page_id(number, pages_per_book)
        text = paragraph(name, friend, scene, rng)
        (root / "images" / f"{page}.jpg").write_bytes(_jpeg(number))
        (root / "labels" / f"{page}.json").write_text(
            json.dumps(annotation(page, name, friend, scene, text), ensure_ascii=False, indent=1), encoding="utf-8"
        )
    if bad:
        _write_bad(root, rows, rng, pages_per_book)
    return root


def _write_bad(root: Path, start: int, rng: random.Random, pages_per_book: int = 1) -> None:
    """One page of each kind the builder must count and skip."""
    scene = SCENES[0]
    good = lambda number: annotation(page_id(number, pages_per_book), "토끼", "엄마", scene,  # noqa: E731
                                     paragraph("토끼", "엄마", scene, rng))
    broken, nameless, unreadable, imageless, textless = (page_id(start + i, pages_per_book) for i in range(5))
    (root / "labels" / f"{broken}.json").write_text('{"imageInfo": [{"srcText": "끝나지 않은', encoding="utf-8")
    (root / "images" / f"{broken}.jpg").write_bytes(_jpeg(1))
    missing_name = good(start + 1)
    missing_name["imageInfo"][0]["entity"] = []
    (root / "labels" / f"{nameless}.json").write_text(json.dumps(missing_name, ensure_ascii=False), encoding="utf-8")
    (root / "images" / f"{nameless}.jpg").write_bytes(_jpeg(2))
    (root / "labels" / f"{unreadable}.json").write_text(json.dumps(good(start + 2), ensure_ascii=False), encoding="utf-8")
    (root / "images" / f"{unreadable}.jpg").write_bytes(b"not a jpeg at all")
    (root / "labels" / f"{imageless}.json").write_text(json.dumps(good(start + 3), ensure_ascii=False), encoding="utf-8")
    empty_text = good(start + 4)
    empty_text["imageInfo"][0]["srcText"] = "♥ ♥ ♥"
    (root / "labels" / f"{textless}.json").write_text(json.dumps(empty_text, ensure_ascii=False), encoding="utf-8")
    (root / "images" / f"{textless}.jpg").write_bytes(_jpeg(3))


def fixture_rows(directory: str | Path, count: int, one_sentence: bool = True) -> list[DatasetRow]:
    """Data set rows made straight from synthetic pages, with short made-up captions instead of a captioner's
    and (with `one_sentence`) only the first sentence as target, quick to learn: for the training tests
    and the training benchmark."""
    root = write_fixtures(Path(directory) / "aihub", rows=count, bad=False)
    pages = [item for item in aihub.scan(root) if isinstance(item, aihub.Page)]
    rows = []
    for page in pages:
        target = clean_target(page.src_text)
        target = target.split(". ")[0] + "." if one_sentence else target
        rows.append(DatasetRow(
            id=page.id, age_band=page.age_band, caption=f"아이가 {page.optional['setting']}에서 놀고 있다",
            caption_lang="ko", caption_en=None, caption_source="test", name=page.name, i_action=page.i_action,
            classification=page.classification, target=target, image=page.image.name, **page.optional,
        ))
    return rows
