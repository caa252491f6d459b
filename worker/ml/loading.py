"""Model loading for the GPU worker: device choice and a once-per-process cache.

torch and transformers are imported inside the functions, never at module level, so that
importing the worker package (as the web tier does, to enqueue tasks) stays light (docs/architecture.md, "Tiers").
Models load lazily in the first task that needs them, not in `worker_process_init`, which
Celery kills after 4 seconds; the `solo` pool keeps them for every later book.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

T = TypeVar("T")

_cache: dict[Hashable, Any] = {}
_lock = threading.Lock()
# How many times each key was actually loaded in this process; the tests read it to prove reuse.
load_counts: dict[Hashable, int] = {}


@dataclass(frozen=True)
class Placement:
    """Where a model runs: a torch device name and a dtype name ("float32", "float16", "bfloat16")."""

    device: str
    dtype: str

    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype)


@dataclass
class TokenizerModel:
    """A loaded model, the tokenizer saved with it, and where it runs (translation, text to speech)."""

    tokenizer: Any
    model: Any
    placement: Placement


def cpu_bf16_native() -> bool:
    """True when this CPU computes bfloat16 in hardware (oneDNN sees AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def placement(device_setting: str, half_safe: bool = True, cpu_dtype: str = "auto") -> Placement:
    """Resolve TALES_DEVICE (auto|cpu|cuda) and TALES_CPU_DTYPE to a device and dtype.

    On CUDA, bf16 where the GPU has it, else fp16; `half_safe=False` models (T5, whose
    activations overflow fp16) get bf16 or stay fp32. On a CPU, bf16 only where the CPU does
    it natively (there it halves the time of every matmul); emulated bf16 would be slower than fp32.
    """
    import torch

    if device_setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("TALES_DEVICE=cuda but torch sees no CUDA device")
    use_cuda = device_setting == "cuda" or (device_setting == "auto" and torch.cuda.is_available())
    if not use_cuda:
        if cpu_dtype == "bfloat16" or (cpu_dtype == "auto" and cpu_bf16_native()):
            return Placement("cpu", "bfloat16")
        return Placement("cpu", "float32")
    if torch.cuda.is_bf16_supported():
        return Placement("cuda", "bfloat16")
    return Placement("cuda", "float16" if half_safe else "float32")


def cached(key: Hashable, load: Callable[[], T]) -> T:
    """The object for `key`, loading it on first use only; later calls (later books) reuse it."""
    with _lock:
        if key not in _cache:
            log.info("loading %s", key)
            _cache[key] = load()
            load_counts[key] = load_counts.get(key, 0) + 1
        return _cache[key]


# A config key that marks a test model (random weights, or trained on the synthetic fixtures);
# books written with one say so in their notes.
TEST_MODEL_KEY = "talesrunner_test_model"
HUB_CHECK_TIMEOUT_S = 3.0


def test_model_note(model: Any) -> str | None:
    """What a test model's config says about it (e.g. "random weights"), or None for a real model."""
    return getattr(getattr(model, "config", None), TEST_MODEL_KEY, None) or None


def hub_unreachable_reason(timeout: float = HUB_CHECK_TIMEOUT_S) -> str | None:
    """Why the Hugging Face hub cannot be used right now (HF_HUB_OFFLINE, no route), or None if it answers.

    Without this check, transformers retries every file of a hub id for about a minute on a
    machine without network before it gives up; one TCP connect tells the same in a second.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    endpoint = urlsplit(constants.ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port} cannot be reached: {exc}")

    # Name resolution ignores socket timeouts, so the whole attempt runs in a thread we stop waiting for.
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout + 1.0)
    return outcome[0] if outcome else f"{host}:{port} did not answer within {timeout:.0f} s"


def load_pretrained(
    what: str, name: str, setting: str, placement: Placement, load: Callable[[bool], tuple[Any, Any]]
) -> tuple[Any, Any]:
    """Run `load(local_files_only) -> (processor or tokenizer, model)`, then put the model on its device for inference.

    A hub id on a machine that cannot reach the hub is loaded from the local cache only, so a
    missing one fails in seconds. A missing or broken model becomes a StageError naming the setting to fix.
    """
    from worker.errors import model_load_error

    offline = None if is_local_dir(name) else hub_unreachable_reason()
    try:
        companion, model = load(offline is not None)
    except (OSError, ValueError) as exc:
        if offline:
            cause = OSError(f"it is not a local directory nor in the Hugging Face cache, and the hub cannot be used ({offline})")
            raise model_load_error(what, name, setting, cause) from exc
        raise model_load_error(what, name, setting, exc) from exc
    model.to(placement.device).eval()
    return companion, model


def clear() -> None:
    """Forget every loaded model (tests; a worker never needs this)."""
    with _lock:
        _cache.clear()
        load_counts.clear()


def is_local_dir(name: str) -> bool:
    """True when a model name is a directory on disk rather than a hub id."""
    from pathlib import Path

    return Path(name).expanduser().is_dir()


def json_object(path: Path) -> dict[str, Any]:
    """The JSON object in a model folder's file (a config, a sidecar), or {} when it is missing or not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
