"""Scores of written paragraphs against the data set's own, on the original's metrics and a few standard ones.

    bleu          sacrebleu corpus BLEU, 13a tokens (punctuation split off; Korean words stay whole), 0-100
    chrf          sacrebleu corpus chrF (character 6-grams, word-order free: kind to Korean endings), 0-100
    rouge_l       rouge-score ROUGE-L F1 on words, mean over rows, 0-1
    meteor        nltk METEOR (Banerjee & Lavie: alpha 0.9, beta 3, gamma 0.5) on words, mean over rows, 0-1;
                  exact and Porter-stem matches only: its synonym stage reads English WordNet, which cannot be
                  downloaded here and has no Korean words anyway
    cider         pycocoevalcap CIDEr-D (the COCO caption code: tf-idf n-grams 1-4, clipped, length penalty
                  sigma 6, x10) on words, idf from this set's references, 0-10
    bertscore_f1  bert-score F1 (greedy cosine matching of contextual embeddings, no idf, no rescaling), 0-1
    spice         pycocoevalcap SPICE, only where Java and its Stanford CoreNLP 3.6.0 jars are present, 0-1

Words are whitespace-separated (Korean eojeol, particles attached) with the punctuation dropped,
as the COCO tokenizer drops it. A metric that cannot be computed is None with the reason why.
"""
from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.ml import loading

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("bleu", "chrf", "rouge_l", "meteor", "cider", "bertscore_f1", "spice")
# The original's full-validation scores (5,000 rows).
ORIGINAL: dict[str, float] = {"bertscore_f1": 0.807, "meteor": 0.346, "cider": 0.976, "spice": 0.192}
SCALES: dict[str, str] = {"bleu": "0-100", "chrf": "0-100", "rouge_l": "0-1", "meteor": "0-1", "cider": "0-10",
                          "bertscore_f1": "0-1", "spice": "0-1"}
DEFAULT_BERTSCORE_MODEL = "bert-base-multilingual-cased"
_WORD = re.compile(r"[^\s.,?!\"'“”‘’()\[\]…~·]+")
SPICE_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


@dataclass(frozen=True)
class Score:
    """One metric over a set of rows: a number, or None and why not."""

    value: float | None
    not_computed: str | None = None


def words(text: str) -> list[str]:
    """Whitespace words, lower-cased, punctuation dropped."""
    return _WORD.findall(text.lower())


def bleu(predictions: list[str], references: list[str]) -> Score:
    import sacrebleu

    return Score(float(sacrebleu.corpus_bleu(predictions, [references]).score))


def chrf(predictions: list[str], references: list[str]) -> Score:
    import sacrebleu

    return Score(float(sacrebleu.corpus_chrf(predictions, [references]).score))


class _Words:
    """The tokenizer interface rouge-score asks for; its default keeps only a-z and 0-9, which erases Korean."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


def rouge_l(predictions: list[str], references: list[str]) -> Score:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words())
    scores = [scorer.score(reference, prediction)["rougeL"].fmeasure for prediction, reference in zip(predictions, references)]
    return Score(sum(scores) / len(scores))


class _NoWordNet:
    """Stands in for English WordNet in nltk's METEOR: no synonyms, so only exact and stem matches count."""

    def synsets(self, word: str) -> list:
        return []


def meteor(predictions: list[str], references: list[str]) -> Score:
    from nltk.translate.meteor_score import meteor_score

    wordnet = _NoWordNet()
    scores = [meteor_score([words(reference)], words(prediction), wordnet=wordnet)
              for prediction, reference in zip(predictions, references)]
    return Score(sum(scores) / len(scores))


def cider(predictions: list[str], references: list[str]) -> Score:
    from pycocoevalcap.cider.cider import Cider

    if len(references) < 2:
        # Its idf comes from the references: with one row every n-gram has idf 0.
        return Score(None, "CIDEr needs at least 2 rows (its idf weights come from the set's references)")
    gts = {i: [" ".join(words(reference))] for i, reference in enumerate(references)}
    res = {i: [" ".join(words(prediction))] for i, prediction in enumerate(predictions)}
    value, _ = Cider().compute_score(gts, res)
    return Score(float(value))


def bertscore_source(model: str) -> tuple[str | None, str | None]:
    """(where to load the BERTScore model from, None) or (None, why it cannot be loaded here)."""
    if loading.is_local_dir(model):
        return model, None
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model, local_files_only=True), None
    except Exception:  # noqa: BLE001 - not in the cache, whatever the cache says
        pass
    reason = loading.hub_unreachable_reason()
    if reason:
        return None, (f"the BERTScore model {model!r} is not a local directory nor in the Hugging Face cache, and the "
                      f"hub cannot be used ({reason}); pass --bertscore-model DIR with a local copy")
    return model, None


class BertScore:
    """bert-score's scorer, loaded once for every set scored in one evaluation."""

    def __init__(self, model: str = DEFAULT_BERTSCORE_MODEL, layers: int | None = None, device: str = "cpu"):
        self.model, self.layers, self.device = model, layers, device
        self._scorer: Any = None
        self._reason: str | None = None

    def _load(self) -> None:
        source, self._reason = bertscore_source(self.model)
        if source is None:
            return
        try:
            from bert_score import BERTScorer
            from bert_score.utils import model2layers
            from transformers import AutoConfig

            layers = self.layers or model2layers.get(self.model) or AutoConfig.from_pretrained(source).num_hidden_layers
            self._scorer = BERTScorer(model_type=source, num_layers=layers, device=self.device)
        except (OSError, ValueError) as exc:
            self._reason = f"the BERTScore model {self.model!r} could not be loaded ({type(exc).__name__}: {exc})"

    def __call__(self, predictions: list[str], references: list[str]) -> Score:
        if self._scorer is None and self._reason is None:
            self._load()
        if self._scorer is None:
            return Score(None, self._reason)
        _, _, f1 = self._scorer.score(predictions, references)
        return Score(float(f1.mean()))


def spice_missing() -> str | None:
    """Why SPICE cannot run here, or None when Java and its jars are in place."""
    if shutil.which("java") is None:
        return "SPICE runs on Java, and java is not on PATH"
    import importlib.util

    # pycocoevalcap is a namespace package (no __init__): find the folder through its spice module.
    spec = importlib.util.find_spec("pycocoevalcap.spice.spice")
    lib = Path(spec.origin).parent / "lib" if spec and spec.origin else Path("pycocoevalcap/spice/lib")
    missing = [jar for jar in SPICE_JARS if not (lib / jar).is_file()]
    if missing:
        return (f"SPICE needs Stanford CoreNLP 3.6.0 ({', '.join(missing)}) in {lib}; pycocoevalcap fetches them from "
                "the Stanford NLP site on first use, which this machine cannot reach. (SPICE parses English scene "
                "graphs, so on Korean text it is a weak signal even where it runs.)")
    return None


def spice(predictions: list[str], references: list[str]) -> Score:
    reason = spice_missing()
    if reason:
        return Score(None, reason)
    from pycocoevalcap.spice.spice import Spice

    gts = {i: [reference] for i, reference in enumerate(references)}
    res = {i: [prediction] for i, prediction in enumerate(predictions)}
    try:
        value, _ = Spice().compute_score(gts, res)
    except Exception as exc:  # noqa: BLE001 - a Java failure is reported, not fatal to the other metrics
        return Score(None, f"SPICE failed: {type(exc).__name__}: {exc}")
    return Score(float(value))


def score_all(predictions: list[str], references: list[str], bertscore: BertScore | None = None) -> dict[str, Score]:
    """Every metric of METRICS over rows (prediction i against reference i)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        return {name: Score(None, "no rows to score") for name in METRICS}
    return {
        "bleu": bleu(predictions, references),
        "chrf": chrf(predictions, references),
        "rouge_l": rouge_l(predictions, references),
        "meteor": meteor(predictions, references),
        "cider": cider(predictions, references),
        "bertscore_f1": (bertscore or BertScore())(predictions, references),
        "spice": spice(predictions, references),
    }
