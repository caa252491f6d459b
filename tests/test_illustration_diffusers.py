"""TALES_ILLUSTRATOR=diffusers on the tiny random-weight img2img pipeline: batching, seeds, sizes,
consistent self-attention, the safety checker's fallback and load errors."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from shared.config import Settings
from shared.styles import STYLES
from worker.errors import StageError
from worker.illustration.base import PageToDraw
from worker.illustration.stable_diffusion import NEGATIVE_PROMPT, DiffusersIllustrator, batches, drawing_size

STYLE = STYLES["watercolor"]


@pytest.fixture(scope="module")
def tiny_illustrator(tmp_path_factory):
    from worker.illustration.tiny import make_tiny_illustrator

    return make_tiny_illustrator(tmp_path_factory.mktemp("tiny-illustrator") / "illustrator")


def _settings(model, **extra) -> Settings:
    values = {"TALES_ILLUSTRATOR": "diffusers", "TALES_ILLUSTRATOR_MODEL": str(model), "TALES_DEVICE": "cpu",
              "TALES_ILLUSTRATOR_SIZE": 64, "TALES_ILLUSTRATOR_STEPS": 2, "TALES_ILLUSTRATOR_BATCH": 4}
    return Settings(**{**values, **extra})


class CountingPipeline:
    """The real pipeline, wrapped: counts the calls and the pages in each, then runs it."""

    def __init__(self, pipeline):
        self.pipeline, self.calls = pipeline, []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.pipeline(**kwargs)

    def __getattr__(self, name):
        return getattr(self.pipeline, name)


def _counted(illustrator: DiffusersIllustrator) -> CountingPipeline:
    counter = CountingPipeline(illustrator.parts.pipeline)
    illustrator.parts = replace(illustrator.parts, pipeline=counter)
    return counter


def _photo(size, seed) -> Image.Image:
    """A photo-like picture: smooth colour fields and a few shapes, different per seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    channels = [np.sin(x * rng.uniform(2, 6) + y * rng.uniform(1, 4) + rng.uniform(0, 3)) for _ in range(3)]
    return Image.fromarray((np.stack(channels, axis=-1) * 110 + 128).clip(0, 255).astype(np.uint8))


def _pages(seeds=(11, 12), sizes=((96, 72), (60, 100))) -> list[PageToDraw]:
    captions = ("a girl playing in the park", "a dog running on the grass")
    return [PageToDraw(_photo(size, i), captions[i % 2], seed) for i, (size, seed) in enumerate(zip(sizes, seeds))]


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_batches_are_as_even_as_possible():
    assert [len(b) for b in batches(5, 4)] == [3, 2]  # not 4 + 1: a page alone shares nothing
    assert [len(b) for b in batches(10, 4)] == [4, 3, 3]
    assert [list(b) for b in batches(2, 4)] == [[0, 1]]
    assert [len(b) for b in batches(3, 1)] == [1, 1, 1]
    assert batches(0, 4) == []


def test_drawing_sizes_keep_the_shape_in_multiples_of_eight():
    assert drawing_size((4000, 3000), 768) == (768, 576)
    assert drawing_size((3000, 4000), 768) == (576, 768)
    assert drawing_size((1000, 10), 64) == (64, 8)
    assert all(side % 8 == 0 for side in drawing_size((1234, 987), 512))


@pytest.mark.models
def test_a_book_is_drawn_in_one_pipeline_call_per_batch(tiny_illustrator, fresh_models):
    illustrator = DiffusersIllustrator(_settings(tiny_illustrator, TALES_ILLUSTRATOR_BATCH=4))
    counter = _counted(illustrator)
    pages = _pages()
    drawn = illustrator.draw(pages, STYLE)
    assert len(counter.calls) == 1
    call = counter.calls[0]
    assert call["prompt"] == [f"{STYLE.prompt}, {page.caption}" for page in pages]
    assert call["negative_prompt"] == [NEGATIVE_PROMPT] * 2
    # One generator per page, and one canvas for the batch (the wider by the taller of the two).
    assert len(call["generator"]) == 2 and {image.size for image in call["image"]} == {(64, 64)}
    assert call["strength"] == 0.55 and call["guidance_scale"] == 7.0
    # Each drawing comes back at its photo's size, and is a drawing, not the photo.
    assert [image.size for image in drawn] == [page.picture.size for page in pages]
    assert all(image.mode == "RGB" for image in drawn)
    assert not any(np.array_equal(_array(image), _array(page.picture)) for image, page in zip(drawn, pages))
    assert illustrator.flagged == []

    one_by_one = DiffusersIllustrator(_settings(tiny_illustrator, TALES_ILLUSTRATOR_BATCH=1))
    counter = _counted(one_by_one)
    assert [image.size for image in one_by_one.draw(pages, STYLE)] == [page.picture.size for page in pages]
    assert [len(call["prompt"]) for call in counter.calls] == [1, 1]
    assert fresh_models.load_counts[("diffusers", str(tiny_illustrator), fresh_models.Placement("cpu", "float32"))] == 1


@pytest.mark.models
def test_the_same_seeds_draw_the_same_pictures_and_other_seeds_others(tiny_illustrator, fresh_models):
    illustrator = DiffusersIllustrator(_settings(tiny_illustrator))
    first = illustrator.draw(_pages(seeds=(11, 12)), STYLE)
    again = illustrator.draw(_pages(seeds=(11, 12)), STYLE)
    assert all(np.array_equal(_array(a), _array(b)) for a, b in zip(first, again))
    redrawn = illustrator.draw(_pages(seeds=(11, 99)), STYLE)
    assert not np.array_equal(_array(first[1]), _array(redrawn[1]))


@pytest.mark.models
def test_the_note_says_a_test_model_drew_the_pictures(tiny_illustrator, fresh_models):
    from worker.ml.tiny import TEST_MODEL_NOTE

    illustrator = DiffusersIllustrator(_settings(tiny_illustrator))
    assert illustrator.name == "diffusers" and illustrator.note is None  # not loaded yet: nothing to say
    illustrator.draw(_pages(), STYLE)
    assert illustrator.note == f"pictures drawn by a test model ({TEST_MODEL_NOTE})"
    pipeline = illustrator.parts.pipeline
    assert type(pipeline).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(pipeline.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipeline.unet.dtype.__str__() == "torch.float32"


@pytest.mark.models
def test_consistent_attention_is_on_the_up_blocks_self_attention_only(tiny_illustrator, fresh_models):
    from diffusers.models.attention_processor import AttnProcessor2_0

    from worker.illustration.consistent_attention import ConsistentSelfAttnProcessor

    processors = DiffusersIllustrator(_settings(tiny_illustrator)).parts.pipeline.unet.attn_processors
    consistent = sorted(name for name, p in processors.items() if isinstance(p, ConsistentSelfAttnProcessor))
    assert consistent and all(name.startswith("up_blocks.") and name.endswith("attn1.processor") for name in consistent)
    assert consistent == sorted(n for n in processors if n.startswith("up_blocks.") and n.endswith("attn1.processor"))
    others = [p for name, p in processors.items() if name not in consistent]
    assert others and all(type(p) is AttnProcessor2_0 for p in others)  # attn2, and attn1 of the down and mid blocks
    assert any(name.endswith("attn2.processor") for name in processors)


@pytest.mark.models
def test_consistent_attention_changes_a_batch_and_nothing_else(tiny_illustrator, fresh_models):
    settings = _settings(tiny_illustrator)
    shared = DiffusersIllustrator(settings.model_copy(update={"TALES_ILLUSTRATOR_CONSISTENCY": 0.5}))
    plain = DiffusersIllustrator(settings.model_copy(update={"TALES_ILLUSTRATOR_CONSISTENCY": 0.0}))
    state = shared.parts.consistency
    pages = _pages(sizes=((64, 48), (64, 48)))

    with_sharing = shared.draw(pages, STYLE)
    assert state.calls > 0  # every up-block self-attention call of the step shared tokens
    without = plain.draw(pages, STYLE)
    assert state.calls == 0
    assert any(np.abs(_array(a) - _array(b)).max() > 0 for a, b in zip(with_sharing, without))
    # Without sharing each page depends only on its own photo and seed: alone it draws (nearly) the same.
    alone = plain.draw(pages[:1], STYLE)[0]
    assert np.abs(_array(alone) - _array(without[0])).max() <= 2
    # A page alone has nobody to share with: plain attention, whatever the setting.
    assert np.abs(_array(shared.draw(pages[:1], STYLE)[0]) - _array(alone)).max() <= 2
    assert state.calls == 0


@pytest.mark.models
def test_the_processor_is_attention_over_the_other_pages_of_its_half():
    import torch
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    from worker.illustration.consistent_attention import ConsistencyState, ConsistentSelfAttnProcessor

    torch.manual_seed(0)
    attn = Attention(query_dim=16, heads=2, dim_head=8).eval()
    state = ConsistencyState()
    processor, plain = ConsistentSelfAttnProcessor(state), AttnProcessor2_0()
    pages, tokens = 3, 10
    hidden = torch.randn(2 * pages, tokens, 16)  # [uncond; cond] halves of 3 pages
    with torch.no_grad():
        # Rate 1: page i attends to every token of its half, as attention over the half's tokens would.
        state.begin(1.0, 2, seed=5)
        shared = processor(attn, hidden)
        for half in range(2):
            keys = hidden[half * pages:(half + 1) * pages].reshape(1, pages * tokens, 16)
            for page in range(half * pages, (half + 1) * pages):
                expected = plain(attn, hidden[page:page + 1], encoder_hidden_states=keys)
                assert torch.allclose(shared[page:page + 1], expected, atol=1e-5)
        # Halves never mix: changing the unconditional half leaves the conditional one as it was.
        state.begin(0.5, 2, seed=5)
        before = processor(attn, hidden)
        changed = hidden.clone()
        changed[:pages] += 1.0
        state.begin(0.5, 2, seed=5)
        after = processor(attn, changed)
        assert torch.allclose(before[pages:], after[pages:]) and not torch.allclose(before[:pages], after[:pages])
        # Rate 0, or after end(): plain attention exactly.
        state.end()
        assert torch.equal(processor(attn, hidden), plain(attn, hidden))


@pytest.mark.models
def test_a_flagged_page_keeps_its_photo_and_is_listed(tiny_illustrator, fresh_models):
    """The real diffusers safety checker (tiny random CLIP vision tower) set to flag everything."""
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    from worker.illustration.consistent_attention import install

    illustrator = DiffusersIllustrator(_settings(tiny_illustrator))
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-10.0)  # every picture scores above its threshold
    components = {**illustrator.parts.pipeline.components, "safety_checker": checker,
                  "feature_extractor": CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})}
    pipeline = StableDiffusionImg2ImgPipeline(**components)
    illustrator.parts = replace(illustrator.parts, pipeline=pipeline, consistency=install(pipeline.unet))
    drawn = illustrator.draw(_pages(), STYLE)
    assert drawn == [None, None]  # the caller keeps these pages' photos
    assert illustrator.flagged == [0, 1]


@pytest.mark.models
def test_a_missing_model_names_the_setting(tmp_path, fresh_models, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # answer at once instead of probing the hub
    (tmp_path / "empty").mkdir()
    for model in (tmp_path / "missing", tmp_path / "empty"):
        illustrator = DiffusersIllustrator(_settings(model))  # cheap: the model loads on the first draw
        with pytest.raises(StageError, match="TALES_ILLUSTRATOR_MODEL"):
            illustrator.draw(_pages(), STYLE)
        assert illustrator.note is None  # asking for the note after a failed load does not load again


@pytest.mark.models
def test_the_worker_backend_draws_with_it(tiny_illustrator, fresh_models):
    """Through worker.illustration.backends, which caches the illustrator itself (loading.cached is not reentrant)."""
    from worker.illustration.backends import get_illustrator

    illustrator = get_illustrator(_settings(tiny_illustrator))
    assert isinstance(illustrator, DiffusersIllustrator) and illustrator.note is None  # nothing loaded yet
    pages = _pages()
    assert [image.size for image in illustrator.draw(pages, STYLE)] == [page.picture.size for page in pages]
    assert "test model" in illustrator.note and get_illustrator(_settings(tiny_illustrator)) is illustrator
