"""The AI Hub "동화 삽화 생성 데이터" layout: `<id>.jpg` + `<id>.json` pairs, read into annotated pages.

Per annotation file the original read, for each entry of `data["imageInfo"]`:

    srcText            the page's paragraph (the training target)
    name, i_action     entry["entity"][0]["name"] / ["i_action"] ("" when entity is missing or empty)
    classification     entry["imageCaptionInfo"]["classification"]
    character ... prediction   entry.get(field, "")  (comma-separated items)

The `<id>` is the file name without its extension, e.g. `03_01T_01S_9788959991051_57122`; its
`01S`/`02S`/`03S` part is the reader age band.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.story_input import OPTIONAL_FIELDS

AGE_BANDS: dict[str, str] = {"01S": "유아", "02S": "초등 저학년", "03S": "초등 고학년"}
_AGE_CODE = re.compile(r"(?:^|_)(0[123]S)(?:_|$)")
REQUIRED = ("srcText", "name", "i_action", "classification")


@dataclass(frozen=True)
class Page:
    """One annotated picture-book page: its image, its paragraph and the hints about it."""

    id: str
    image: Path
    age_code: str | None
    src_text: str
    name: str
    i_action: str
    classification: str
    optional: dict[str, str] = field(default_factory=dict)

    @property
    def age_band(self) -> str | None:
        return AGE_BANDS.get(self.age_code or "")


@dataclass(frozen=True)
class BadPage:
    """A file or entry that cannot become a training row, and why."""

    id: str
    reason: str


def age_code(page_id: str) -> str | None:
    """The `01S`/`02S`/`03S` age-band part of an id, or None."""
    match = _AGE_CODE.search(page_id)
    return match.group(1) if match else None


def _text(value: object) -> str:
    """A field as one string; a list of items (some exports have them) becomes comma-separated."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item).strip() for item in value if str(item).strip())
    return str(value).strip()


def pages_of(annotation: Path, image: Path) -> Iterator[Page | BadPage]:
    """The pages of one annotation file (usually one); a broken file or entry becomes a BadPage."""
    stem = annotation.stem
    try:
        data = json.loads(annotation.read_text(encoding="utf-8-sig"))
        entries = data["imageInfo"]
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise KeyError("imageInfo")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield BadPage(stem, f"broken JSON ({type(exc).__name__})")
        return
    except (KeyError, TypeError):
        yield BadPage(stem, "missing field imageInfo")
        return
    for number, entry in enumerate(entries, start=1):
        page_id = stem if len(entries) == 1 else f"{stem}#{number}"
        yield _page(page_id, entry, image)


def _page(page_id: str, entry: object, image: Path) -> Page | BadPage:
    if not isinstance(entry, dict):
        return BadPage(page_id, "missing field imageInfo")
    entity = entry.get("entity") or [{}]
    first = entity[0] if isinstance(entity, list) and entity and isinstance(entity[0], dict) else {}
    caption_info = entry.get("imageCaptionInfo")
    values = {
        "srcText": _text(entry.get("srcText")),
        "name": _text(first.get("name")),
        "i_action": _text(first.get("i_action")),
        "classification": _text(caption_info.get("classification")) if isinstance(caption_info, dict) else "",
    }
    for required in REQUIRED:
        if not values[required]:
            return BadPage(page_id, f"missing field {required}")
    return Page(
        id=page_id, image=image, age_code=age_code(page_id), src_text=values["srcText"], name=values["name"],
        i_action=values["i_action"], classification=values["classification"],
        optional={name: _text(entry.get(name)) for name in OPTIONAL_FIELDS},
    )


def scan(root: Path) -> Iterator[Page | BadPage]:
    """Every annotation under `root` (any depth, sorted), paired with the image of the same id."""
    images = {path.stem: path for path in root.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg", ".png")}
    annotations = sorted(root.rglob("*.json"), key=lambda path: path.stem)
    seen: set[str] = set()
    for annotation in annotations:
        stem = annotation.stem
        if stem in seen:
            # The original joined on id and checked ids were unique; a second file with the same id
            # would make that join ambiguous.
            yield BadPage(stem, "duplicate id")
            continue
        seen.add(stem)
        image = images.get(stem)
        if image is None:
            yield BadPage(stem, "missing image")
            continue
        yield from pages_of(annotation, image)
