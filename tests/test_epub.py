"""The read-along e-book, built for real and checked by EPUBCheck (the W3C's validator) and read back.

Each book is built once per module; EPUBCheck is Java (a few seconds a run), so it runs once per book.
"""
from __future__ import annotations

import array
import io
import json
import math
import re
import shutil
import subprocess
import unicodedata
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree

import lameenc
import pytest
from PIL import Image

from shared.audio import PageAudio, SentenceTiming
from worker.book.epub import EpubPage, EpubSpec, build_epub, clean_text

NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "x": "http://www.w3.org/1999/xhtml",
    "smil": "http://www.w3.org/ns/SMIL",
    "epub": "http://www.idpf.org/2007/ops",
}
MADE_ON = date(2025, 5, 3)
MODIFIED = datetime(2026, 11, 30, 8, 15, 0, tzinfo=UTC)
RATE = 22050
JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
TEXTS = [
    "우주인 아저씨는 우주 센터에서 우주 여행을 준비했어요. 가슴이 두근두근 설레었지요. 곧 하늘로 떠날 거예요!",
    "로켓이 발사대에서 하늘 높이 날아올랐어요. 엔진에 불이 붙었거든요.",
    "고양이 첼시는 창밖을 바라보았어요. 아저씨는 언제 돌아올까요?",
]
HOSTILE = '<script>alert("앗")</script> 엄마 & 아빠는 "최고" 라고 말했어요 🐱🚀👨‍👩‍👧 <b>굵게</b> &amp; 끝.'
LONG_SENTENCE = "하늘을 나는 고래가 노래를 불렀어요. "
GIANT_WORD = "가나다라마바사" * 160  # 1,120 letters without a space: wider than a whole page of lines


# --- fixtures: photos, tones, books ---------------------------------------------------------------


def photo(path: Path, size: tuple[int, int], colour: tuple[int, int, int], mode: str = "RGB") -> Path:
    image = Image.new(mode, size, colour if mode == "RGB" else (*colour, 160))
    for x in range(0, size[0], 40):  # a pattern, so the file is a real photo-sized JPEG, not a flat block
        image.paste((255 - colour[0], colour[1], 255 - colour[2]), (x, 0, x + 8, size[1]))
    image.save(path)
    return path


def tone(path: Path, seconds: float, pitch: float = 440.0) -> Path:
    """A sine tone of exactly `seconds`, encoded to MP3 by LAME."""
    count = round(seconds * RATE)
    samples = array.array("h", (int(9000 * math.sin(2 * math.pi * pitch * i / RATE)) for i in range(count)))
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(7)
    path.write_bytes(encoder.encode(samples.tobytes()) + encoder.flush())
    return path


def mp3_seconds(data: bytes) -> float:
    """The length of an MP3 by walking its frame headers (MPEG-1 and MPEG-2 layer III, as LAME writes)."""
    bitrates = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
                2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000)}
    position = samples = 0
    rate = RATE
    while position + 4 <= len(data):
        header = int.from_bytes(data[position:position + 4], "big")
        assert header >> 21 == 0x7FF, f"no MP3 frame at byte {position}"
        version, kbps = (header >> 19) & 3, bitrates[(header >> 19) & 3][(header >> 12) & 15]
        rate, padding = rates[version][(header >> 10) & 3], (header >> 9) & 1
        per_frame = 1152 if version == 3 else 576
        position += per_frame // 8 * kbps * 1000 // rate + padding
        samples += per_frame
    return samples / rate


def sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[.!?])\s+", text) if part]


def timed(text: str, seconds: float) -> tuple[SentenceTiming, ...]:
    """Contiguous timings covering the whole tone, each sentence's share in proportion to its letters."""
    parts = sentences(text)
    total = sum(len(p) for p in parts)
    timings, start = [], 0.0
    for number, part in enumerate(parts, start=1):
        end = seconds if number == len(parts) else round(start + seconds * len(part) / total, 3)
        timings.append(SentenceTiming(part, start, end))
        start = end
    return tuple(timings)


def narrated(index: int, image: Path, text: str, audio: Path, seconds: float, timings=None) -> EpubPage:
    tone(audio, seconds, 330 + 40 * index)
    timings = timed(text, seconds) if timings is None else timings
    return EpubPage(index, image, text, audio, PageAudio(index, audio.name, "audio/mpeg", seconds, timings))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("epub")


@pytest.fixture(scope="module")
def photos(work: Path) -> list[Path]:
    return [
        photo(work / "one.jpg", (900, 675), (210, 120, 90)),
        photo(work / "two.png", (600, 800), (40, 140, 100), mode="RGBA"),
        photo(work / "three.webp", (700, 700), (30, 60, 200)),  # neither JPEG nor PNG: converted
    ]


@pytest.fixture(scope="module")
def plain_book(work: Path, photos: list[Path]) -> Path:
    pages = [EpubPage(n, image, text) for n, (image, text) in enumerate(zip(photos, TEXTS), start=1)]
    out = work / "plain.epub"
    build_epub(EpubSpec("우주로 간 아저씨", "민준", MADE_ON, pages, "book-plain", modified=MODIFIED), out)
    return out


AUDIO_SECONDS = (6.0, 3.5, 4.25)
# Page 3's narrator respelled its first sentence, and the page text has a last line nobody read.
PAGE_THREE = TEXTS[2] + "\n끝."
PAGE_THREE_TIMINGS = (
    SentenceTiming("고양이 첼시가 창밖을 봤어요.", 0.0, 2.0),
    SentenceTiming("아저씨는 언제 돌아올까요?", 2.0, 4.25),
)


@pytest.fixture(scope="module")
def audio_book(work: Path, photos: list[Path]) -> Path:
    pages = [
        narrated(1, photos[0], TEXTS[0], work / "page-1.mp3", AUDIO_SECONDS[0]),
        narrated(2, photos[1], TEXTS[1], work / "page-2.mp3", AUDIO_SECONDS[1]),
        narrated(3, photos[2], PAGE_THREE, work / "page-3.mp3", AUDIO_SECONDS[2], PAGE_THREE_TIMINGS),
    ]
    out = work / "narrated.epub"
    spec = EpubSpec("우주로 간 아저씨", "민준", MADE_ON, pages, "book-narrated", narrator_label="기계 음성", modified=MODIFIED)
    build_epub(spec, out)
    return out


@pytest.fixture(scope="module")
def hostile_pages(work: Path, photos: list[Path]) -> list[EpubPage]:
    long_text = (LONG_SENTENCE * 300)[:5000].rstrip()
    assert len(long_text) >= 4990
    return [
        EpubPage(1, photos[0], HOSTILE),
        narrated(2, photos[1], long_text, work / "long.mp3", 30.0),
        narrated(3, photos[2], f"처음이에요. {GIANT_WORD}. 끝이에요.", work / "giant.mp3", 9.0),
        EpubPage(4, photos[1], "\x00\x01\x1f\x7f\ufffe"),  # nothing printable left: the photo alone
    ]


@pytest.fixture(scope="module")
def hostile_book(work: Path, hostile_pages: list[EpubPage]) -> Path:
    out = work / "hostile.epub"
    title = '<i>"해적" & 🏴‍☠️</i>\x00'
    spec = EpubSpec(title, "서연 & <지우>", MADE_ON, hostile_pages, "book-hostile", narrator_label='"로봇" & <목소리>',
                    modified=MODIFIED)
    build_epub(spec, out)
    return out


# --- reading the book back -----------------------------------------------------------------------


def epubcheck_command() -> list[str] | None:
    """EPUBCheck as a command: Debian installs /usr/bin/epubcheck as the jar itself, run through java."""
    found = shutil.which("epubcheck")
    if found is None:
        return None
    target = Path(found).resolve()
    if target.suffix == ".jar" or target.read_bytes()[:2] == b"PK":
        java = shutil.which("java")
        # A check is a short run: the quick (C1) compiler and the serial collector halve its time.
        return [java, *JVM_FLAGS, "-jar", str(target)] if java else None
    return [found]


def epubcheck(book: Path) -> dict:
    command = epubcheck_command()
    if command is None:
        pytest.skip("EPUBCheck is not installed (apt-get install epubcheck, as scripts/setup.sh does)")
    report = book.with_suffix(".check.json")
    subprocess.run([*command, str(book), "--json", str(report)], capture_output=True, text=True, timeout=120)
    return json.loads(report.read_text())


def problems(report: dict) -> list[str]:
    return [f"{m['severity']} {m['ID']}: {m['message']} at {[loc.get('path') for loc in m['locations']]}"
            for m in report["messages"] if m["severity"] in ("FATAL", "ERROR", "WARNING")]


def read(book: Path, name: str) -> bytes:
    with zipfile.ZipFile(book) as archive:
        return archive.read(f"OEBPS/{name}" if not name.startswith(("META-INF", "mimetype")) else name)


def xml(book: Path, name: str) -> ElementTree.Element:
    return ElementTree.fromstring(read(book, name))


def package(book: Path) -> ElementTree.Element:
    return xml(book, "package.opf")


def spine(book: Path) -> list[str]:
    opf = package(book)
    hrefs = {item.get("id"): item.get("href") for item in opf.iterfind("opf:manifest/opf:item", NS)}
    return [hrefs[ref.get("idref")] for ref in opf.iterfind("opf:spine/opf:itemref", NS)]


def meta(opf: ElementTree.Element, prop: str) -> dict[str | None, str]:
    return {m.get("refines"): m.text for m in opf.iterfind("opf:metadata/opf:meta", NS) if m.get("property") == prop}


def seconds(clock: str) -> float:
    hours, minutes, rest = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def spans(book: Path, page: str) -> dict[str, str]:
    root = xml(book, page)
    return {span.get("id"): "".join(span.itertext()) for span in root.iter(f"{{{NS['x']}}}span")}


def overlays(book: Path) -> dict[str, str]:
    """page href -> its SMIL href, from the manifest's media-overlay attributes."""
    items = {item.get("id"): item for item in package(book).iterfind("opf:manifest/opf:item", NS)}
    return {item.get("href"): items[item.get("media-overlay")].get("href") for item in items.values() if item.get("media-overlay")}


def pars(book: Path, smil: str) -> list[tuple[str, str, float, float]]:
    """(page, span id, clipBegin, clipEnd) for each <par> of a SMIL document."""
    rows = []
    for par in xml(book, smil).iter(f"{{{NS['smil']}}}par"):
        text, audio = par.find("smil:text", NS), par.find("smil:audio", NS)
        page, _, target = text.get("src").partition("#")
        rows.append((page, target, seconds(audio.get("clipBegin")), seconds(audio.get("clipEnd"))))
    return rows


def page_text(book: Path, scene: int) -> str:
    """The text of a scene across its page and any continuation pages, in spine order."""
    names = [href for href in spine(book) if re.fullmatch(rf"page-{scene}(-\d+)?\.xhtml", href)]
    paragraphs = []
    for name in names:
        story = xml(book, name).find(".//x:p[@class='story']", NS)
        paragraphs.append("".join(story.itertext()))
    return " ".join(paragraphs)


# --- tests -----------------------------------------------------------------------------------------


@pytest.mark.e2e  # EPUBCheck starts a Java VM (seconds a book): the full run, not the fast lane
def test_a_book_without_audio_passes_epubcheck_with_no_errors_or_warnings(plain_book: Path):
    report = epubcheck(plain_book)
    assert problems(report) == []
    assert report["publication"]["hasFixedFormat"] is True
    assert report["publication"]["hasAudio"] is False
    opf = package(plain_book)
    assert not meta(opf, "media:duration") and not meta(opf, "media:active-class")
    assert not overlays(plain_book)
    with zipfile.ZipFile(plain_book) as archive:
        assert not [name for name in archive.namelist() if name.endswith((".smil", ".mp3"))]


@pytest.mark.e2e
def test_a_narrated_book_passes_epubcheck_with_its_media_overlays(audio_book: Path):
    report = epubcheck(audio_book)
    assert problems(report) == []
    assert report["publication"]["hasAudio"] is True
    assert overlays(audio_book) == {f"page-{n}.xhtml": f"page-{n}.smil" for n in (1, 2, 3)}
    opf = package(audio_book)
    assert meta(opf, "media:active-class") == {None: "-epub-media-overlay-active"}
    assert meta(opf, "media:narrator") == {None: "기계 음성"}
    assert ".-epub-media-overlay-active {" in read(audio_book, "style.css").decode()


def test_the_package_declares_each_overlays_duration_as_its_audio_and_their_sum(audio_book: Path, work: Path):
    durations = meta(package(audio_book), "media:duration")
    total = seconds(durations.pop(None))
    declared = {ref: seconds(value) for ref, value in durations.items()}
    assert declared == {f"#overlay-page-{n}": pytest.approx(AUDIO_SECONDS[n - 1], abs=0.001) for n in (1, 2)} | {
        # Page 3's first timing matched nothing, so its overlay plays only the second clip.
        "#overlay-page-3": pytest.approx(AUDIO_SECONDS[2] - 2.0, abs=0.001)
    }
    assert total == pytest.approx(sum(declared.values()), abs=0.0005)
    for n in (1, 2, 3):
        data = read(audio_book, f"audio/page-{n}.mp3")
        assert data == (work / f"page-{n}.mp3").read_bytes()
        # The encoded tone is as long as its timings say, give or take LAME's frame padding.
        assert 0 <= mp3_seconds(data) - AUDIO_SECONDS[n - 1] < 0.2


def test_every_smil_text_target_is_a_span_of_its_page_read_with_its_sentences_clip(audio_book: Path):
    for page, smil in overlays(audio_book).items():
        rows = pars(audio_book, smil)
        assert rows, smil
        ids = spans(audio_book, page)
        for target_page, span, _, _ in rows:
            assert target_page == page and span in ids, (smil, span)
        scene = int(page.split("-")[1].split(".")[0])
        if scene in (1, 2):
            expected = timed(TEXTS[scene - 1], AUDIO_SECONDS[scene - 1])
            assert [(ids[span], begin, end) for _, span, begin, end in rows] == [
                (t.text, pytest.approx(t.start, abs=0.0005), pytest.approx(t.end, abs=0.0005)) for t in expected
            ]
            assert len(ids) == len(expected)  # every span has its sentence's audio


def test_sentences_the_narrator_spoke_differently_stay_on_the_page_without_audio(audio_book: Path):
    ids = spans(audio_book, "page-3.xhtml")
    # In order: the respelled sentence (no audio), the matched one, then the unread last line.
    assert list(ids.values()) == ["고양이 첼시는 창밖을 바라보았어요.", "아저씨는 언제 돌아올까요?", "끝."]
    assert [(ids[span], begin, end) for _, span, begin, end in pars(audio_book, "page-3.smil")] == [
        ("아저씨는 언제 돌아올까요?", 2.0, 4.25)
    ]
    assert b"<br/>" in read(audio_book, "page-3.xhtml")  # the parent's line break is kept


@pytest.mark.e2e
def test_hostile_text_is_escaped_kept_whole_and_the_book_still_passes_epubcheck(hostile_book: Path, hostile_pages):
    assert problems(epubcheck(hostile_book)) == []
    first = xml(hostile_book, "page-1.xhtml")
    assert first.find(".//x:script", NS) is None and first.find(".//x:b", NS) is None
    assert page_text(hostile_book, 1) == HOSTILE  # markup, quotes, ampersands and emoji as typed
    cover = xml(hostile_book, "cover.xhtml")
    assert "".join(cover.find(".//x:h1", NS).itertext()) == '<i>"해적" & 🏴‍☠️</i>'  # the NUL is gone
    assert "서연 & <지우>" in "".join(cover.itertext())
    assert meta(package(hostile_book), "media:narrator") == {None: '"로봇" & <목소리>'}
    # The 5,000-letter page and the page with a 1,120-letter word flow onto following pages, in order, whole.
    for scene in (2, 3):  # (a word split between pages has no space in it; pages are joined with one)
        assert "".join(page_text(hostile_book, scene).split()) == "".join(hostile_pages[scene - 1].text.split())
    assert len([h for h in spine(hostile_book) if h.startswith("page-2")]) >= 4
    assert len([h for h in spine(hostile_book) if h.startswith("page-3")]) >= 2
    assert spine(hostile_book)[-2:] == ["page-4.xhtml", "end.xhtml"] and spans(hostile_book, "page-4.xhtml") == {}
    assert xml(hostile_book, "page-4.xhtml").find(".//x:img", NS) is not None


def test_a_long_narrated_page_has_one_overlay_per_page_covering_all_its_audio(hostile_book: Path):
    found = overlays(hostile_book)
    for scene, length in ((2, 30.0), (3, 9.0)):
        pages = [h for h in spine(hostile_book) if re.fullmatch(rf"page-{scene}(-\d+)?\.xhtml", h)]
        assert set(pages) <= set(found)
        clips = []
        for page in pages:
            rows = pars(hostile_book, found[page])
            ids = spans(hostile_book, page)
            assert all(target == page and span in ids for target, span, _, _ in rows)
            clips += [(begin, end) for _, _, begin, end in rows]
        # The clips run back to back from the start of the tone to its end, a split sentence's included.
        assert clips[0][0] == 0 and clips[-1][1] == pytest.approx(length, abs=0.001)
        assert all(a[1] == pytest.approx(b[0], abs=0.001) for a, b in zip(clips, clips[1:]))
    durations = meta(package(hostile_book), "media:duration")
    assert seconds(durations.pop(None)) == pytest.approx(30.0 + 9.0, abs=0.002)


def test_the_cover_and_the_page_order_follow_the_spec(plain_book: Path, photos: list[Path]):
    assert spine(plain_book) == ["cover.xhtml", "page-1.xhtml", "page-2.xhtml", "page-3.xhtml", "end.xhtml"]
    cover = xml(plain_book, "cover.xhtml")
    words = " ".join("".join(cover.itertext()).split())
    assert "우주로 간 아저씨" in words and "민준" in words and "2025년 5월 3일" in words
    items = list(package(plain_book).iterfind("opf:manifest/opf:item", NS))
    cover_image = [item.get("href") for item in items if item.get("properties") == "cover-image"]
    assert cover_image == ["images/page-1.jpg"]
    assert cover.find(".//x:img", NS).get("src") == "images/page-1.jpg"
    assert read(plain_book, "images/page-1.jpg") == photos[0].read_bytes()  # used as given
    assert read(plain_book, "images/page-2.png") == photos[1].read_bytes()
    with Image.open(io.BytesIO(read(plain_book, "images/page-3.jpg"))) as converted:
        assert converted.format == "JPEG" and converted.size == (700, 700)
    for n, text in enumerate(TEXTS, start=1):
        page = xml(plain_book, f"page-{n}.xhtml")
        assert page.find(".//x:img", NS).get("src").startswith(f"images/page-{n}.")
        assert page_text(plain_book, n) == text
    titles = [a.text for a in xml(plain_book, "nav.xhtml").iterfind(".//x:nav[@epub:type='toc']//x:a", NS)]
    assert titles == ["표지", "1쪽", "2쪽", "3쪽", "끝"]


def test_the_package_is_a_fixed_layout_korean_book_with_a_stable_identifier(plain_book: Path, work: Path, photos):
    with zipfile.ZipFile(plain_book) as archive:
        first = archive.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED and not first.extra
        assert archive.read("mimetype") == b"application/epub+zip"
        assert b'full-path="OEBPS/package.opf"' in archive.read("META-INF/container.xml")
    opf = package(plain_book)
    identifier = opf.find("opf:metadata/dc:identifier", NS).text
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", identifier)
    assert opf.find("opf:metadata/dc:language", NS).text == "ko"
    assert meta(opf, "dcterms:modified") == {None: "2026-11-30T08:15:00Z"}
    assert meta(opf, "rendition:layout") == {None: "pre-paginated"}
    spreads = [ref.get("properties") for ref in opf.iterfind("opf:spine/opf:itemref", NS)]
    assert spreads == ["rendition:page-spread-center", "page-spread-left", "page-spread-right", "page-spread-left",
                       "page-spread-right"]
    for name in spine(plain_book):
        viewport = xml(plain_book, name).find(".//x:meta[@name='viewport']", NS)
        assert viewport.get("content") == "width=1000, height=1414"
    css = read(plain_book, "style.css").decode()
    assert 'src: url("fonts/book-regular.ttf")' in css
    # Rebuilt, the same book keeps its identifier (and bytes); another book gets another.
    again, other = work / "again.epub", work / "other.epub"
    pages = [EpubPage(n, image, text) for n, (image, text) in enumerate(zip(photos, TEXTS), start=1)]
    build_epub(EpubSpec("우주로 간 아저씨", "민준", MADE_ON, pages, "book-plain", modified=MODIFIED), again)
    build_epub(EpubSpec("우주로 간 아저씨", "민준", MADE_ON, pages, "book-other", modified=MODIFIED), other)
    assert again.read_bytes() == plain_book.read_bytes()
    assert package(other).find("opf:metadata/dc:identifier", NS).text != identifier


def test_the_embedded_font_is_the_pdf_font_cut_to_the_books_letters(plain_book: Path):
    from fontTools.ttLib import TTFont

    from worker.book import fonts

    regular, _ = fonts.resolve_fonts(None)
    full = TTFont(str(regular), fontNumber=0)
    embedded = TTFont(io.BytesIO(read(plain_book, "fonts/book-regular.ttf")))
    assert embedded["name"].getDebugName(1) == full["name"].getDebugName(1)
    mapped = set(embedded.getBestCmap())
    assert {ord(ch) for ch in "".join(TEXTS) if not ch.isspace()} <= mapped
    assert len(mapped) < 400 < len(full.getBestCmap())


def test_clean_text_drops_what_xml_forbids_and_keeps_emoji():
    assert clean_text("가\x00나\x07다\x1b\ufffe\uffff라\x85") == "가나다라"
    assert clean_text("👨‍👩‍👧 <b>&</b>\r\n\r\n  둘째   줄 ") == "👨‍👩‍👧 <b>&</b>\n둘째 줄"
    assert clean_text(unicodedata.normalize("NFD", "한글")) == "한글"


@pytest.mark.parametrize("text", ["설렜어요. 읽고 싶어요.", "뷁! 똠얌꿍을 먹었어요."], ids=["common letters", "a rare syllable"])
def test_a_books_font_is_the_same_whether_cut_from_the_common_letters_or_the_whole_face(text):
    """Common letters are cut from a cached smaller face, rare ones (뷁) from the whole face: both map every letter."""
    from fontTools.ttLib import TTFont

    from worker.book import fonts
    from worker.book.epub import fonts as epub_fonts

    regular, _ = fonts.resolve_fonts(None)
    wanted = {ord(ch) for ch in text}
    assert (wanted <= epub_fonts.COMMON) is (text.startswith("설"))
    cut = epub_fonts._subset(regular, wanted)
    mapped = set(TTFont(io.BytesIO(cut)).getBestCmap())
    assert wanted - {ord(" ")} <= mapped
    assert epub_fonts._subset(regular, wanted) == cut  # the same letters give the same bytes
