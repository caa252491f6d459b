"""`talesrunner models fetch DIR` against a local server that answers as the hub does (HF_ENDPOINT)."""
from __future__ import annotations

import pytest
import torch

from shared.config import Settings, get_settings
from talesrunner.cli import main
from talesrunner.fetch import fetch_models, files_to_fetch
from tests.hub_server import hub_server
from worker.ml import presence

pytestmark = pytest.mark.models

DEFAULTS = {slot.setting: Settings.model_fields[slot.setting].default for slot in presence.SLOTS
            if slot.setting in Settings.model_fields}
JUNK = {"tf_model.h5": b"tf", "flax_model.msgpack": b"flax", ".gitattributes": b"*.bin lfs", "pytorch_model.bin": b"old"}


@pytest.fixture
def hub(tiny_models, monkeypatch):
    """The tiny models served under the hub ids the settings name by default, with files the worker never loads."""
    with hub_server() as served:
        served.add_folder(DEFAULTS["TALES_BLIP_MODEL"], tiny_models / "blip", extra=JUNK)
        served.add_folder(DEFAULTS["TALES_TRANSLATOR_MODEL"], tiny_models / "translator", extra={"rust_model.ot": b"r"})
        # The KoT5 base exists at its `paraphrase` revision only (as the original used it): `main` answers 404.
        served.add_folder(DEFAULTS["TALES_KOT5_DIR"], tiny_models / "kot5", revisions=("paraphrase",))
        served.add_folder(DEFAULTS["TALES_MMS_MODEL"], tiny_models / "vits")
        served.add_folder(DEFAULTS["TALES_WHISPER_MODEL"], tiny_models / "whisper", extra={"flax_model.msgpack": b"flax"})
        served.add_folder(DEFAULTS["TALES_ILLUSTRATOR_MODEL"], tiny_models / "illustrator", extra={
            "v1-5-pruned-emaonly.safetensors": b"single file", "v1-5-pruned.ckpt": b"ckpt",
            "unet/diffusion_pytorch_model.fp16.safetensors": b"half", "unet/diffusion_pytorch_model.bin": b"old",
            "onnx/unet/model.onnx": b"onnx"})
        monkeypatch.setenv("HF_ENDPOINT", served.url)
        yield served


@pytest.fixture
def default_settings(monkeypatch):
    """The process settings with every model setting at its default (a connected machine's plain run)."""
    for setting in DEFAULTS:
        monkeypatch.delenv(setting, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _files(folder):
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*")
            if path.is_file() and ".cache" not in path.relative_to(folder).parts}


def test_fetch_puts_each_model_in_its_folder_and_prints_the_settings(hub, tiny_models, default_settings, tmp_path, capsys,
                                                                      fresh_models):
    out = tmp_path / "models"
    assert main(["models", "fetch", str(out)]) == 0
    printed = capsys.readouterr().out

    folders = {"blip": "blip", "translator": "translator", "kot5-base": "kot5", "mms": "vits", "illustrator": "illustrator",
               "whisper": "whisper"}
    for fetched, tiny in folders.items():
        assert _files(out / fetched) == _files(tiny_models / tiny), fetched  # every file the worker loads, nothing else
    blip_repo, sd_repo = DEFAULTS["TALES_BLIP_MODEL"], DEFAULTS["TALES_ILLUSTRATOR_MODEL"]
    assert not hub.downloaded(blip_repo) & set(JUNK)  # never even downloaded
    assert hub.downloaded(sd_repo) == set(_files(tiny_models / "illustrator"))

    resolved = out.resolve()
    for setting, folder in (("TALES_BLIP_MODEL", "blip"), ("TALES_TRANSLATOR_MODEL", "translator"),
                            ("TALES_MMS_MODEL", "mms"), ("TALES_ILLUSTRATOR_MODEL", "illustrator"),
                            ("TALES_WHISPER_MODEL", "whisper")):
        assert f"\n{setting}={resolved / folder}\n" in printed
        assert f"#   {setting}=/models/{folder}" in printed
        assert presence.absence(presence.BY_KEY[folder], str(out / folder)) is None
    assert f"talesrunner models import kot5_checkpoint_final.pt {resolved / 'kot5'} --base {resolved / 'kot5-base'}" in printed
    assert "TALES_KOT5_DIR=" not in printed.split("# the settings")[1].split("#")[0]  # the base is not a story model

    # What was fetched is what the worker loads: the captioner captions with it...
    from PIL import Image

    from worker.ml.captioner import get_captioner

    captioner = get_captioner(Settings(TALES_CAPTIONER="blip", TALES_BLIP_MODEL=str(out / "blip"), TALES_DEVICE="cpu",
                                       TALES_BLIP_MAX_NEW_TOKENS=5))
    assert captioner.caption([Image.new("RGB", (40, 30), (90, 160, 60))])[0].text
    # ...and the fetched KoT5 base is the --base of `models import`.
    from transformers import AutoModelForSeq2SeqLM

    state = AutoModelForSeq2SeqLM.from_pretrained(tiny_models / "kot5").state_dict()
    torch.save({"model_state_dict": state}, tmp_path / "kot5_checkpoint_final.pt")
    assert main(["models", "import", str(tmp_path / "kot5_checkpoint_final.pt"), str(out / "kot5"),
                 "--base", str(out / "kot5-base")]) == 0
    assert presence.absence(presence.BY_KEY["kot5"], str(out / "kot5")) is None


def test_a_setting_that_names_a_path_fetches_its_default_into_that_folder(hub, tiny_models, tmp_path):
    said = []
    settings = Settings(TALES_BLIP_MODEL="/models/blip")  # docker-compose.yml's setting
    results = fetch_models(settings, tmp_path / "models", only={"blip"}, say=said.append)
    assert [(result.repo_id, result.folder.name) for result in results] == [(DEFAULTS["TALES_BLIP_MODEL"], "blip")]
    assert any("TALES_BLIP_MODEL names a path (/models/blip): its default hub id instead" in line for line in said)
    assert _files(tmp_path / "models" / "blip") == _files(tiny_models / "blip")


def test_a_model_the_hub_does_not_have_fails_naming_the_setting(hub, tmp_path, monkeypatch, default_settings, capsys):
    monkeypatch.setenv("TALES_TRANSLATOR_MODEL", "someone/no-such-model")
    get_settings.cache_clear()
    assert main(["models", "fetch", str(tmp_path / "models"), "--only", "translator,mms"]) == 2
    captured = capsys.readouterr()
    assert "TALES_TRANSLATOR_MODEL=someone/no-such-model: RepositoryNotFoundError" in captured.err
    assert (tmp_path / "models" / "mms" / "config.json").is_file()  # the others are fetched all the same


def test_only_what_the_worker_loads_is_fetched():
    listing = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
               "README.md", ".gitattributes", "training_args.bin", "onnx/encoder_model.onnx", "model.fp16.safetensors"]
    assert files_to_fetch(listing) == ["config.json", "model.safetensors", "README.md", "training_args.bin"]
    assert files_to_fetch(["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]  # no safetensors
    pipeline = ["model_index.json", "v1-5-pruned.safetensors", "unet/config.json", "unet/diffusion_pytorch_model.bin",
                "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.non_ema.bin", "vae/config.json",
                "vae/diffusion_pytorch_model.bin"]
    assert files_to_fetch(pipeline) == ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                                        "vae/config.json", "vae/diffusion_pytorch_model.bin"]
