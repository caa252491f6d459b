"""KoT5 and the translator on CTranslate2: int8 weights on a CPU (docs/models.md, "CTranslate2 on a CPU").

`talesrunner models convert MODEL_DIR OUT` writes a CTranslate2 directory: `model.bin`, CTranslate2's
`config.json` and vocabulary, the tokenizer files and `generation_config.json` copied from the model
(the worker loads the tokenizer saved with the model, never another), and `talesrunner_ct2.json`
(what it was converted from, and the test-model note of a tiny model). Pointing TALES_KOT5_DIR or
TALES_TRANSLATOR_MODEL at such a directory runs that model with CTranslate2 (`is_ct2_dir`): int8 on
a CPU, int8 with 16-bit activations on CUDA (bfloat16 for KoT5, never float16). The writer and the translator keep the interface of
the torch ones (`KoT5Writer`, `HfTranslator`), so the pipeline does not change: one `translate_batch`
with every scene of a book, the same decoding settings (beams, length and repetition penalties,
no-repeat n-grams, maximum and minimum length, suppressed tokens from the generation config).

KoT5's field markers: the torch path feeds them with attention off (mask 0, worker/ml/writer.py);
CTranslate2 takes no attention mask, so they are dropped from the source instead. Masked keys
contribute nothing to either attention, so dropping them is exact except for T5's relative
positions, which shift by the markers removed between two words; keeping them lets every word
attend to them, which the model was never trained on. What still differs: in beam search,
transformers applies the repetition penalty and the n-gram block to log-probabilities (and counts the
decoder start token), CTranslate2 to the logits. Measured agreement: docs/models.md.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shared.config import Settings
from worker.errors import StageError, model_load_error
from worker.ml import loading
from worker.ml.translator import HfTranslator
from worker.ml.writer import Kot5Decoding, KoT5Writer, SceneInput, special_token_ids

# The keys CTranslate2's converter writes into its config.json (a transformers config has none of them).
CT2_CONFIG_MARKERS = ("decoder_start_token", "unk_token", "add_source_eos")
SIDECAR = "talesrunner_ct2.json"
QUANTIZATIONS = ("int8", "int8_float16", "float16", "float32")
# Model types the worker runs with CTranslate2: KoT5 (t5) and the translators (marian; a t5 translator with a prefix).
SUPPORTED_TYPES = ("t5", "mt5", "marian")
# The files a tokenizer is saved as, copied beside the converted weights so the worker loads the same one.
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "vocab.txt", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "source.spm", "target.spm",
)
MarkerMode = Literal["drop", "keep"]


def is_ct2_dir(name: str | Path) -> bool:
    """True when `name` is a CTranslate2 model directory: model.bin beside a config.json with CTranslate2's keys."""
    path = Path(name).expanduser()
    if not (path / "model.bin").is_file() or not (path / "config.json").is_file():
        return False
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and all(key in config for key in CT2_CONFIG_MARKERS) and "model_type" not in config


@dataclass(frozen=True)
class Converted:
    """What `convert` wrote."""

    out: Path
    model_type: str
    quantization: str
    copied: tuple[str, ...]
    test_model: str | None


def convert(model_dir: str, out: str | Path, quantization: str = "int8", force: bool = False) -> Converted:
    """A transformers KoT5 or translation model (directory or hub id) -> a CTranslate2 directory at `out`.

    The weights are stored at `quantization`; the tokenizer files and the generation settings are
    copied beside them, and the directory says what it was made from (SIDECAR).
    """
    import ctranslate2
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, not {quantization!r}")
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} exists and is not empty (pass --force to replace it)")
    source = Path(model_dir).expanduser()
    local = source.is_dir()
    if local and out.resolve() == source.resolve():
        raise ValueError("OUT must be another folder than MODEL_DIR (the converter empties OUT first)")
    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type not in SUPPORTED_TYPES:
        raise ValueError(f"{model_dir} is a {config.model_type} model; the worker runs {', '.join(SUPPORTED_TYPES)} "
                         "(KoT5, MarianMT) with CTranslate2")
    copied = tuple(name for name in TOKENIZER_FILES if local and (source / name).is_file())
    converter = TransformersConverter(str(source) if local else model_dir, copy_files=list(copied) or None)
    converter.convert(str(out), quantization=quantization, force=True)
    if not copied:
        # A hub id: save the tokenizer published with the model (its files only; CTranslate2's config.json stays).
        AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
        copied = tuple(sorted(p.name for p in out.iterdir() if p.name in TOKENIZER_FILES))
    try:
        generation = GenerationConfig.from_pretrained(model_dir)
    except OSError:
        # No generation_config.json: transformers' generate would derive it from the model config, so do we.
        generation = GenerationConfig.from_model_config(config)
    generation.save_pretrained(out)
    note = getattr(config, loading.TEST_MODEL_KEY, None) or None
    (out / SIDECAR).write_text(json.dumps({
        "source": str(source.resolve()) if local else model_dir,
        "model_type": config.model_type,
        "architectures": config.architectures,
        "quantization": quantization,
        "ctranslate2": ctranslate2.__version__,
        loading.TEST_MODEL_KEY: note,
    }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Converted(out=out, model_type=config.model_type, quantization=quantization,
                     copied=(*copied, "generation_config.json"), test_model=note)


def compute_type(device: str, half_safe: bool = True) -> str:
    """int8 weights: on a CPU with float32 activations (`int8`); on CUDA with 16-bit activations
    (`int8_float16`; T5, whose activations overflow fp16, gets `int8_bfloat16` or stays `int8_float32`)."""
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types(device)
    if device == "cpu":
        return "int8" if "int8" in supported else "float32"
    for wanted in (("int8_float16",) if half_safe else ()) + ("int8_bfloat16", "int8_float32", "float32"):
        if wanted in supported:
            return wanted
    return "default"


def ct2_device(device_setting: str) -> str:
    """TALES_DEVICE for CTranslate2: cuda where its build sees a GPU (auto), else cpu."""
    import ctranslate2

    gpus = ctranslate2.get_cuda_device_count()
    if device_setting == "cuda" and not gpus:
        raise RuntimeError("TALES_DEVICE=cuda but CTranslate2 sees no CUDA device")
    return "cuda" if gpus and device_setting in ("auto", "cuda") else "cpu"


@dataclass
class Ct2Parts:
    """A CTranslate2 translator, the tokenizer saved with it, its generation settings and where it runs."""

    tokenizer: Any
    model: Any  # ctranslate2.Translator
    device: str
    compute_type: str
    generation: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    special_ids: tuple[int, ...] = ()
    target_tokens: frozenset[str] = frozenset()  # what the converted model can write (Marian's has no <pad>)

    @property
    def test_model(self) -> str | None:
        return self.info.get(loading.TEST_MODEL_KEY) or None


def load_ct2(name: str, device: str, compute: str, what: str, setting: str, threads: int = 0) -> Ct2Parts:
    """A CTranslate2 directory and the tokenizer and generation config copied into it."""
    import ctranslate2
    from transformers import AutoTokenizer

    path = Path(name).expanduser()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = ctranslate2.Translator(str(path), device=device, compute_type=compute,
                                       intra_threads=threads or cpu_threads())
    except (OSError, ValueError, RuntimeError) as exc:
        raise model_load_error(f"{what} (CTranslate2)", name, setting, exc) from exc
    generation = loading.json_object(path / "generation_config.json")
    info = loading.json_object(path / SIDECAR)
    return Ct2Parts(tokenizer=tokenizer, model=model, device=device, compute_type=compute, generation=generation,
                    info=info, target_tokens=target_vocabulary(path))


def target_vocabulary(path: Path) -> frozenset[str]:
    """The tokens a CTranslate2 directory's decoder writes (its target, or shared, vocabulary)."""
    for name in ("target_vocabulary.json", "shared_vocabulary.json"):
        if (path / name).is_file():
            return frozenset(json.loads((path / name).read_text(encoding="utf-8")))
    for name in ("target_vocabulary.txt", "shared_vocabulary.txt"):
        if (path / name).is_file():
            return frozenset((path / name).read_text(encoding="utf-8").splitlines())
    return frozenset()


def cpu_threads() -> int:
    """As many threads as torch uses here (CTranslate2's own default is 4, too many on a 2-core host)."""
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:
        return len(os.sched_getaffinity(0))


def decoding_options(parts: Ct2Parts, new_tokens: int, *, beams: int, length_penalty: float | None = None,
                     repetition_penalty: float | None = None, no_repeat_ngram_size: int | None = None,
                     sample_top_p: float | None = None) -> dict[str, Any]:
    """translate_batch options for what transformers' generate does with these settings and the model's generation config.

    `new_tokens` is the most tokens generate may add after the decoder start token (its max_length
    less one, or max_new_tokens). Arguments left None come from the generation config, as generate's do.
    """
    config = parts.generation
    tokenizer = parts.tokenizer
    known = parts.target_tokens or frozenset(tokenizer.get_vocab())
    limit = new_tokens
    if config.get("forced_eos_token_id") is not None:
        # generate puts the end token in the last place; CTranslate2 stops there without it: one token less.
        limit -= 1
    # generate's min_length counts the decoder start token; min_new_tokens does not.
    minimum = max(int(config.get("min_length") or 0) - 1, int(config.get("min_new_tokens") or 0), 0)
    suppressed = [[token] for token in tokenizer.convert_ids_to_tokens(list(config.get("suppress_tokens") or []))]
    for words in config.get("bad_words_ids") or []:
        suppressed.append(tokenizer.convert_ids_to_tokens(list(words)))
    options: dict[str, Any] = {
        "beam_size": beams,
        "max_decoding_length": max(limit, 1),
        "min_decoding_length": min(minimum, max(limit, 1)),
        "length_penalty": config.get("length_penalty", 1.0) if length_penalty is None else length_penalty,
        "repetition_penalty": config.get("repetition_penalty", 1.0) if repetition_penalty is None else repetition_penalty,
        "no_repeat_ngram_size": (config.get("no_repeat_ngram_size") or 0) if no_repeat_ngram_size is None
        else no_repeat_ngram_size,
        # generate's early stopping (KoT5's) ends a beam search once `beams` hypotheses are finished:
        # CTranslate2's patience 1 does the same.
        "patience": 1,
        "max_input_length": 0,  # inputs are cut by the tokenizer, as on the torch path
        # A token the converted model cannot write needs no suppressing (CTranslate2 refuses unknown ones).
        "suppress_sequences": [seq for seq in suppressed if seq and all(token in known for token in seq)] or None,
    }
    if sample_top_p is not None:
        options.update(beam_size=1, sampling_topk=0, sampling_topp=sample_top_p)
    return options


def run_batch(parts: Ct2Parts, sources: list[list[int]], options: dict[str, Any]) -> list[list[int]]:
    """One translate_batch call for every source; the output token ids (no start or end token)."""
    tokenizer = parts.tokenizer
    results = parts.model.translate_batch([tokenizer.convert_ids_to_tokens(ids) for ids in sources], **options)
    return [tokenizer.convert_tokens_to_ids(result.hypotheses[0]) for result in results]


def decode(parts: Ct2Parts, outputs: list[list[int]]) -> list[str]:
    """Text as the torch path decodes it: special tokens skipped, spaces collapsed."""
    return [" ".join(text.split()) for text in parts.tokenizer.batch_decode(outputs, skip_special_tokens=True)]


class Ct2KoT5Writer(KoT5Writer):
    """TALES_WRITER=kot5 with TALES_KOT5_DIR at a CTranslate2 directory: the same writer, on CTranslate2."""

    def __init__(self, parts: Ct2Parts, decoding: Kot5Decoding | None = None, markers: MarkerMode = "drop"):
        super().__init__(parts, decoding)  # type: ignore[arg-type]
        self.markers = markers

    @classmethod
    def from_settings(cls, settings: Settings) -> Ct2KoT5Writer:
        device = ct2_device(settings.TALES_DEVICE)
        compute = compute_type(device, half_safe=False)
        name = settings.TALES_KOT5_DIR
        parts = loading.cached(("kot5-ct2", name, device, compute), lambda: load_kot5_ct2(name, device, compute))
        return cls(parts, Kot5Decoding.from_settings(settings))

    @property
    def test_model(self) -> str | None:
        return self.parts.test_model

    def encode(self, texts: list[str]) -> dict[str, Any]:
        """The token ids CTranslate2 is given: cut to max_input_tokens like the torch path's, with the
        field markers dropped (they are masked there), or kept with `markers="keep"`."""
        tokenizer, special = self.parts.tokenizer, set(self.parts.special_ids)
        batch = tokenizer(texts, max_length=self.decoding.max_input_tokens, truncation=True)
        ids = [list(row) for row in batch["input_ids"]]
        if self.markers == "drop":
            ids = [[token for token in row if token not in special] for row in ids]
        return {"input_ids": ids}

    def options(self, sample: bool = False) -> dict[str, Any]:
        decoding = self.decoding
        return decoding_options(
            self.parts, decoding.max_length - 1, beams=decoding.num_beams, length_penalty=decoding.length_penalty,
            repetition_penalty=decoding.repetition_penalty, no_repeat_ngram_size=decoding.no_repeat_ngram_size,
            sample_top_p=0.92 if sample else None,
        )

    def generate_ids(self, scenes: list[SceneInput], per_scene: int = 1) -> list[list[int]]:
        """The output token ids of every scene (`per_scene` in a row for each), from one translate_batch call."""
        sources = self.encode([self.input_text(scene) for scene in scenes])["input_ids"]
        # A page written again samples a new paragraph (beam search would give back the same one), as on torch.
        sample = per_scene > 1 or any(scene.neighbours or scene.again for scene in scenes)
        # Several samples of a page: its source repeated, each copy drawn on its own (translate_batch's
        # num_hypotheses is bounded by the beam size, 1 when sampling).
        return run_batch(self.parts, [ids for ids in sources for _ in range(per_scene)], self.options(sample))

    def generate(self, scenes: list[SceneInput]) -> list[str]:
        return [group[0] for group in self.generate_candidates(scenes)]

    def generate_candidates(self, scenes: list[SceneInput]) -> list[list[str]]:
        """Each scene's paragraphs: one (beam search) for a first writing, REWRITE_CANDIDATES samples a page
        for a page written again by hand, all in one translate_batch call as on torch."""
        if not scenes:
            return []
        per_scene = self.REWRITE_CANDIDATES if any(scene.rewriting for scene in scenes) else 1
        texts = decode(self.parts, self.generate_ids(scenes, per_scene))
        groups = [texts[i * per_scene : (i + 1) * per_scene] for i in range(len(scenes))]
        empty = [scene.index for scene, group in zip(scenes, groups, strict=True) if not any(group)]
        if empty:
            raise StageError(f"the KoT5 model wrote nothing for scene(s) {empty}")
        return [[text for text in group if text] for group in groups]


def load_kot5_ct2(name: str, device: str, compute: str, threads: int = 0) -> Ct2Parts:
    parts = load_ct2(name, device, compute, "KoT5 model", "TALES_KOT5_DIR", threads)
    parts.special_ids = special_token_ids(parts.tokenizer, f"the tokenizer in {name}")
    return parts


class Ct2Translator(HfTranslator):
    """TALES_TRANSLATOR=hf with TALES_TRANSLATOR_MODEL at a CTranslate2 directory: all captions in one translate_batch."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Ct2Translator:
        device = ct2_device(settings.TALES_DEVICE)
        compute = compute_type(device)
        name = settings.TALES_TRANSLATOR_MODEL
        parts = loading.cached(
            ("translator-ct2", name, device, compute),
            lambda: load_ct2(name, device, compute, "translation model", "TALES_TRANSLATOR_MODEL"),
        )
        return cls(parts, prefix=settings.TALES_TRANSLATOR_PREFIX)  # type: ignore[arg-type]

    def translate_ids(self, texts: list[str]) -> list[list[int]]:
        parts = self.parts
        sources = [f"{self.prefix} {text}".strip() for text in texts]
        ids = parts.tokenizer(sources, truncation=True, max_length=128)["input_ids"]
        return run_batch(parts, [list(row) for row in ids], decoding_options(parts, self.max_new_tokens, beams=self.num_beams))

    def translate(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        translated = decode(self.parts, self.translate_ids(texts))  # type: ignore[arg-type]
        if not all(translated):
            raise StageError(f"the translation model {self.parts.info.get('source') or 'CTranslate2'} returned an empty translation")
        return translated

