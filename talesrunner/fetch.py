"""`talesrunner models fetch DIR`: the hub models the settings name, one folder each, for an offline host.

Run it on a machine that reaches the Hugging Face hub (or a mirror: HF_ENDPOINT), copy DIR to the
offline host (docker-compose.yml mounts `./models` as `/models` and its settings name
`/models/<folder>`), and point the settings at the folders; it prints them. Each model comes from
the setting that names it (TALES_BLIP_MODEL, TALES_TRANSLATOR_MODEL, TALES_KOT5_DIR,
TALES_MMS_MODEL, TALES_ILLUSTRATOR_MODEL, and TALES_WHISPER_MODEL where this version has it), so
`TALES_BLIP_MODEL=Salesforce/blip-image-captioning-large talesrunner models fetch DIR` fetches that
one instead. A setting that names a path (docker-compose.yml's `/models/blip`) gets its default hub id.

The default KoT5 setting names the *base* model (`wisenut-nlp-team/KoT5-base`, revision
`paraphrase`), which is not a story model (it has not been fine-tuned and lacks the 12 field
markers): it goes to DIR/kot5-base, the `--base` of `talesrunner models import` and `talesrunner train`.

Only what the worker loads is downloaded: no TensorFlow, Flax, ONNX or Core ML copies, no
single-file `.ckpt`/`.safetensors` beside a diffusers pipeline's folders, no `.bin` weights where
`.safetensors` ones sit beside them, no fp16 / non-EMA variants.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from worker.ml.presence import SLOTS, ModelSlot, is_hub_id

KOT5_BASE_FOLDER = "kot5-base"
SKIPPED_SUFFIXES = (".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".ckpt", ".tflite", ".pb", ".mlmodel", ".gguf")
SKIPPED_FOLDERS = ("onnx", "coreml", "flax", "tf", "openvino", "tensorflow")
SKIPPED_NAMES = (".gitattributes",)
VARIANT = re.compile(r"\.(fp16|bf16|non_ema|ema|int8|fp32)\.[A-Za-z0-9]+$")
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth")


class FetchError(Exception):
    """A model could not be fetched (the message says which and why)."""


@dataclass
class Fetched:
    """One fetched model: the setting, the hub id and revision, where it went, its size."""

    slot: ModelSlot
    repo_id: str
    revision: str | None
    folder: Path
    files: int = 0
    bytes: int = 0
    note: str = ""


def files_to_fetch(files: Iterable[str]) -> list[str]:
    """The files of a hub repository the worker needs (see the module's docstring)."""
    files = [name for name in files if name]
    diffusers = "model_index.json" in files
    kept = []
    for name in files:
        path = PurePosixPath(name)
        if path.name in SKIPPED_NAMES or path.suffix in SKIPPED_SUFFIXES or VARIANT.search(path.name):
            continue
        if path.parts[0] in SKIPPED_FOLDERS or path.name.startswith(("tf_model", "flax_model", "rust_model")):
            continue
        if diffusers and len(path.parts) == 1 and path.suffix in WEIGHTS:
            continue  # a single-file copy of the whole pipeline, beside its folders
        kept.append(name)
    folders_with_safetensors = {str(PurePosixPath(name).parent) for name in kept if name.endswith(".safetensors")}
    return [name for name in kept
            if not (PurePosixPath(name).suffix in (".bin", ".pt", ".pth")
                    and str(PurePosixPath(name).parent) in folders_with_safetensors
                    and _is_weights(name))]


def _is_weights(name: str) -> bool:
    """A model weight file (pytorch_model*.bin, diffusion_pytorch_model*.bin ...), not e.g. training_args.bin."""
    stem = PurePosixPath(name).name
    return "model" in stem or stem.startswith(("pytorch_", "adapter_"))


@dataclass(frozen=True)
class Planned:
    """One model to fetch: its slot, hub id, revision, folder name, and a remark on where the id came from."""

    slot: ModelSlot
    repo_id: str
    revision: str | None
    folder: str
    remark: str = ""


def planned(settings: Any, only: set[str] | None = None) -> list[Planned]:
    """What to fetch for every model setting of this version (`only`: these folder keys).

    A setting that names a hub id is fetched as it is; one that names a path (docker-compose.yml's
    `/models/blip` ...) gets the setting's default hub id, into the folder that path expects.
    """
    from training.train import DEFAULT_BASE, DEFAULT_REVISION

    fields = getattr(type(settings), "model_fields", {})
    plan = []
    for slot in SLOTS:
        if not hasattr(settings, slot.setting) or (only and slot.key not in only):
            continue
        name, remark = str(getattr(settings, slot.setting)).strip(), ""
        if not is_hub_id(name):
            default = getattr(fields.get(slot.setting), "default", None)
            if not isinstance(default, str) or not is_hub_id(default):
                continue
            name, remark = default, f"{slot.setting} names a path ({name}): its default hub id instead"
        revision, folder = None, slot.key
        if slot.key == "kot5" and name == DEFAULT_BASE:
            revision, folder = DEFAULT_REVISION, KOT5_BASE_FOLDER
        plan.append(Planned(slot, name, revision, folder, remark))
    return plan


def fetch_models(settings: Any, directory: Path, only: set[str] | None = None, endpoint: str | None = None,
                 say: Callable[[str], None] = print) -> list[Fetched]:
    """Download every hub model the settings name into DIRECTORY/<folder>; returns what happened to each."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None  # read now: huggingface_hub read it at import
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    api = HfApi(endpoint=endpoint)
    results, failures = [], []
    for item in planned(settings, only):
        slot, name, revision, target = item.slot, item.repo_id, item.revision, directory / item.folder
        say(f"{slot.key}: {name}{'@' + revision if revision else ''} -> {target}"
            + (f" ({item.remark})" if item.remark else ""))
        started = time.monotonic()
        try:
            info = api.model_info(name, revision=revision)
            wanted = files_to_fetch(sibling.rfilename for sibling in info.siblings or [])
            if not wanted:
                raise FetchError(f"{name} lists no files")
            snapshot_download(name, revision=info.sha or revision, local_dir=target, allow_patterns=wanted,
                              endpoint=endpoint)
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, FetchError, ValueError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            failures.append(f"{slot.setting}={name}: {type(exc).__name__}: {first_line}")
            say(f"{slot.key}: failed: {failures[-1]}")
            continue
        size = sum((target / file).stat().st_size for file in wanted if (target / file).is_file())
        results.append(Fetched(slot, name, revision, target, files=len(wanted), bytes=size, note=item.remark))
        say(f"{slot.key}: {len(wanted)} files, {size / 1e6:.1f} MB in {time.monotonic() - started:.0f} s")
    if failures:
        raise FetchError("; ".join(failures))
    return results


def settings_to_use(results: list[Fetched], directory: Path, compose_root: str = "/models") -> list[str]:
    """The lines that point the settings at the fetched folders, here and under docker compose."""
    here, compose, notes = [], [], []
    for result in results:
        folder = result.folder.name
        if folder == KOT5_BASE_FOLDER:
            notes.append(
                f"# {result.folder} is the KoT5 *base* model, not a story model: make one with\n"
                f"#   talesrunner models import kot5_checkpoint_final.pt {directory.resolve() / 'kot5'} --base {result.folder.resolve()}\n"
                f"#   (or talesrunner train DATASET {directory.resolve() / 'kot5'} --base {result.folder.resolve()}),\n"
                f"#   then TALES_KOT5_DIR={directory.resolve() / 'kot5'} (docker compose: {compose_root}/kot5)"
            )
            continue
        here.append(f"{result.slot.setting}={result.folder.resolve()}")
        compose.append(f"{result.slot.setting}={compose_root}/{folder}")
    lines = ["# the settings for these folders on this machine:", *here]
    if compose:
        lines += [f"# copied to the docker compose host's ./models ({compose_root} in the containers), "
                  "docker-compose.yml names them already:", *(f"#   {line}" for line in compose)]
    return lines + notes
