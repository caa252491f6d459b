"""A data set row as `dataset build` writes it (one JSON line) and as `train` and `evaluate` read it."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from shared.story_input import OPTIONAL_FIELDS
from worker.ml.writer import SceneInput

SPLITS: tuple[str, ...] = ("train", "validation", "test")
_NOT_KEPT = re.compile(r"[^\w\s가-힣.,?!]")


def clean_target(text: str) -> str:
    """The original's target cleaning: drop every character but word characters, Hangul and .,?!, collapse spaces."""
    return " ".join(_NOT_KEPT.sub("", text).split())


@dataclass(frozen=True)
class Ratios:
    """How rows are shared between train, validation and test (e.g. 8:1:1)."""

    train: float = 8
    validation: float = 1
    test: float = 1

    @classmethod
    def parse(cls, text: str) -> Ratios:
        """'8:1:1' -> Ratios(8, 1, 1); a missing test part is 0 (the original's 8:1 train:validation)."""
        parts = [float(part) for part in text.split(":")]
        if not 2 <= len(parts) <= 3 or any(part < 0 for part in parts) or sum(parts) <= 0:
            raise ValueError(f"split ratios must be two or three non-negative numbers like 8:1:1, not {text!r}")
        return cls(*parts, *([0.0] * (3 - len(parts))))

    def __str__(self) -> str:
        return ":".join(f"{value:g}" for value in (self.train, self.validation, self.test))


# The ISBN-like part of an AI Hub id (`03_01T_01S_9788959991051_57122` -> `9788959991051`): 10 to 13
# digits (an ISBN-10 may end in X) between underscores.
_BOOK = re.compile(r"(?:^|_)(\d{9}[\dXx]|\d{13}|\d{11,12})(?=_|$)")


def book_of(row_id: str) -> str:
    """The book a page belongs to: the ISBN-like part of its id; an id without one is a book of its own."""
    match = _BOOK.search(row_id)
    return match.group(1).upper() if match else row_id


def split_of(key: str, ratios: Ratios = Ratios()) -> str:
    """train, validation or test for a key (`dataset build` passes the book, `book_of(row id)`): a hash
    of the key alone, so a book never changes split when rows are added, removed or built again."""
    position = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16) / 16**12
    total = ratios.train + ratios.validation + ratios.test
    if position < ratios.train / total:
        return "train"
    if position < (ratios.train + ratios.validation) / total:
        return "validation"
    return "test"


@dataclass(frozen=True)
class DatasetRow:
    """One page: the hints and caption the story model reads, and the paragraph it should write."""

    id: str
    age_band: str | None
    caption: str
    caption_lang: str | None
    caption_en: str | None
    caption_source: str
    name: str
    i_action: str
    classification: str
    character: str
    setting: str
    action: str
    feeling: str
    causalRelationship: str
    outcomeResolution: str
    prediction: str
    target: str
    image: str

    @property
    def hints(self) -> dict[str, str]:
        """The scene annotations, as a book's scene carries them."""
        base = {"name": self.name, "i_action": self.i_action, "classification": self.classification}
        return {**base, **{name: getattr(self, name) for name in OPTIONAL_FIELDS}}

    def scene(self, index: int = 1) -> SceneInput:
        """This row as the worker's writers take a scene, seeded by the row id as in training."""
        return SceneInput(index=index, fields=self.hints, caption=self.caption or None,
                          caption_lang=self.caption_lang, seed_key=self.id)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> DatasetRow:
        data = json.loads(line)
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


def write_rows(path: Path, rows: Iterable[DatasetRow]) -> int:
    """Write rows as JSON lines through a temporary file; returns how many."""
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(row.to_json() + "\n")
            count += 1
    tmp.replace(path)
    return count


def read_rows(dataset_dir: Path, split: str) -> list[DatasetRow]:
    """The rows of one split of a built data set."""
    path = Path(dataset_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: build the data set first (talesrunner dataset build AIHUB_DIR OUT)")
    return list(_parse(path))


def _parse(path: Path) -> Iterator[DatasetRow]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield DatasetRow.from_json(line)
                except (json.JSONDecodeError, TypeError) as exc:
                    raise ValueError(f"{path}:{number} is not a data set row ({exc})") from exc
