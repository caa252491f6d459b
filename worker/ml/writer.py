"""Writers turn a book's scenes into one Korean paragraph each.

Interface: `texts = writer.write(scenes, plan)` with one `SceneInput` per scene, in book order,
and the book plan (worker/ml/plan.py; made from the scenes when not given). `write_book` gives
the title with the texts and, for a page being rewritten (`SceneInput.shown`, `.rewrites`), the
writer's other candidates (`Draft.alternatives`). `worker/ml/story.py` picks among them (never a
text the page has shown) and adds the child-safety check around any writer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from shared.config import Settings
from shared.safety import is_safe
from shared.story_input import SPECIAL_TOKENS, MissingField, build_input_text, service_seed_key
from worker.errors import StageError
from worker.ml import loading
from worker.ml.plan import BookPlan, Draft, SceneInput, make_plan
from worker.ml.template import TemplateWriter

__all__ = ["BookPlan", "Draft", "KoT5Writer", "OpenAIWriter", "SceneInput", "TemplateWriter", "Writer", "get_writer", "make_plan"]


class Writer(Protocol):
    name: str

    def write(self, scenes: list[SceneInput], plan: BookPlan | None = None) -> list[str]: ...

    def write_book(self, scenes: list[SceneInput], plan: BookPlan | None = None) -> Draft: ...


@dataclass(frozen=True)
class Kot5Decoding:
    """How KoT5 inputs are cut and paragraphs decoded; defaults are the original's (docs/architecture.md, "Decoding")."""

    max_input_tokens: int = 128
    max_length: int = 128
    num_beams: int = 3
    length_penalty: float = 0.8
    repetition_penalty: float = 1.5
    no_repeat_ngram_size: int = 3
    early_stopping: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Kot5Decoding:
        return cls(
            max_input_tokens=settings.TALES_KOT5_MAX_INPUT_TOKENS,
            max_length=settings.TALES_KOT5_MAX_LENGTH,
            num_beams=settings.TALES_KOT5_NUM_BEAMS,
            length_penalty=settings.TALES_KOT5_LENGTH_PENALTY,
            repetition_penalty=settings.TALES_KOT5_REPETITION_PENALTY,
            no_repeat_ngram_size=settings.TALES_KOT5_NO_REPEAT_NGRAM_SIZE,
            early_stopping=settings.TALES_KOT5_EARLY_STOPPING,
        )

    def generate_kwargs(self) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "num_beams": self.num_beams,
            "length_penalty": self.length_penalty,
            "repetition_penalty": self.repetition_penalty,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "early_stopping": self.early_stopping,
        }


@dataclass
class Kot5Parts:
    """A loaded KoT5 model, the tokenizer saved with it, and the ids of the 12 special tokens."""

    tokenizer: Any
    model: Any
    placement: loading.Placement
    special_ids: tuple[int, ...]


def special_token_ids(tokenizer: Any, where: str = "the KoT5 tokenizer") -> tuple[int, ...]:
    """The ids of the 12 special tokens, in their fixed order; an error if the tokenizer lacks any."""
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    missing = [token for token, id_ in zip(SPECIAL_TOKENS, ids) if id_ is None or id_ == tokenizer.unk_token_id]
    if missing:
        # A tokenizer other than the one saved with the fine-tuned model would give the
        # model ids it never saw; refuse rather than write nonsense.
        raise StageError(f"{where} lacks the special tokens {', '.join(missing)}; load the tokenizer saved with the model")
    return tuple(ids)


def encode_inputs(tokenizer: Any, texts: list[str], special_ids: tuple[int, ...], max_input_tokens: int) -> dict[str, Any]:
    """KoT5 inputs as training and the worker both feed them: cut to max_input_tokens, padded to the
    longest, attention off on the 12 field markers."""
    import torch

    batch = tokenizer(texts, max_length=max_input_tokens, truncation=True, padding=True, return_tensors="pt")
    # The field markers only separate the pieces: the model is trained not to attend to them.
    special = torch.tensor(special_ids, dtype=batch["input_ids"].dtype)
    batch["attention_mask"][torch.isin(batch["input_ids"], special)] = 0
    return dict(batch)


def load_kot5(name: str, placement: loading.Placement) -> Kot5Parts:
    """AutoTokenizer + AutoModelForSeq2SeqLM from a fine-tuned KoT5 directory (or hub id)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer, model = loading.load_pretrained(
        "KoT5 model", name, "TALES_KOT5_DIR", placement,
        lambda offline: (AutoTokenizer.from_pretrained(name, local_files_only=offline),
                         AutoModelForSeq2SeqLM.from_pretrained(name, dtype=placement.torch_dtype(), local_files_only=offline)),
    )
    ids = special_token_ids(tokenizer, f"the tokenizer in {name}")
    return Kot5Parts(tokenizer=tokenizer, model=model, placement=placement, special_ids=ids)


class KoT5Writer:
    """TALES_WRITER=kot5: the fine-tuned KoT5 story model; every scene of a book in one generate call.

    A page being rewritten is sampled (beam search would give back the text it has) with
    REWRITE_CANDIDATES sequences per page in the same call; worker/ml/story.py ranks them.
    """

    name = "kot5"
    REWRITE_CANDIDATES = 6

    def __init__(self, parts: Kot5Parts, decoding: Kot5Decoding | None = None):
        self.parts = parts
        self.decoding = decoding or Kot5Decoding()

    @classmethod
    def from_settings(cls, settings: Settings) -> KoT5Writer:
        """The process-wide KoT5 model for these settings, loaded on first use."""
        from worker.ml import ctranslate

        if ctranslate.is_ct2_dir(settings.TALES_KOT5_DIR):  # a `talesrunner models convert` directory
            return ctranslate.Ct2KoT5Writer.from_settings(settings)
        # T5's activations overflow fp16, so on GPUs without bf16 it stays fp32.
        where = loading.placement(settings.TALES_DEVICE, half_safe=False, cpu_dtype=settings.TALES_CPU_DTYPE)
        name = settings.TALES_KOT5_DIR
        parts = loading.cached(("kot5", name, where), lambda: load_kot5(name, where))
        return cls(parts, Kot5Decoding.from_settings(settings))

    @staticmethod
    def input_text(scene: SceneInput) -> str:
        """The training-format input for one scene; the caption is required here."""
        caption = (scene.caption or "").strip()
        if not caption:
            raise StageError(
                f"장면 {scene.index}: 사진 설명(caption)이 없어 KoT5로 쓸 수 없어요 "
                "(the kot5 writer needs a caption: set TALES_CAPTIONER to blip or openai)"
            )
        fields = {**scene.fields, "caption": caption}
        key = scene.seed_key or service_seed_key(
            caption, str(fields.get("name") or "").strip(), str(fields.get("i_action") or "").strip()
        )
        try:
            return build_input_text(fields, key)
        except MissingField as exc:
            raise StageError(f"장면 {scene.index}: {exc}") from exc

    @property
    def test_model(self) -> str | None:
        """What the model's config says when it is a test model, else None."""
        return loading.test_model_note(self.parts.model)

    def encode(self, texts: list[str]) -> dict[str, Any]:
        """Tokenize a batch (at most max_input_tokens each) with attention off on the special tokens."""
        batch = encode_inputs(self.parts.tokenizer, texts, self.parts.special_ids, self.decoding.max_input_tokens)
        return {key: value.to(self.parts.placement.device) for key, value in batch.items()}

    def write(self, scenes: list[SceneInput], plan: BookPlan | None = None) -> list[str]:
        return self.write_book(scenes, plan).texts

    def write_book(self, scenes: list[SceneInput], plan: BookPlan | None = None) -> Draft:
        """The model's paragraphs, fitted to the plan around them (names, connecting words); the input stays as trained."""
        plan = plan or make_plan(scenes)
        groups = self.generate_candidates(scenes)
        shaped = [[plan.shape(scene.index, text) for text in group] for scene, group in zip(scenes, groups, strict=True)]
        return Draft(texts=[group[0] for group in shaped], title=plan.title,
                     alternatives=[list(dict.fromkeys(group[1:])) for group in shaped])

    def generate(self, scenes: list[SceneInput]) -> list[str]:
        """The model's own paragraphs, one batched generate call for all scenes."""
        return [group[0] for group in self._sampled(scenes)]

    def generate_candidates(self, scenes: list[SceneInput]) -> list[list[str]]:
        """Each scene's paragraphs: one (beam search) for a first writing, several samples for a page written again.

        A subclass that runs the model its own way and has only `generate` gives one a page
        (the CTranslate2 writer has its own `generate_candidates`).
        """
        if type(self).generate is not KoT5Writer.generate:
            return [[text] for text in self.generate(scenes)]
        return self._sampled(scenes)

    def _sampled(self, scenes: list[SceneInput]) -> list[list[str]]:
        if not scenes:
            return []
        import torch

        batch = self.encode([self.input_text(scene) for scene in scenes])
        kwargs = self.decoding.generate_kwargs()
        per_scene = 1
        if any(scene.neighbours or scene.again or scene.rewriting for scene in scenes):
            # Other pages are already written, so this is a page being written again: beam search
            # would give back the very same paragraph, so sample new ones instead, several a page.
            per_scene = self.REWRITE_CANDIDATES if any(scene.rewriting for scene in scenes) else 1
            kwargs.update(do_sample=True, top_p=0.92, num_return_sequences=per_scene)
            if per_scene > 1:
                kwargs.update(num_beams=1, early_stopping=False)  # independent samples, not one beam's neighbours
        with torch.inference_mode():
            output = self.parts.model.generate(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs
            )
        texts = [" ".join(text.split()) for text in self.parts.tokenizer.batch_decode(output, skip_special_tokens=True)]
        groups = [texts[i * per_scene : (i + 1) * per_scene] for i in range(len(scenes))]
        empty = [scene.index for scene, group in zip(scenes, groups, strict=True) if not any(group)]
        if empty:
            raise StageError(f"the KoT5 model wrote nothing for scene(s) {empty}")
        return [[text for text in group if text] for group in groups]


WRITE_PROMPT = """당신은 어린이를 위한 한국어 그림책 작가입니다.
장면마다 사진 설명(caption)과 부모가 준 힌트(hints)가 있습니다. 힌트의 뜻:
name=주인공, i_action=주인공의 행동이나 상태, classification=이야기 분류, character=함께 나오는 인물,
setting=배경, action=행동, feeling=감정, causalRelationship=원인, outcomeResolution=결과, prediction=다음에 일어날 일.
책의 계획(plan)을 따르세요: reader는 읽을 아이의 나이와 문장 길이·낱말, cast는 인물과 처음 나온 뒤 부르는 이름
(예: 하은 -> 하은이), arc는 장면마다 이야기의 처음(beginning)·가운데(middle)·끝(end)입니다.
요청한 장면마다 문단을 하나씩 쓰세요. 모든 장면이 순서대로 이어지는 하나의 이야기가 되게 하고,
장면 사이를 자연스러운 이음말로 잇고, 힌트를 자연스럽게 녹이세요. 모든 문장은 해요체(~했어요)로 끝내고,
사진 이야기는 하지 마세요. 아이에게 맞지 않는 말(욕설, 폭력, 무서운 말)은 쓰지 마세요.
이미 쓰인 장면(written)은 고치지 말고 그 흐름에 맞추세요. plan.title이 null이면 책 제목도 지어 주세요(15자 안팎).
장면에 rewrite가 있으면 다시 쓰는 장면입니다: rewrite.avoid에 있는 글과 다른 새 문단을 text에 쓰고,
서로 다른 문단을 rewrite.alternatives 개수만큼 더 써서 "alternatives" 목록으로 주세요(낱말만 바꾸지 말고 문장을 달리).
JSON으로만 답하세요: {"title": "제목", "paragraphs": [{"index": 장면 번호, "text": "문단", "alternatives": ["문단", ...]}, ...]}"""


class OpenAIWriter:
    """TALES_WRITER=openai: the whole book in one chat call, so the scenes tell one story."""

    name = "openai"
    ALTERNATIVES = 3  # asked for beside each page being rewritten

    def __init__(self, settings: Settings):
        from worker.ml.openai_chat import OpenAIChat

        self.chat = OpenAIChat(settings)

    @staticmethod
    def request(scenes: list[SceneInput], plan: BookPlan | None = None) -> dict[str, Any]:
        """What the model is told: protagonist, the plan, each scene's caption and hints, pages already written."""
        plan = plan or make_plan(scenes)
        written: dict[int, str] = {}
        for scene in scenes:
            written.update(scene.neighbours)
        return {
            "protagonist": str(scenes[0].fields.get("name", "")).strip(),
            "plan": plan.brief(),
            "scenes": [
                {"index": scene.index, "caption": scene.caption, "hints": {k: v for k, v in scene.fields.items() if v},
                 **({"rewrite": {"avoid": list(scene.shown), "alternatives": OpenAIWriter.ALTERNATIVES}} if scene.rewriting else {})}
                for scene in scenes
            ],
            "written": {str(index): text for index, text in sorted(written.items())},
        }

    def write(self, scenes: list[SceneInput], plan: BookPlan | None = None) -> list[str]:
        return self.write_book(scenes, plan).texts

    def write_book(self, scenes: list[SceneInput], plan: BookPlan | None = None) -> Draft:
        """The whole book in one chat call; the model names the book when the plan has no title yet."""
        plan = plan or make_plan(scenes)
        if not scenes:
            return Draft(texts=[], title=plan.title)
        messages = [
            {"role": "system", "content": WRITE_PROMPT},
            {"role": "user", "content": json.dumps(self.request(scenes, plan), ensure_ascii=False)},
        ]
        answer = self.chat.complete_json(messages)
        return Draft(texts=self.paragraphs(answer, scenes), title=self.title(answer, plan),
                     alternatives=self.alternatives(answer, scenes))

    @staticmethod
    def alternatives(answer: dict[str, Any], scenes: list[SceneInput]) -> list[list[str]]:
        """The other paragraphs the model gave for each page (asked for on a rewrite), in scene order."""
        by_index: dict[int, list[str]] = {}
        for item in answer.get("paragraphs") or []:
            if isinstance(item, dict) and isinstance(item.get("alternatives"), list):
                try:
                    by_index[int(item.get("index"))] = [" ".join(t.split()) for t in item["alternatives"] if isinstance(t, str)]
                except (TypeError, ValueError):
                    continue
        return [[t for t in by_index.get(scene.index, []) if t] for scene in scenes]

    @staticmethod
    def title(answer: dict[str, Any], plan: BookPlan) -> str:
        """The model's title when the plan asked for one and it is usable, else the plan's."""
        title = answer.get("title")
        if plan.title_is_new and isinstance(title, str):
            title = " ".join(title.split()).strip("\"'「」")
            if 0 < len(title) <= 60 and is_safe(title):
                return title
        return plan.title

    @staticmethod
    def paragraphs(answer: dict[str, Any], scenes: list[SceneInput]) -> list[str]:
        """One paragraph per requested scene from the JSON answer, in scene order."""
        items = answer.get("paragraphs")
        if not isinstance(items, list):
            raise StageError(f"the story answer has no 'paragraphs' list: {str(answer)[:200]}")
        by_index: dict[int, str] = {}
        for position, item in enumerate(items):
            if isinstance(item, str) and len(items) == len(scenes):
                # Some models answer a plain list in scene order.
                by_index[scenes[position].index] = item
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                try:
                    by_index[int(item.get("index"))] = item["text"]
                except (TypeError, ValueError):
                    continue
        texts = [" ".join(by_index.get(scene.index, "").split()) for scene in scenes]
        missing = [scene.index for scene, text in zip(scenes, texts) if not text]
        if missing:
            raise StageError(f"the story answer has no paragraph for scene(s) {missing}")
        return texts


def get_writer(settings: Settings) -> Writer:
    """The writer backend named by TALES_WRITER."""
    if settings.TALES_WRITER == "kot5":
        return KoT5Writer.from_settings(settings)
    if settings.TALES_WRITER == "openai":
        return OpenAIWriter(settings)
    return TemplateWriter()
