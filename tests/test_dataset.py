"""`talesrunner dataset build`: the AI Hub reader, target cleaning, the split, captions by the worker's models."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from PIL import Image

from shared.config import Settings
from talesrunner.cli import main
from tests.training_helpers import caption_flags
from training import aihub
from training.build import CAPTIONS_FILE
from training.fixtures import write_fixtures
from training.rows import SPLITS, Ratios, book_of, clean_target, read_rows, split_of


def test_reader_takes_every_field_from_the_ai_hub_json_layout(tmp_path):
    root = write_fixtures(tmp_path, rows=3, bad=False)
    pages = list(aihub.scan(root))
    assert len(pages) == 3 and all(isinstance(page, aihub.Page) for page in pages)
    page = pages[0]
    entry = json.loads((root / "labels" / f"{page.id}.json").read_text(encoding="utf-8"))["imageInfo"][0]
    assert page.src_text == entry["srcText"]
    assert (page.name, page.i_action) == (entry["entity"][0]["name"], entry["entity"][0]["i_action"])
    assert page.classification == entry["imageCaptionInfo"]["classification"]
    assert page.optional["setting"] == entry["setting"] and page.optional["prediction"] == entry["prediction"]
    assert page.image == root / "images" / f"{page.id}.jpg"


def test_broken_json_and_missing_fields_and_images_become_counted_bad_pages(tmp_path):
    (tmp_path / "a_01S_1.json").write_text('{"imageInfo": [', encoding="utf-8")
    (tmp_path / "a_01S_1.jpg").write_bytes(b"x")
    (tmp_path / "b_02S_2.json").write_text(json.dumps({"imageInfo": [{"srcText": "글", "entity": [],
                                                                        "imageCaptionInfo": {"classification": "의사소통"}}]}))
    (tmp_path / "b_02S_2.jpg").write_bytes(b"x")
    (tmp_path / "c_03S_3.json").write_text(json.dumps({"pages": []}))
    (tmp_path / "c_03S_3.jpg").write_bytes(b"x")
    (tmp_path / "d_01S_4.json").write_text(json.dumps({"imageInfo": [{"srcText": "글"}]}))
    reasons = {item.id: item.reason for item in aihub.scan(tmp_path)}
    assert reasons == {
        "a_01S_1": "broken JSON (JSONDecodeError)",
        "b_02S_2": "missing field name",
        "c_03S_3": "missing field imageInfo",
        "d_01S_4": "missing image",
    }


def test_age_band_is_read_from_the_file_name():
    assert aihub.age_code("03_01T_01S_9788959991051_57122") == "01S"
    page = aihub.Page("03_01T_03S_9788959991051_57122", image=None, age_code="03S", src_text="", name="", i_action="",
                      classification="")
    assert page.age_band == "초등 고학년"
    assert aihub.age_code("no_band_here") is None


def test_target_cleaning_keeps_words_hangul_and_sentence_punctuation_only():
    assert clean_target("“와, 정말 멋지다!”  ♪ 토끼가\n뛰어요… (정말?)") == "와, 정말 멋지다! 토끼가 뛰어요 정말?"
    assert clean_target("♥ ♥") == ""


def test_split_is_a_function_of_the_id_alone_and_follows_the_ratios():
    ids = [f"01_01T_01S_97889{n:08d}_{n}" for n in range(3000)]
    first = [split_of(row_id) for row_id in ids]
    assert first == [split_of(row_id) for row_id in reversed(ids)][::-1]
    shares = Counter(first)
    assert 0.77 < shares["train"] / 3000 < 0.83 and 0.08 < shares["validation"] / 3000 < 0.12
    no_test = Ratios.parse("8:1")
    assert {split_of(row_id, no_test) for row_id in ids} == {"train", "validation"}
    with pytest.raises(ValueError):
        Ratios.parse("8:x:1")


def test_the_book_of_a_page_is_the_isbn_like_part_of_its_id():
    assert book_of("03_01T_01S_9788959991051_57122") == "9788959991051"
    assert book_of("01_02T_02S_8959991051_3") == "8959991051"  # an ISBN-10
    assert book_of("01_02T_02S_895999105X_3") == "895999105X"
    assert book_of("a_01S_1") == "a_01S_1"  # no ISBN: a book of its own


def test_build_splits_by_book_and_reports_books_and_pages_per_split(tmp_path, capsys):
    root = write_fixtures(tmp_path / "aihub", rows=48, bad=False, pages_per_book=4)
    out = tmp_path / "data"
    assert main(["dataset", "build", str(root), str(out), "--captioner", "none", "--no-captions"]) == 0
    splits_of_book: dict[str, set[str]] = {}
    pages_of_book: Counter = Counter()
    for split in SPLITS:
        for row in read_rows(out, split):
            splits_of_book.setdefault(book_of(row.id), set()).add(split)
            pages_of_book[book_of(row.id)] += 1
    assert len(splits_of_book) == 12 and set(pages_of_book.values()) == {4}
    assert all(len(splits) == 1 for splits in splits_of_book.values()), splits_of_book
    # The fixture means something: split page by page, some book would have pages in two splits.
    assert any(len({split_of(row_id) for row_id in (row.id for split in SPLITS for row in read_rows(out, split)
                                                      if book_of(row.id) == book)}) > 1 for book in splits_of_book)

    report = json.loads((out / "build_report.json").read_text())
    expected = {split: {"books": sum(1 for splits in splits_of_book.values() if splits == {split}),
                        "pages": len(read_rows(out, split))} for split in SPLITS}
    assert report["split_sizes"] == expected
    assert (report["books"], report["rows"]) == (12, 48)
    assert sum(1 for size in expected.values() if size["books"]) >= 2  # more than one split holds books
    assert report["splits"] == {split: size["pages"] for split, size in expected.items()}
    printed = capsys.readouterr().out
    assert "48 rows of 12 books" in printed
    assert f"train {expected['train']['pages']} in {expected['train']['books']} books" in printed


@pytest.mark.models
def test_build_captions_with_the_worker_models_counts_bad_pages_and_resumes(tiny_models, tmp_path, capsys):
    from worker.ml.captioner import get_captioner
    from worker.ml.translator import get_translator
    from shared.decoding import open_for_captioning

    root = write_fixtures(tmp_path / "aihub", rows=10)
    out = tmp_path / "data"
    assert main(["dataset", "build", str(root), str(out), *caption_flags(tiny_models)]) == 0
    report = json.loads((out / "build_report.json").read_text())
    assert report["bad"] == {"broken JSON": 1, "missing field name": 1, "missing image": 1, "unreadable image": 1,
                             "empty text": 1}
    assert report["rows"] == 10 and sum(report["splits"].values()) == 10 and report["synthetic_fixtures"]
    assert "10 rows" in capsys.readouterr().out
    rows = [row for split in ("train", "validation", "test") for row in read_rows(out, split)]
    assert all(split_of(book_of(row.id)) == split for split in ("train", "validation", "test") for row in read_rows(out, split))
    assert {row.age_band for row in rows} == {"유아", "초등 저학년", "초등 고학년"}

    # The caption of a row is what the service's caption stage would give the same photo.
    settings = Settings(TALES_CAPTIONER="blip", TALES_TRANSLATOR="hf", TALES_DEVICE="cpu", TALES_BLIP_MAX_NEW_TOKENS=8,
                        TALES_BLIP_MODEL=str(tiny_models / "blip"), TALES_TRANSLATOR_MODEL=str(tiny_models / "translator"))
    row = rows[0]
    english = get_captioner(settings).caption([open_for_captioning(root / row.image)])[0].text
    assert (row.caption_en, row.caption, row.caption_lang, row.caption_source) == (
        english, get_translator(settings).translate([english])[0], "ko", "blip+hf")

    # A rerun captions nothing again; one cut short captions only what it had not written.
    before = {split: (out / f"{split}.jsonl").read_bytes() for split in ("train", "validation", "test")}
    assert main(["dataset", "build", str(root), str(out), *caption_flags(tiny_models)]) == 0
    again = json.loads((out / "build_report.json").read_text())
    assert (again["captions_made"], again["captions_reused"]) == (0, 11)
    lines = (out / CAPTIONS_FILE).read_text(encoding="utf-8").splitlines()
    (out / CAPTIONS_FILE).write_text("\n".join(lines[:-3]) + "\n" + lines[-3][:20], encoding="utf-8")
    assert main(["dataset", "build", str(root), str(out), *caption_flags(tiny_models)]) == 0
    resumed = json.loads((out / "build_report.json").read_text())
    assert (resumed["captions_made"], resumed["captions_reused"]) == (3, 8)
    assert before == {split: (out / f"{split}.jsonl").read_bytes() for split in ("train", "validation", "test")}


def test_build_without_a_captioner_is_refused_unless_asked_and_says_so(tmp_path, capsys):
    root = write_fixtures(tmp_path / "aihub", rows=4, bad=False)
    assert main(["dataset", "build", str(root), str(tmp_path / "refused"), "--captioner", "none"]) == 2
    assert "TALES_CAPTIONER=none" in capsys.readouterr().err
    assert main(["dataset", "build", str(root), str(tmp_path / "data"), "--captioner", "none", "--no-captions"]) == 0
    report = json.loads((tmp_path / "data" / "build_report.json").read_text())
    assert report["rows"] == 4 and report["captions_missing"] == 4
    assert any("cannot train" in note for note in report["notes"])
    assert main(["train", str(tmp_path / "data"), str(tmp_path / "model"), "--base", str(tmp_path)]) == 2
    assert "no caption" in capsys.readouterr().err


def test_an_unreadable_image_is_a_bad_page_not_a_crash(tmp_path):
    root = write_fixtures(tmp_path / "aihub", rows=2, bad=False)
    image = next((root / "images").glob("*.jpg"))
    image.write_bytes(b"\xff\xd8 broken")
    with pytest.raises(OSError):
        Image.open(image).load()
    assert main(["dataset", "build", str(root), str(tmp_path / "data"), "--captioner", "none", "--no-captions"]) == 0
    report = json.loads((tmp_path / "data" / "build_report.json").read_text())
    assert report["bad"] == {"unreadable image": 1} and report["rows"] == 1
