"""`talesrunner models import CHECKPOINT.pt OUT --base MODEL_DIR`: a training checkpoint -> a model directory.

The original project published its fine-tuned KoT5 twice: as a folder (`model.safetensors` and its
json files, which the worker loads as it is) and as `kot5_checkpoint_final.pt`, a `torch.save`d
checkpoint. This turns such a checkpoint into the folder the worker (TALES_KOT5_DIR) and
`talesrunner evaluate` load:

- the config, tokenizer and generation config come from `--base` (a directory or a hub id; its
  weights are not needed and not read). The 12 field markers of `shared/story_input.py` are added
  when the base tokenizer lacks them and the embeddings resized, exactly as `talesrunner train`
  does (`training.train.add_markers`), so the ids match the ones the checkpoint was trained with;
- the weights come from the checkpoint, read with `torch.load(..., weights_only=True)` (tensors
  and plain containers only: a checkpoint cannot run code here). It may be a state dict, or a dict
  holding one under `model_state_dict` or `state_dict` (beside an optimizer's state, an epoch...),
  with or without the `module.` prefix that `torch.nn.DataParallel` / DDP put on every key;
- every key must fit: a key the model lacks, a model key the checkpoint lacks, or a tensor of
  another shape is an error that names them. Tied weights (T5's `shared`, `encoder.embed_tokens`,
  `decoder.embed_tokens` and, with `tie_word_embeddings`, `lm_head`) are one tensor: a checkpoint
  may hold any one of them or all of them, but all it holds must be equal.

OUT gets `config.json`, `model.safetensors`, `generation_config.json`, the tokenizer and
`import_card.json` (where the weights came from and the checkpoint's sha256).
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_DICT_KEYS = ("model_state_dict", "state_dict")
PREFIXES = ("module.",)
CARD_FILE = "import_card.json"
SHOWN = 5  # keys named in an error before "and N more"


class ImportFailed(Exception):
    """The checkpoint cannot become a model directory as asked (the message says why)."""


@dataclass
class ImportResult:
    """What an import wrote and what it found in the checkpoint."""

    out_dir: Path
    tensors: int
    parameters: int
    dtype: str
    markers_added: bool
    ignored: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # a tied key the checkpoint lacked -> the key it came from
    card: dict[str, Any] = field(default_factory=dict)


def _named(keys: Iterable[str]) -> str:
    """A few keys, then a count of the rest."""
    keys = sorted(keys)
    shown = ", ".join(keys[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The state dict in a checkpoint file (any of the shapes above), keys without a `module.` prefix."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ImportFailed(
            f"{path} holds objects other than tensors and plain containers, which are not unpickled here "
            f"(torch.load weights_only=True): {str(exc).splitlines()[0]}"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ImportFailed(f"{path} is not a torch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc
    return state_dict_of(loaded, str(path))


def state_dict_of(loaded: Any, where: str = "the checkpoint") -> dict[str, Any]:
    """The state dict in what torch.load gave: itself, or under model_state_dict / state_dict."""
    import torch

    if not isinstance(loaded, Mapping):
        raise ImportFailed(f"{where} holds a {type(loaded).__name__}, not a state dict")
    state = loaded
    if not _all_tensors(state):
        for key in STATE_DICT_KEYS:
            if isinstance(loaded.get(key), Mapping):
                state = loaded[key]
                break
        else:
            raise ImportFailed(
                f"{where} is neither a state dict nor a dict holding one under {' or '.join(STATE_DICT_KEYS)} "
                f"(its keys: {_named(map(str, loaded))})"
            )
    not_tensors = [str(key) for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors or not state:
        raise ImportFailed(f"{where}: the state dict {'is empty' if not state else 'holds non-tensors: ' + _named(not_tensors)}")
    for prefix in PREFIXES:
        if all(str(key).startswith(prefix) for key in state):
            state = {str(key).removeprefix(prefix): value for key, value in state.items()}
    return dict(state)


def _all_tensors(mapping: Mapping) -> bool:
    import torch

    return bool(mapping) and all(isinstance(value, torch.Tensor) for value in mapping.values())


def _tied_groups(model: Any) -> list[list[str]]:
    """The model's state-dict keys that are one tensor (tied weights), in groups of two or more."""
    groups: dict[tuple[int, int, tuple[int, ...]], list[str]] = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        where = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        groups.setdefault(where, []).append(key)
    return [keys for keys in groups.values() if len(keys) > 1]


def fit_state_dict(model: Any, checkpoint: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The checkpoint's tensors for every key of the model: (state, aliases filled from a tied key, ignored keys).

    Raises ImportFailed naming the unknown, missing and misshapen keys, and tied keys whose tensors differ.
    """
    import torch

    expected = model.state_dict()
    # Keys the model class itself drops when loading (e.g. T5's unused decoder cross-attention bias of old checkpoints).
    ignorable = list(getattr(model, "_keys_to_ignore_on_load_unexpected", None) or [])
    unknown, ignored = [], []
    for key in checkpoint:
        if key in expected:
            continue
        (ignored if any(re.search(pattern, key) for pattern in ignorable) else unknown).append(key)
    state = {key: value for key, value in checkpoint.items() if key in expected}
    aliases: dict[str, str] = {}
    problems = []
    for group in _tied_groups(model):
        present = [key for key in group if key in state]
        if not present:
            continue
        first = state[present[0]]
        differing = [key for key in present[1:] if state[key].shape != first.shape or not torch.equal(state[key], first)]
        if differing:
            problems.append(f"tied weights differ: {', '.join(differing)} vs {present[0]} (the config ties them into one tensor)")
        for key in group:
            if key not in state:
                state[key], aliases[key] = first, present[0]
    missing = [key for key in expected if key not in state]
    misshapen = [f"{key} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
                 for key in expected if key in state and tuple(state[key].shape) != tuple(expected[key].shape)]
    if missing:
        problems.append(f"{len(missing)} key(s) the checkpoint lacks: {_named(missing)}")
    if unknown:
        problems.append(f"{len(unknown)} key(s) the model does not have: {_named(unknown)}")
    if misshapen:
        problems.append(f"{len(misshapen)} tensor(s) of another shape (checkpoint vs model): {_named(misshapen)}")
    if problems:
        raise ImportFailed("the checkpoint does not fit the model of --base: " + "; ".join(problems))
    return state, aliases, ignored


def _dtype_of(state: Mapping[str, Any]) -> Any:
    """The one floating dtype of the checkpoint's tensors, or None when they mix several."""
    dtypes = {value.dtype for value in state.values() if value.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else None


def load_base(base: str, revision: str | None = None) -> tuple[Any, Any, Any, bool]:
    """(tokenizer, model with the base's config and random weights, generation config or None, markers added)."""
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

    from training.train import TrainError, add_markers
    from worker.errors import StageError
    from worker.ml import loading

    def load(offline: bool) -> tuple[Any, Any]:
        return (AutoTokenizer.from_pretrained(base, revision=revision, local_files_only=offline),
                AutoConfig.from_pretrained(base, revision=revision, local_files_only=offline))

    revision = None if loading.is_local_dir(base) else revision
    offline = None if loading.is_local_dir(base) else loading.hub_unreachable_reason()
    try:
        tokenizer, config = load(offline is not None)
    except (OSError, ValueError) as exc:
        why = f"; the hub cannot be used ({offline})" if offline else ""
        raise ImportFailed(f"--base {base}: no config and tokenizer there ({type(exc).__name__}: {exc}){why}") from exc
    try:
        generation = GenerationConfig.from_pretrained(base, revision=revision, local_files_only=offline is not None)
    except (OSError, ValueError):
        generation = None
    before = len(tokenizer)
    torch.manual_seed(0)  # the weights are replaced; a fixed seed keeps a failed import's leftovers reproducible
    model = AutoModelForSeq2SeqLM.from_config(config)
    try:
        add_markers(tokenizer, model)
    except (TrainError, StageError) as exc:
        raise ImportFailed(f"--base {base}: {exc}") from exc
    return tokenizer, model, generation, len(tokenizer) != before


def import_checkpoint(checkpoint: Path, out_dir: Path, base: str, revision: str | None = None) -> ImportResult:
    """Write OUT_DIR: the config and tokenizer of `base` (with the markers), the weights of `checkpoint`."""
    started = time.monotonic()
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ImportFailed(f"{out_dir} is not empty; import into a new folder")
    state = read_checkpoint(checkpoint)
    tokenizer, model, generation, markers_added = load_base(base, revision)
    fitted, aliases, ignored = fit_state_dict(model, state)
    dtype = _dtype_of(state)
    if dtype is not None and dtype != next(model.parameters()).dtype:
        model.to(dtype)  # keep the checkpoint's precision: every value stays exactly as trained
    model.load_state_dict(fitted, strict=True)
    if generation is not None:
        model.generation_config = generation
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    card = {
        "made_by": "talesrunner models import",
        "checkpoint": str(checkpoint.resolve()),
        "checkpoint_sha256": _sha256(checkpoint),
        "base": base,
        "revision": revision,
        "markers_added": markers_added,
        "tensors": len(state),
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "tied_keys_filled": aliases,
        "ignored_keys": ignored,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out_dir / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return ImportResult(out_dir=out_dir, tensors=len(state), parameters=card["parameters"], dtype=card["dtype"],
                        markers_added=markers_added, ignored=ignored, aliases=aliases, card=card)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
