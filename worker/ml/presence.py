"""Which model settings name nothing present, and what a book does without that model.

A fresh install (a first `docker compose up` with an empty `./models`) has settings that name
model folders not there yet. Such a model is *absent*, and the book falls back to the offline
backend for that part, with a note saying so and how to fix it:

    TALES_KOT5_DIR           missing -> the template writer
    TALES_BLIP_MODEL         missing -> no captions
    TALES_TRANSLATOR_MODEL   missing -> the English captions are kept
    TALES_MMS_MODEL          missing -> no read-aloud audio
    TALES_ILLUSTRATOR_MODEL  missing -> the pages keep their photos
    TALES_WHISPER_MODEL      missing -> (reported at start; the transcriber's own handling)

Absent means: a path that does not exist, a folder (or file) without the model's own files
(`config.json`, or `model_index.json` for a diffusers pipeline: an empty folder, or one holding
only a training checkpoint), or a hub id that is neither in the Hugging Face cache nor
downloadable (HF_HUB_OFFLINE, or the hub cannot be reached). Anything else is *present*: a model
that is there but cannot be loaded (a corrupt file, a tokenizer without the field markers) still
fails the way it did, with the setting to fix, because writing books with a fallback would hide
a broken deployment.

The same table tells `talesrunner models fetch` which hub models to download and into which folder
(docker-compose.yml names `/models/<folder>`). Nothing here imports torch or transformers.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.errors import StageError

log = logging.getLogger(__name__)

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
# How long one answer about the hub is reused: a book checks several models, and an offline host
# should not wait for a TCP timeout per model per book.
HUB_ANSWER_TTL_S = 60.0


@dataclass(frozen=True)
class ModelSlot:
    """One model setting: what it names, who uses it, what a book does without it."""

    key: str  # its folder under `talesrunner models fetch DIR` and in docker-compose.yml (/models/<key>)
    setting: str  # the setting that names it
    what: str  # the model, in words
    backend: str  # the setting that picks the backend using it
    uses: tuple[str, ...]  # the backend values that load it
    markers: tuple[str, ...]  # files a model folder of this kind holds (any one)
    without: str  # what a book does without it (operator words)
    offline: str  # the offline setting that stops asking for it
    korean: str  # what the book's note tells parents
    fix: str = ""  # how to get it, when not `talesrunner models fetch`

    def active(self, settings: Any) -> bool:
        """True when the settings ask for this model (and it is a setting of this version)."""
        if not hasattr(settings, self.setting) or getattr(settings, self.backend, None) not in self.uses:
            return False
        if self.key == "translator":  # only BLIP's English captions are translated
            return getattr(settings, "TALES_CAPTIONER", None) == "blip"
        return True

    def how_to_fix(self) -> str:
        return self.fix or (f"`talesrunner models fetch DIR` on a connected machine, then copy DIR/{self.key} there "
                            "(docs/models.md, \"Getting the models onto an offline host\")")


SLOTS: tuple[ModelSlot, ...] = (
    ModelSlot("blip", "TALES_BLIP_MODEL", "BLIP captioning model", "TALES_CAPTIONER", ("blip",),
              ("config.json",), "books get no captions (hints only)", "TALES_CAPTIONER=none",
              "사진 설명 모델이 아직 없어 힌트만으로 썼어요"),
    ModelSlot("translator", "TALES_TRANSLATOR_MODEL", "translation model", "TALES_TRANSLATOR", ("hf",),
              ("config.json", "model.bin"), "captions stay in English", "TALES_TRANSLATOR=none",
              "번역 모델이 아직 없어 사진 설명을 영어로 두었어요"),
    ModelSlot("kot5", "TALES_KOT5_DIR", "KoT5 story model", "TALES_WRITER", ("kot5",),
              ("config.json", "model.bin"), "books are written by the template writer", "TALES_WRITER=template",
              "이야기 모델이 아직 없어 규칙 기반 문장으로 썼어요",
              fix=("the fine-tuned KoT5 folder, or `talesrunner models import kot5_checkpoint_final.pt DIR --base "
                   "KOT5_BASE_DIR` (docs/models.md, \"Getting the models onto an offline host\")")),
    ModelSlot("mms", "TALES_MMS_MODEL", "MMS narrator (VITS) model", "TALES_NARRATOR", ("mms",),
              ("config.json",), "books get no read-aloud audio", "TALES_NARRATOR=espeak or none",
              "읽어 줄 목소리 모델이 아직 없어요"),
    ModelSlot("illustrator", "TALES_ILLUSTRATOR_MODEL", "drawing model", "TALES_ILLUSTRATOR", ("diffusers",),
              ("model_index.json",), "pages keep their photos", "TALES_ILLUSTRATOR=filter or none",
              "그림 모델이 아직 없어요"),
    ModelSlot("whisper", "TALES_WHISPER_MODEL", "Whisper speech model", "TALES_TRANSCRIBER", ("whisper",),
              ("config.json", "model.bin", "adapter_config.json"), "spoken hints are not transcribed",
              "TALES_TRANSCRIBER=none", "말을 글로 옮기는 모델이 아직 없어요"),
)
BY_KEY = {slot.key: slot for slot in SLOTS}


class ModelMissing(StageError):
    """A model a stage needs names nothing present; the stage falls back to its offline backend."""

    def __init__(self, missing: Missing):
        super().__init__(missing.note)
        self.missing = missing


@dataclass(frozen=True)
class Missing:
    """An active model setting that names nothing present, and why."""

    slot: ModelSlot
    name: str
    why: str

    @property
    def detail(self) -> str:
        """The operator's sentence: which setting, what it names, what happens, the fix."""
        return (f"{self.slot.setting}={self.name} names no {self.slot.what}: {self.why}; {self.slot.without}. "
                f"Fix: {self.slot.how_to_fix()}, or set {self.slot.offline}")

    @property
    def note(self) -> str:
        """The book's note: Korean for parents, the operator's detail in parentheses."""
        return f"{self.slot.korean} ({self.detail})."


def is_hub_id(name: str) -> bool:
    """True when a model name is a hub id ("org/name") rather than a path on this machine."""
    return not Path(name).expanduser().exists() and bool(HUB_ID.match(name)) and not name.startswith(".")


_hub_answer: tuple[float, str | None] | None = None
_hub_lock = threading.Lock()


def hub_unusable() -> str | None:
    """Why the hub cannot be used now (loading.hub_unreachable_reason), the answer kept for a minute."""
    global _hub_answer
    from worker.ml.loading import hub_unreachable_reason

    with _hub_lock:
        if _hub_answer is None or time.monotonic() - _hub_answer[0] > HUB_ANSWER_TTL_S:
            _hub_answer = (time.monotonic(), hub_unreachable_reason())
        return _hub_answer[1]


def forget_hub_answer() -> None:
    """Ask the hub again next time (tests)."""
    global _hub_answer
    with _hub_lock:
        _hub_answer = None


def absence(slot: ModelSlot, name: str, hub_check: Callable[[], str | None] | None = None) -> str | None:
    """Why `name` holds no model of this kind, or None when one is there (or can be downloaded)."""
    name = (name or "").strip()
    if not name:
        return "the setting is empty"
    if is_hub_id(name):
        if _in_hub_cache(name, slot.markers):
            return None
        offline = (hub_check or hub_unusable)()
        return None if offline is None else f"it is not in the Hugging Face cache and the hub cannot be used ({offline})"
    path = Path(name).expanduser()
    if not path.exists():
        return "it does not exist"
    if path.is_file():
        return "it is a file, not a model folder" + _checkpoint_hint([path])
    if any((path / marker).is_file() for marker in slot.markers):
        return None
    contents = [child for child in path.iterdir() if not child.name.startswith(".")]
    if not contents:
        return "the folder is empty"
    return f"the folder holds no {' or '.join(slot.markers)}" + _checkpoint_hint(contents)


def _checkpoint_hint(paths: list[Path]) -> str:
    checkpoints = [path.name for path in paths if path.suffix in (".pt", ".pth", ".bin") and path.is_file()]
    if not checkpoints:
        return ""
    return f" (it holds {checkpoints[0]}: a training checkpoint becomes a model folder with `talesrunner models import`)"


def _in_hub_cache(repo_id: str, markers: tuple[str, ...]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, marker), str) for marker in markers)


def missing(settings: Any, key: str) -> Missing | None:
    """The model `key` when the settings ask for it and it is absent, else None."""
    slot = BY_KEY[key]
    if not slot.active(settings):
        return None
    name = str(getattr(settings, slot.setting))
    why = absence(slot, name)
    return None if why is None else Missing(slot, name, why)


def require(settings: Any, key: str) -> None:
    """Raise ModelMissing when the settings ask for model `key` and it is absent."""
    gone = missing(settings, key)
    if gone is not None:
        raise ModelMissing(gone)


def all_missing(settings: Any) -> list[Missing]:
    """Every model the settings ask for that is absent."""
    return [gone for slot in SLOTS if (gone := missing(settings, slot.key)) is not None]


def report_missing(settings: Any, logger: logging.Logger = log) -> list[Missing]:
    """One warning line per model setting that names nothing present (a worker says so when it starts)."""
    found = all_missing(settings)
    for gone in found:
        logger.warning("model not present: %s", gone.detail)
    return found
