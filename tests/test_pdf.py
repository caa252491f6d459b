"""The book PDF, rendered for real and read back with poppler (pdfinfo, pdffonts, pdftotext, pdfimages, pdftoppm)."""
from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageStat

from shared import synthetic
from talesrunner import samples
from worker.book import fonts, pdf, photos
from worker.book.pdf import LAYOUTS, BookSpec, Page, render_book

MADE_ON = date(2025, 5, 3)
# Long enough to wrap over several lines at the starting size, short enough to fit without shrinking much.
TEXTS = [
    "우주인 아저씨는 우주 센터에서 우주 여행을 준비했어요. 가슴이 두근두근 설레었지요. 곧 하늘로 떠날 거예요!",
    "로켓이 발사대에서 하늘 높이 날아올랐어요. 엔진에 불이 붙었거든요. 로켓은 구름 위로 올라갔답니다.",
    "고양이 첼시는 창밖을 바라보았어요. 우주인 아저씨가 어디 있는지 궁금했어요. 아저씨는 언제 돌아올까요?",
    "우주인 아저씨는 집에서 따뜻한 커피를 마셨어요. 마음이 편안했어요. 그래서 모두 행복해졌답니다.",
]
MARKUP = "<b>&amp;</b> < > & <font size=40>"
PAPER_RGB = tuple(round(v * 255) for v in pdf.PAPER.rgb())


def run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True).stdout


def page_text(path: Path, page: int) -> str:
    return run("pdftotext", "-f", page, "-l", page, "-layout", path, "-")


def flat(text: str) -> str:
    return " ".join(text.split())


def pdf_info(path: Path) -> dict[str, str]:
    lines = run("pdfinfo", path).splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}


def pdf_fonts(path: Path) -> list[dict[str, str]]:
    rows = run("pdffonts", path).splitlines()[2:]
    return [dict(zip(("name", "emb", "sub", "uni"), (r.split()[0], *r.split()[-5:-2]))) for r in rows]


def pdf_images(path: Path) -> list[dict[str, str]]:
    lines = run("pdfimages", "-list", path).splitlines()
    header = lines[0].split()
    return [dict(zip(header, line.split())) for line in lines[2:]]


def render_png(path: Path, page: int, dpi: int, out: Path) -> Image.Image:
    prefix = out / f"page{page}-{dpi}"
    run("pdftoppm", "-r", dpi, "-png", "-f", page, "-l", page, "-singlefile", path, prefix)
    return Image.open(prefix.with_suffix(".png")).convert("RGB")


def region(image: Image.Image, page_size: tuple[float, float], box_pt: tuple[float, float, float, float]) -> Image.Image:
    """Crop a region given in PDF points (origin bottom left) out of a rendered page."""
    sx, sy = image.width / page_size[0], image.height / page_size[1]
    x0, y0, x1, y1 = box_pt
    return image.crop((round(x0 * sx), round(image.height - y1 * sy), round(x1 * sx), round(image.height - y0 * sy)))


def dark_share(image: Image.Image, below: int = 120) -> float:
    grey = image.convert("L")
    return sum(grey.histogram()[:below]) / (grey.width * grey.height)


@pytest.fixture(scope="session")
def sample_photos(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("samples")
    paths = []
    for name in samples.PHOTOS:
        path = folder / f"{name}.jpg"
        path.write_bytes(samples.photo_bytes(name))
        paths.append(path)
    return paths


def sample_spec(photo_paths: list[Path], texts: list[str] = TEXTS, **overrides) -> BookSpec:
    pages = [Page(index=i + 1, image_path=p, text=t) for i, (p, t) in enumerate(zip(photo_paths, texts))]
    fields = {"title": samples.TITLE, "protagonist": "우주인 아저씨", "made_on": MADE_ON, "pages": pages}
    return BookSpec(**{**fields, **overrides})


@pytest.fixture(scope="module")
def sample_book(sample_photos, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("book")
    out = folder / "book.pdf"
    render_book(sample_spec(sample_photos), out, folder / "print")
    return out


@pytest.fixture(scope="session")
def phone_photos(tmp_path_factory) -> list[Path]:
    """Ten 12-megapixel phone JPEGs; portraits (EXIF 6, 8) are stored sideways as phones do.

    Covered in fine speckles that survive scaling down, the worst case for the book's size.
    """
    folder = tmp_path_factory.mktemp("phone")
    paths = []
    for i, orientation in enumerate((1, 6, 3, 8, 1, 6, 1, 8, 3, 1)):
        size = (3000, 4000) if orientation in (6, 8) else (4000, 3000)
        path = folder / f"IMG_{i:04d}.jpg"
        path.write_bytes(synthetic.phone_jpeg(*size, seed=i, orientation=orientation, texture=True))
        paths.append(path)
    return paths


def test_pages_metadata_and_language(sample_book):
    info = pdf_info(sample_book)
    assert int(info["Pages"]) == len(TEXTS) + 2  # the cover, one page per scene, the end
    assert info["Title"] == samples.TITLE
    assert info["Author"] == "TalesRunner"
    assert info["Subject"] == "우주인 아저씨의 그림책"
    assert info["Page size"].startswith("419.528 x 595.276")  # A5
    assert b"/Lang (ko)" in sample_book.read_bytes()


def test_every_font_is_an_embedded_subset_with_unicode_map(sample_book):
    found = pdf_fonts(sample_book)
    assert found, "no fonts at all"
    for font in found:
        assert (font["emb"], font["sub"], font["uni"]) == ("yes", "yes", "yes"), font
        assert "+Nanum" in font["name"], font  # a subset tag, and the Korean font, not Helvetica


def test_cover_has_title_protagonist_and_date(sample_book):
    cover = flat(page_text(sample_book, 1))
    assert samples.TITLE in cover and "우주인 아저씨" in cover and "2025년 5월 3일" in cover


def test_each_paragraph_comes_back_whole_on_its_page_with_a_page_number(sample_book):
    for number, text in enumerate(TEXTS, start=1):
        extracted = page_text(sample_book, number + 1)
        assert flat(text) in flat(extracted)
        assert extracted.split()[-1] == str(number)  # numbered from the first scene; the cover has none


def test_lines_break_between_words_never_inside_one(sample_book):
    for number, text in enumerate(TEXTS, start=1):
        words = set(text.split())
        lines = [line.split() for line in page_text(sample_book, number + 1).splitlines() if line.strip()]
        assert len(lines) >= 3  # the paragraph did wrap, so there were line breaks to get wrong
        for line in lines[:-1]:  # the last line is the page number
            assert set(line) <= words, f"a word was cut at a line end: {line}"


def test_markup_characters_in_every_field_print_literally(sample_photos, tmp_path):
    out = tmp_path / "markup.pdf"
    spec = sample_spec(sample_photos[:2], [MARKUP + " 첼시", "첼시 " + MARKUP], title=MARKUP, protagonist=MARKUP)
    render_book(spec, out, tmp_path / "print")
    cover, first, second = (flat(page_text(out, n)) for n in (1, 2, 3))
    assert cover.count(MARKUP) == 2  # the title and the protagonist
    assert MARKUP + " 첼시" in first and "첼시 " + MARKUP in second
    assert pdf_info(out)["Title"] == MARKUP


def test_to_markup_escapes_keeps_line_breaks_and_drops_control_characters():
    assert pdf.to_markup("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert pdf.to_markup("첫 줄\r\n\n\n둘째   줄\x00\x07") == "첫 줄<br/>둘째 줄"
    assert pdf.to_markup(" \n\t ") == ""


def test_to_markup_sets_missing_letters_in_the_fallback_font_and_drops_undrawable_ones():
    korean = {ord(ch) for ch in "첼시 ab<>"}
    markup = pdf.to_markup("첼시 Chloé  🐱 a<b", korean, ("Latin", {ord(ch) for ch in "Chloé"}))
    assert markup == '첼시 <font face="Latin">Chloé</font> a&lt;b'  # the emoji and its extra space are gone
    assert pdf.to_markup("zero\u200bwidth\u202e text") == "zerowidth text"  # format characters never print


def test_letters_the_korean_font_lacks_and_emoji_keep_the_text_whole(sample_photos, tmp_path):
    out = tmp_path / "mixed.pdf"
    text = "Chloé와 Zoë는 🐱 고양이를 좋아해요 🎈 정말로요."
    render_book(sample_spec(sample_photos[:1], [text], protagonist="Chloé 🐾"), out, tmp_path / "print")
    assert "Chloé와 Zoë는 고양이를 좋아해요 정말로요." in flat(page_text(out, 2))
    assert "Chloé" in flat(page_text(out, 1))
    for font in pdf_fonts(out):
        assert (font["emb"], font["sub"]) == ("yes", "yes"), font


def test_pages_are_not_blank_where_the_photo_and_text_should_be(sample_book, tmp_path):
    # The story page: the picture edge to edge over the top (at least picture_min of the page),
    # the paragraph on the paper band below it, between the band's wide margins.
    layout = LAYOUTS["A5"]
    size, measure = (layout.width, layout.height), layout.type_for(None).measure
    side = (layout.width - measure) / 2
    band_top = layout.height * (1 - layout.picture_min)
    page = render_png(sample_book, 2, 50, tmp_path)
    photo = region(page, size, (0, band_top + layout.wave, layout.width, layout.height))
    assert max(ImageStat.Stat(photo).stddev) > 30  # a picture, not an empty frame
    text = region(page, size, (side, layout.folio, layout.width - side, band_top - layout.pad_top))
    assert 0.01 < dark_share(text) < 0.4  # ink of letters on paper
    margin = region(page, size, (0, layout.folio, side * 0.8, layout.height * (1 - layout.picture_max)))
    assert all(abs(low - paper) <= 3 and abs(high - paper) <= 3  # the margins stay clean paper
               for (low, high), paper in zip(ImageStat.Stat(margin).extrema, PAPER_RGB))

    cover = render_png(sample_book, 1, 50, tmp_path)
    corner = ImageStat.Stat(region(cover, size, (layout.width * 0.3, layout.height - 20, layout.width * 0.5, layout.height - 10))).mean
    assert corner[0] > corner[2] + 10  # warm cream paper under the title, not white
    title = region(cover, size, (20, layout.height * 0.78, layout.width - 20, layout.height * 0.95))
    assert dark_share(title, 160) > 0.01
    picture = region(cover, size, (0, 0, layout.width, layout.height * 0.6))
    assert max(ImageStat.Stat(picture).stddev) > 30  # the first picture, large, below the title


def test_odd_image_modes_render(tmp_path):
    rgba = Image.new("RGBA", (800, 600), (0, 0, 0, 0))
    rgba.paste((220, 30, 30, 255), (0, 0, 400, 600))  # left half red, right half transparent
    ramp = Image.new("I;16", (800, 600))
    ramp.putdata([x * 65535 // 799 for _ in range(600) for x in range(800)])
    sources = {
        "rgba.png": (rgba, "PNG"),
        "cmyk.jpg": (Image.new("CMYK", (800, 600), (0, 200, 200, 0)), "JPEG"),
        "grey.jpg": (Image.linear_gradient("L").resize((800, 600)), "JPEG"),
        "deep.png": (ramp, "PNG"),
        "palette.png": (rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
    }
    paths = []
    for name, (image, fmt) in sources.items():
        image.save(tmp_path / name, fmt)
        paths.append(tmp_path / name)
    out = tmp_path / "modes.pdf"
    render_book(sample_spec(paths, [f"{name} 사진이에요." for name in sources]), out, tmp_path / "print")
    scenes = [image for image in pdf_images(out) if 2 <= int(image["page"]) <= len(sources) + 1]
    assert [image["color"] for image in scenes] == ["rgb", "rgb", "gray", "gray", "rgb"]

    layout = LAYOUTS["A5"]
    size = (layout.width, layout.height)
    page = render_png(out, 2, 60, tmp_path)
    middle = layout.height * 0.75  # in the picture, which spans the page's width
    left = ImageStat.Stat(region(page, size, (10, middle - 10, 40, middle + 10))).mean
    right = ImageStat.Stat(region(page, size, (layout.width - 40, middle - 10, layout.width - 10, middle + 10))).mean
    assert left[0] > 180 and left[1] < 80  # red
    assert min(right) > 240  # transparency printed as white paper, not black

    deep = render_png(out, 5, 60, tmp_path)
    ramp_left = ImageStat.Stat(region(deep, size, (10, middle - 10, 40, middle + 10))).mean
    ramp_right = ImageStat.Stat(region(deep, size, (layout.width - 40, middle - 10, layout.width - 10, middle + 10))).mean
    assert ramp_left[0] < 60 and ramp_right[0] > 190  # 16-bit tones kept, not clipped to white


@pytest.mark.e2e  # ten 12-megapixel photos made and printed (seconds): the full run, not the fast lane
def test_ten_scenes_of_12_megapixel_photos_stay_small_sharp_and_upright(phone_photos, tmp_path):
    out = tmp_path / "phone.pdf"
    texts = [f"{i}번째 장면이에요. 첼시는 오늘도 신나게 놀았어요." for i in range(1, 11)]
    report = render_book(sample_spec(phone_photos, texts), out, tmp_path / "print")
    assert out.stat().st_size < 6_000_000
    assert int(pdf_info(out)["Pages"]) == 12 and report.pages == 12  # the cover, ten scenes, the end

    images = pdf_images(out)
    # One picture per scene; the cover shows part of the first, the end part of the last (the same copies).
    assert [int(image["page"]) for image in images] == list(range(1, 13))
    assert report.photos_made == 10 and len(set(report.photo_files)) == 10
    layout = LAYOUTS["A5"]
    box = (photos.pixels_for(layout.width), photos.pixels_for(layout.height * layout.picture_max))
    for image in images:
        width, height = int(image["width"]), int(image["height"])
        assert width <= box[0] and height <= box[1], image  # never the 4000x3000 original
        assert 150 <= int(image["x-ppi"]) <= 200, image  # print resolution at the drawn size

    # Portraits and landscapes alike were turned upright, then cut to the page's shape around
    # their middle: the red disc drawn at the top left is still there.
    run("pdfimages", "-j", out, tmp_path / "img")
    extracted = sorted(tmp_path.glob("img-*.jpg"))
    assert len(extracted) == 12
    for path in extracted:
        with Image.open(path) as image:
            corner = np.asarray(image.convert("RGB").crop((0, 0, image.width // 3, image.height // 3))).astype(int)
            red = ((corner[..., 0] > 180) & (corner[..., 1] < 80) & (corner[..., 2] < 80)).mean()
            assert red > 0.1, (path.name, red)


def test_rebuild_after_a_page_edit_reuses_the_scaled_photos(sample_photos, tmp_path, monkeypatch):
    cache = tmp_path / "print"
    texts = ["첫 장면이에요."] * len(sample_photos)
    first = render_book(sample_spec(sample_photos, texts), tmp_path / "first.pdf", cache)
    assert first.photos_made == len(sample_photos) and first.photos_reused == 0  # the cover and the end share the scenes' copies
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}

    def no_decoding(*_args, **_kwargs):
        raise AssertionError("a photo was decoded again on rebuild")

    monkeypatch.setattr(photos, "_decode_scaled", no_decoding)
    edited = [*texts[:3], "고친 문장: 첼시가 별을 셌어요.", *texts[4:]]
    again = render_book(sample_spec(sample_photos, edited), tmp_path / "again.pdf", cache)
    assert again.photos_made == 0 and again.photos_reused == len(sample_photos)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    assert "고친 문장: 첼시가 별을 셌어요." in flat(page_text(tmp_path / "again.pdf", 5))


def test_square_page_size_gets_its_own_photo_sizes(sample_photos, tmp_path):
    cache = tmp_path / "print"
    render_book(sample_spec(sample_photos), tmp_path / "a5.pdf", cache, page_size="A5")
    a5_files = set(cache.iterdir())
    report = render_book(sample_spec(sample_photos), tmp_path / "square.pdf", cache, page_size="square")
    assert report.photos_made == len(sample_photos) and report.photos_reused == 0
    assert set(report.photo_files).isdisjoint(a5_files)
    assert pdf_info(tmp_path / "square.pdf")["Page size"].startswith("566.929 x 566.929")
    with pytest.raises(ValueError, match="page size"):
        render_book(sample_spec(sample_photos), tmp_path / "x.pdf", cache, page_size="letter")


def test_a_longer_paragraph_shrinks_to_stay_on_its_page(sample_photos, tmp_path):
    long = " ".join(["첼시는 창밖의 별을 하나씩 세며 우주인 아저씨를 기다렸어요."] * 5)  # ~170 syllables
    out = tmp_path / "long.pdf"
    render_book(sample_spec(sample_photos[:1], [long]), out, tmp_path / "print")
    assert int(pdf_info(out)["Pages"]) == 3  # the cover, the scene, the end
    assert flat(long) in flat(page_text(out, 2))


def test_a_paragraph_too_long_for_one_page_continues_on_the_next(sample_photos, tmp_path):
    sentences = [f"{i}번째 문장에서 첼시는 새로운 별을 찾았어요." for i in range(1, 61)]  # ~1,500 characters
    out = tmp_path / "flow.pdf"
    render_book(sample_spec(sample_photos[:2], [" ".join(sentences), "마지막 장면이에요."]), out, tmp_path / "print")
    pages = int(pdf_info(out)["Pages"])
    assert pages >= 5  # cover, the scene, at least one continuation, the second scene, the end
    assert flat(page_text(out, pages)).startswith("끝")
    texts = [page_text(out, n) for n in range(2, pages)]
    numbers = [text.split()[-1] for text in texts]
    assert numbers == [str(n) for n in range(1, pages - 1)]
    body = flat(" ".join(" ".join(text.split()[:-1]) for text in texts[:-1]))
    assert body == flat(" ".join(sentences))  # every word, in order, none cut
    assert "마지막 장면이에요." in flat(texts[-1])


def test_a_single_word_longer_than_a_line_wraps_inside_the_page(sample_photos, tmp_path):
    word = "가나다라마바사아자차카타파하" * 6  # 84 syllables, no space anywhere
    out = tmp_path / "word.pdf"
    render_book(sample_spec(sample_photos[:1], [f"첼시가 외쳤어요. {word}!"]), out, tmp_path / "print")
    layout = LAYOUTS["A5"]
    bbox = run("pdftotext", "-f", 2, "-l", 2, "-bbox", out, "-")
    right_edges = [float(part.split('"')[1]) for part in bbox.split("xMax=")[1:]]
    assert right_edges and max(right_edges) <= (layout.width + layout.type_for(None).measure) / 2 + 1
    assert word in "".join(page_text(out, 2).split())


def test_default_title_comes_from_the_protagonist(sample_photos, tmp_path):
    out = tmp_path / "untitled.pdf"
    render_book(sample_spec(sample_photos[:1], title="  ", protagonist="고양이 첼시"), out, tmp_path / "print")
    assert pdf_info(out)["Title"] == "고양이 첼시의 이야기"
    assert "고양이 첼시의 이야기" in flat(page_text(out, 1))


def test_progress_is_reported_per_scene(sample_photos, tmp_path):
    seen: list[tuple[int, int]] = []
    render_book(sample_spec(sample_photos), tmp_path / "p.pdf", tmp_path / "print", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(n, len(TEXTS)) for n in range(1, len(TEXTS) + 1)]


# Fonts -------------------------------------------------------------------------------------------


def test_default_font_is_nanum_with_its_bold_face():
    regular, bold = fonts.resolve_fonts(None)
    assert (regular.name, bold.name) == ("NanumBarunGothic.ttf", "NanumBarunGothicBold.ttf")


def test_rare_syllables_are_drawn_not_left_blank(sample_photos, tmp_path):
    # 렜 (in 설렜어요, which the template writer produces) and 갂, 갅 are outside KS X 1001's 2,350
    # syllables; fonts made for it map them to empty glyphs: gaps on paper, while pdftotext looks fine.
    out = tmp_path / "rare.pdf"
    render_book(sample_spec(sample_photos[:1], ["렜렜렜 갂갂갂 갅갅갅"]), out, tmp_path / "print")
    assert "렜렜렜 갂갂갂 갅갅갅" in flat(page_text(out, 2))
    layout = LAYOUTS["A5"]
    page = render_png(out, 2, 100, tmp_path)
    side = (layout.width - layout.type_for(None).measure) / 2
    text_top = layout.height * (1 - layout.picture_max)
    text = region(page, (layout.width, layout.height), (side, layout.folio, layout.width - side, text_top))
    assert dark_share(text) > 0.005  # ink where the nine syllables are


def test_configured_font_is_used(sample_photos, tmp_path):
    out = tmp_path / "gothic.pdf"
    render_book(sample_spec(sample_photos[:1]), out, tmp_path / "print", font_path=str(fonts.SYSTEM_FONT_DIR / "NanumGothic.ttf"))
    assert {font["name"].split("+")[1] for font in pdf_fonts(out)} == {"NanumGothic"}


def test_missing_configured_font_is_a_clear_error_and_no_pdf_is_written(sample_photos, tmp_path):
    out = tmp_path / "none.pdf"
    with pytest.raises(fonts.FontError, match="TALES_FONT .*nope.ttf does not exist.*fonts-nanum"):
        render_book(sample_spec(sample_photos[:1]), out, tmp_path / "print", font_path=str(tmp_path / "nope.ttf"))
    assert not out.exists()


def test_no_korean_font_on_the_machine_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts, "SYSTEM_FONT_DIR", tmp_path / "no-fonts")
    monkeypatch.setattr(fonts, "PACKAGE_FONT_DIR", tmp_path / "no-package-fonts")
    monkeypatch.setattr(fonts, "_fontconfig_korean", lambda: [])
    with pytest.raises(fonts.FontError, match=r"no Korean TrueType font found: install .*fonts-nanum.* or set TALES_FONT"):
        fonts.resolve_fonts(None)


def test_cff_opentype_font_is_refused_with_the_reason(tmp_path):
    otf = tmp_path / "NotoSansKR-Regular.otf"
    # The start of an OpenType-CFF file: 'OTTO', 10 tables (search fields), then a 'CFF ' table record.
    otf.write_bytes(b"OTTO" + bytes.fromhex("000a 0080 0003 0020") + b"CFF " + bytes(64))
    with pytest.raises(fonts.FontError, match="CFF .*cannot embed.*TrueType"):
        fonts.resolve_fonts(str(otf))


def test_font_without_hangul_is_refused(tmp_path):
    latin = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not latin.is_file():
        pytest.skip("DejaVu is not installed here")
    with pytest.raises(fonts.FontError, match="no Hangul"):
        fonts.resolve_fonts(str(latin))


def test_font_that_draws_only_part_of_hangul_is_refused():
    partial = fonts.SYSTEM_FONT_DIR / "NanumSquareRoundR.ttf"
    if not partial.is_file():
        pytest.skip("NanumSquareRound is not installed here")
    with pytest.raises(fonts.FontError, match="draws only 2479 of the 11172 Hangul syllables"):
        fonts.resolve_fonts(str(partial))


def test_a_refused_system_font_falls_through_to_the_next(tmp_path, monkeypatch):
    folder = tmp_path / "nanum"
    folder.mkdir()
    (folder / "NanumBarunGothic.ttf").write_bytes(b"OTTO" + bytes(64))  # broken first choice
    (folder / "NanumGothic.ttf").symlink_to(fonts.SYSTEM_FONT_DIR / "NanumGothic.ttf")
    monkeypatch.setattr(fonts, "SYSTEM_FONT_DIR", folder)
    regular, bold = fonts.resolve_fonts(None)
    assert regular.name == "NanumGothic.ttf" and bold == regular  # no bold face there: regular serves
