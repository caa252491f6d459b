"""TALES_TRANSCRIBER=whisper: Whisper on the worker, through transformers or faster-whisper (CTranslate2).

The engine follows what TALES_WHISPER_MODEL names: a CTranslate2 directory (`model.bin`, made by
`talesrunner models convert`) runs on faster-whisper, int8 on a CPU and float16 on
CUDA, several times faster than transformers on a CPU (docs/models.md, "Spoken hints (Whisper)");
anything else (a hub id, a transformers directory) runs on transformers at the worker's placement.
A PEFT LoRA adapter (TALES_WHISPER_ADAPTER, or a TALES_WHISPER_MODEL folder that holds only an
adapter) is loaded on its base model and merged, so inference costs what the base model costs.
Korean is forced (`language="ko", task="transcribe"`); each 30 s window is one short-form decode.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.config import Settings, cpu_count
from worker.errors import StageError
from worker.ml import loading
from worker.transcription.base import LANGUAGE, SAMPLE_RATE, Transcript, clean_text, token_budget, windows

log = logging.getLogger(__name__)

SETTING = "TALES_WHISPER_MODEL"
# What a converted directory says about itself (worker/transcription/convert.py writes it).
SIDECAR = "talesrunner_ct2.json"


def is_ct2_whisper(name: str) -> bool:
    """True when `name` is a CTranslate2 Whisper directory (faster-whisper's format)."""
    path = Path(name).expanduser()
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def adapter_base(name: str) -> str | None:
    """The base model a LoRA adapter folder names, when `name` is such a folder (no model of its own)."""
    path = Path(name).expanduser()
    if not (path / "adapter_config.json").is_file() or (path / "config.json").is_file():
        return None
    base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    return str(base) if base else None


def model_and_adapter(settings: Settings) -> tuple[str, str | None]:
    """(the Whisper model to load, the adapter to merge into it or None), from the settings."""
    name, adapter = settings.TALES_WHISPER_MODEL, settings.TALES_WHISPER_ADAPTER or None
    base = adapter_base(name)
    if base is not None:
        if adapter:
            raise StageError(f"{SETTING}={name} is a LoRA adapter and TALES_WHISPER_ADAPTER={adapter} names another; "
                             "set one of them")
        return base, name
    return name, adapter


def label_for(name: str, adapter: str | None) -> str:
    return f"whisper:{name}" + (f"+{adapter}" if adapter else "")


@dataclass
class WhisperParts:
    """A loaded transformers Whisper (adapter merged), its processor, and where it runs."""

    processor: Any
    model: Any
    placement: loading.Placement


def load_whisper(name: str, adapter: str | None, placement: loading.Placement) -> WhisperParts:
    """WhisperProcessor + WhisperForConditionalGeneration from a hub id or directory, the adapter merged in."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    def load(offline: bool) -> tuple[Any, Any]:
        processor = WhisperProcessor.from_pretrained(name, local_files_only=offline)
        model = WhisperForConditionalGeneration.from_pretrained(name, dtype=placement.torch_dtype(), local_files_only=offline)
        return processor, merged(model, adapter) if adapter else model

    processor, model = loading.load_pretrained("Whisper speech model", name, SETTING, placement, load)
    return WhisperParts(processor=processor, model=model, placement=placement)


def merged(model: Any, adapter: str) -> Any:
    """`model` with the PEFT LoRA adapter at `adapter` loaded and merged into its weights."""
    from peft import PeftModel

    from worker.errors import model_load_error

    try:
        return PeftModel.from_pretrained(model, adapter).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise model_load_error("Whisper LoRA adapter", adapter, "TALES_WHISPER_ADAPTER", exc) from exc


class TransformersWhisper:
    """Whisper through transformers: every window of a hint in one batched generate."""

    def __init__(self, parts: WhisperParts, label: str, num_beams: int = 1):
        self.parts = parts
        self.label = label
        self.num_beams = num_beams

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersWhisper:
        """The process-wide model for these settings, loaded on first use."""
        name, adapter = model_and_adapter(settings)
        where = loading.placement(settings.TALES_DEVICE, cpu_dtype=settings.TALES_CPU_DTYPE)
        parts = loading.cached(("whisper", name, adapter, where), lambda: load_whisper(name, adapter, where))
        return cls(parts, label_for(name, adapter), num_beams=settings.TALES_WHISPER_NUM_BEAMS)

    @property
    def test_model(self) -> str | None:
        return loading.test_model_note(self.parts.model)

    def transcribe(self, samples: np.ndarray) -> Transcript:
        import torch

        processor, model, where = self.parts.processor, self.parts.model, self.parts.placement
        pieces = windows(samples)
        inputs = processor(pieces, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True)
        features = inputs["input_features"].to(where.device, dtype=where.torch_dtype())
        with torch.inference_mode():
            output = model.generate(features, attention_mask=inputs["attention_mask"].to(where.device),
                                    language=LANGUAGE, task="transcribe", num_beams=self.num_beams,
                                    max_new_tokens=max(token_budget(piece) for piece in pieces))
        return Transcript(clean_text(processor.batch_decode(output, skip_special_tokens=True)), self.label)


class FasterWhisper:
    """Whisper converted to CTranslate2, through faster-whisper: int8 on a CPU, float16 on CUDA."""

    def __init__(self, model: Any, label: str, num_beams: int = 1, info: dict[str, Any] | None = None):
        self.model = model
        self.label = label
        self.num_beams = num_beams
        self.info = info or {}

    @classmethod
    def from_settings(cls, settings: Settings) -> FasterWhisper:
        name, adapter = model_and_adapter(settings)
        if adapter:
            raise StageError(f"TALES_WHISPER_ADAPTER={adapter} cannot be put on the CTranslate2 model {name}: merge it "
                             "while converting (talesrunner models convert MODEL OUT --adapter ADAPTER)")
        device, compute = ct2_placement(settings.TALES_DEVICE)
        model = loading.cached(("faster-whisper", name, device, compute), lambda: load_faster_whisper(name, device, compute))
        return cls(model, label_for(name, None), num_beams=settings.TALES_WHISPER_NUM_BEAMS, info=loading.json_object(Path(name) / SIDECAR))

    @property
    def test_model(self) -> str | None:
        return self.info.get(loading.TEST_MODEL_KEY) or None

    def transcribe(self, samples: np.ndarray) -> Transcript:
        pieces: list[str] = []
        for window in windows(samples):
            # One window, one decode: no timestamps to seek by, no temperature fallback, no VAD.
            segments, _ = self.model.transcribe(
                window, language=LANGUAGE, task="transcribe", beam_size=self.num_beams, temperature=0.0,
                without_timestamps=True, condition_on_previous_text=False, vad_filter=False,
            )
            pieces.extend(segment.text for segment in segments)
        return Transcript(clean_text(pieces), self.label)


def ct2_placement(device_setting: str) -> tuple[str, str]:
    """(device, compute type) for faster-whisper: int8 on a CPU, float16 on CUDA (as faster-whisper advises)."""
    import ctranslate2

    gpus = ctranslate2.get_cuda_device_count()
    if device_setting == "cuda" and not gpus:
        raise StageError("TALES_DEVICE=cuda but CTranslate2 sees no CUDA device")
    if gpus and device_setting in ("auto", "cuda"):
        return "cuda", "float16"
    return "cpu", "int8" if "int8" in ctranslate2.get_supported_compute_types("cpu") else "float32"


def load_faster_whisper(name: str, device: str, compute: str) -> Any:
    from faster_whisper import WhisperModel

    from worker.errors import model_load_error

    try:
        return WhisperModel(str(Path(name).expanduser()), device=device, compute_type=compute,
                            cpu_threads=cpu_count() if device == "cpu" else 0, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise model_load_error("Whisper speech model (CTranslate2)", name, SETTING, exc) from exc


def whisper_from_settings(settings: Settings) -> TransformersWhisper | FasterWhisper:
    """The engine TALES_WHISPER_MODEL calls for (module docstring)."""
    if is_ct2_whisper(settings.TALES_WHISPER_MODEL):
        return FasterWhisper.from_settings(settings)
    return TransformersWhisper.from_settings(settings)
