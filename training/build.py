"""`talesrunner dataset build AIHUB_DIR OUT`: caption every page with the worker's own models, join, clean, split.

The split is by book (the ISBN-like part of the id, `training.rows.book_of`): every page of a book
lands in the same split, and the report counts the books and pages of each.

OUT gets `train.jsonl`, `validation.jsonl`, `test.jsonl` (DatasetRow lines), `captions.jsonl`
(the caption of every image made so far: a rerun captions only the rest) and `build_report.json`.
Bad pages (broken JSON, missing field, missing or unreadable image, empty text) are counted in
the report, never fatal.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from shared.config import Settings
from training import aihub
from training.rows import SPLITS, DatasetRow, Ratios, book_of, clean_target, split_of, write_rows

log = logging.getLogger(__name__)

CAPTIONS_FILE = "captions.jsonl"
REPORT_FILE = "build_report.json"
# training.fixtures writes this file into the folders it makes, so reports can tell made-up data from AI Hub's.
FIXTURE_MARKER = "SYNTHETIC_FIXTURES.txt"


class BuildError(Exception):
    """The build cannot start as asked (the message says what to change)."""


@dataclass(frozen=True)
class ImageCaption:
    """The caption the service would give one image: Korean when translated, else English or none."""

    id: str
    caption: str
    caption_lang: str | None
    caption_en: str | None
    source: str


@dataclass
class BuildReport:
    """What a build did: counts of rows and bad pages, captioning, the split."""

    source: str
    captioner: str
    translator: str
    ratios: str
    pages: int = 0
    rows: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    bad_examples: list[dict[str, str]] = field(default_factory=list)
    captions_made: int = 0
    captions_reused: int = 0
    captions_english: int = 0
    captions_missing: int = 0
    splits: dict[str, int] = field(default_factory=dict)  # rows (pages) per split
    books: int = 0
    # Per split, its books and pages: a book's pages all go to one split (split by book, not by page).
    split_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    age_bands: dict[str, int] = field(default_factory=dict)
    synthetic_fixtures: bool = False
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _signature(settings: Settings) -> dict[str, str]:
    """What decides a caption: a cache made with other models must not be reused."""
    return {
        "captioner": settings.TALES_CAPTIONER,
        "blip_model": settings.TALES_BLIP_MODEL if settings.TALES_CAPTIONER == "blip" else "",
        "translator": settings.TALES_TRANSLATOR,
        "translator_model": settings.TALES_TRANSLATOR_MODEL if settings.TALES_TRANSLATOR == "hf" else "",
        "openai_model": settings.TALES_OPENAI_MODEL if "openai" in (settings.TALES_CAPTIONER, settings.TALES_TRANSLATOR) else "",
    }


class CaptionCache:
    """captions.jsonl: one line per captioned image, appended batch by batch, so a rerun resumes."""

    def __init__(self, path: Path, signature: dict[str, str]):
        self.path = path
        self.signature = signature
        self.captions: dict[str, ImageCaption] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short when a build was killed: that image is captioned again
                if "signature" in data:
                    if data["signature"] != self.signature:
                        raise BuildError(
                            f"{self.path} holds captions made with {data['signature']}, not {self.signature}; "
                            "build into a new folder or pass --recaption"
                        )
                    continue
                self.captions[data["id"]] = ImageCaption(**data)

    def add(self, captions: list[ImageCaption]) -> None:
        new_file = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8") as out:
            if new_file:
                out.write(json.dumps({"signature": self.signature}) + "\n")
            for caption in captions:
                out.write(json.dumps(asdict(caption), ensure_ascii=False) + "\n")
                self.captions[caption.id] = caption
            out.flush()


def _open_photo(path: Path) -> Image.Image:
    """The image as the caption stage opens an upload (JPEG draft decode, EXIF turned upright)."""
    from shared.decoding import open_for_captioning

    return open_for_captioning(path)


class PageCaptioner:
    """The worker's captioner and translator, batch by batch, as the caption stage runs them."""

    def __init__(self, settings: Settings):
        from worker.ml.captioner import get_captioner
        from worker.ml.translator import get_translator

        self.captioner = get_captioner(settings)
        # Only BLIP's English needs translating; the openai captioner answers in Korean.
        self.translator = get_translator(settings) if settings.TALES_CAPTIONER == "blip" else None

    def caption(self, ids: list[str], images: list[Image.Image]) -> list[ImageCaption]:
        made = self.captioner.caption(images)
        english = [i for i, caption in enumerate(made) if caption.lang == "en" and caption.text]
        korean: dict[int, str] = {}
        if english and self.translator is not None:
            korean = dict(zip(english, self.translator.translate([made[i].text or "" for i in english]), strict=True))
        result = []
        for i, (page_id, caption) in enumerate(zip(ids, made, strict=True)):
            if i in korean:
                result.append(ImageCaption(page_id, korean[i], "ko", caption.text, f"{caption.source}+{self.translator.name}"))
            else:
                en = caption.text if caption.lang == "en" else None
                result.append(ImageCaption(page_id, caption.text or "", caption.lang, en, caption.source))
        return result


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _caption_all(pages: list[aihub.Page], cache: CaptionCache, captioner: PageCaptioner | None, batch_size: int,
                 report: BuildReport, bad: list[aihub.BadPage], progress: bool) -> None:
    """Caption every image not yet in the cache; unreadable images become bad pages."""
    from tqdm import tqdm

    images = {page.image.stem: page.image for page in pages}
    todo = [image_id for image_id in images if image_id not in cache.captions]
    report.captions_reused = len(images) - len(todo)
    with tqdm(total=len(todo), unit="row", desc="captioning", disable=not progress or not todo) as bar:
        for batch in _batches(todo, batch_size):
            opened: list[tuple[str, Image.Image]] = []
            for image_id in batch:
                try:
                    opened.append((image_id, _open_photo(images[image_id])))
                except (OSError, SyntaxError, ValueError) as exc:
                    bad.append(aihub.BadPage(image_id, f"unreadable image ({type(exc).__name__})"))
            if opened:
                if captioner is None:
                    made = [ImageCaption(image_id, "", None, None, "none") for image_id, _ in opened]
                else:
                    made = captioner.caption([image_id for image_id, _ in opened], [image for _, image in opened])
                cache.add(made)
                report.captions_made += len(made)
            bar.update(len(batch))


def build_dataset(
    aihub_dir: Path, out: Path, settings: Settings, ratios: Ratios = Ratios(), batch_size: int = 16,
    limit: int | None = None, allow_no_captions: bool = False, recaption: bool = False, progress: bool = True,
) -> BuildReport:
    """Read AIHUB_DIR, caption its images (resuming from OUT/captions.jsonl), write OUT/{train,validation,test}.jsonl."""
    started = time.monotonic()
    aihub_dir, out = Path(aihub_dir), Path(out)
    if not aihub_dir.is_dir():
        raise BuildError(f"{aihub_dir} is not a folder of AI Hub .jpg/.json pairs")
    if settings.TALES_CAPTIONER == "none" and not allow_no_captions:
        # The KoT5 input starts with the caption and the model cannot be trained or run without one.
        raise BuildError(
            "TALES_CAPTIONER=none makes rows without captions, which the KoT5 story model cannot train on; "
            "set TALES_CAPTIONER=blip (and TALES_TRANSLATOR=hf) or pass --no-captions to build them anyway"
        )
    out.mkdir(parents=True, exist_ok=True)
    if recaption:
        (out / CAPTIONS_FILE).unlink(missing_ok=True)
    translator = settings.TALES_TRANSLATOR if settings.TALES_CAPTIONER == "blip" else "none"
    report = BuildReport(source=str(aihub_dir.resolve()), captioner=settings.TALES_CAPTIONER, translator=translator,
                         ratios=str(ratios), synthetic_fixtures=(aihub_dir / FIXTURE_MARKER).exists())

    pages: list[aihub.Page] = []
    bad: list[aihub.BadPage] = []
    for item in aihub.scan(aihub_dir):
        (pages if isinstance(item, aihub.Page) else bad).append(item)
        if limit is not None and len(pages) >= limit:
            break
    report.pages = len(pages) + len(bad)

    cache = CaptionCache(out / CAPTIONS_FILE, _signature(settings))
    captioner = PageCaptioner(settings) if settings.TALES_CAPTIONER != "none" else None
    _caption_all(pages, cache, captioner, batch_size, report, bad, progress)

    rows: dict[str, list[DatasetRow]] = {split: [] for split in SPLITS}
    unreadable = {page.id for page in bad}
    for page in pages:
        caption = cache.captions.get(page.image.stem)
        if caption is None or page.image.stem in unreadable:
            continue
        target = clean_target(page.src_text)
        if not target:
            bad.append(aihub.BadPage(page.id, "empty text"))
            continue
        row = DatasetRow(
            id=page.id, age_band=page.age_band, caption=caption.caption, caption_lang=caption.caption_lang,
            caption_en=caption.caption_en, caption_source=caption.source, name=page.name, i_action=page.i_action,
            classification=page.classification, target=target, image=str(page.image.relative_to(aihub_dir)),
            **{name: page.optional.get(name, "") for name in aihub.OPTIONAL_FIELDS},
        )
        # By book: pages of one book share characters, places and sentences, so a page of a training
        # book in the test split would let the model be scored on what it has as good as seen.
        rows[split_of(book_of(row.id), ratios)].append(row)
        report.captions_english += row.caption_lang == "en"
        report.captions_missing += not row.caption

    for split in SPLITS:
        report.splits[split] = write_rows(out / f"{split}.jsonl", sorted(rows[split], key=lambda row: row.id))
    report.rows = sum(report.splits.values())
    report.split_sizes = {split: {"books": len({book_of(row.id) for row in rows[split]}), "pages": len(rows[split])}
                          for split in SPLITS}
    report.books = sum(size["books"] for size in report.split_sizes.values())
    report.bad = dict(Counter(item.reason.split(" (")[0] for item in bad).most_common())
    report.bad_examples = [{"id": item.id, "reason": item.reason} for item in bad[:20]]
    report.age_bands = dict(Counter(row.age_band or "unknown" for split in rows.values() for row in split).most_common())
    report.notes = _notes(report, settings)
    report.seconds = round(time.monotonic() - started, 2)
    (out / REPORT_FILE).write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return report


def _notes(report: BuildReport, settings: Settings) -> list[str]:
    notes = []
    if report.captioner == "none":
        notes.append("built without captions (TALES_CAPTIONER=none, --no-captions): the kot5 writer cannot train "
                     "or run on these rows; the template writer can be evaluated on them")
    if report.captions_english:
        notes.append(f"{report.captions_english} caption(s) kept in English (TALES_TRANSLATOR={settings.TALES_TRANSLATOR})")
    for split, count in report.splits.items():
        if count == 0:
            notes.append(f"the {split} split is empty")
    if report.synthetic_fixtures:
        notes.append("built from the synthetic fixture set (training.fixtures), not from AI Hub data")
    return notes
