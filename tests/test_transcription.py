"""Spoken hints, worker side: recordings sniffed and decoded by ffmpeg, then transcribed by each backend.

The speech is real: espeak-ng's Korean voice saying a hint, converted with ffmpeg into what phones
record (WebM/Opus, MP4/AAC) and what people upload. The models are the tiny random-weight Whisper
from `talesrunner make-tiny-models` (its words are noise, but they go through the real classes),
its CTranslate2 conversion on faster-whisper, and the OpenAI-compatible stub server.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from shared.audio_input import (
    MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS, NOT_AUDIO, SILENT, TOO_LONG, UNREADABLE, AudioRefused, sniff_audio,
)
from shared.config import Settings
from tests.openai_stub import TRANSCRIPT, ChatStub
from worker.errors import StageError
from worker.transcription import get_transcriber
from worker.transcription.audio import decode_audio
from worker.transcription.base import SAMPLE_RATE, WINDOW_S, token_budget, windows

HINT = "민호가 공원에서 자전거를 탔어요"
FORMATS = {  # extension: (ffmpeg encoder arguments, what sniff_audio names it)
    "webm": (["-c:a", "libopus", "-b:a", "32k"], "webm"),  # Android Chrome's MediaRecorder
    "m4a": (["-c:a", "aac", "-b:a", "64k"], "mp4"),  # iOS Safari's MediaRecorder
    "ogg": (["-c:a", "libopus"], "ogg"),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "64k"], "mp3"),
    "flac": (["-c:a", "flac"], "flac"),
    "aac": (["-c:a", "aac", "-f", "adts"], "aac"),
    "wav": ([], "wav"),
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-nostdin", "-loglevel", "error", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[str, Path]:
    """The hint spoken by espeak-ng, in every format of FORMATS, plus 75 s of speech and a JPEG."""
    if not shutil.which("ffmpeg") or not shutil.which("espeak-ng"):
        pytest.fail("ffmpeg and espeak-ng are needed (scripts/setup.sh installs them)")
    folder = tmp_path_factory.mktemp("speech")
    spoken = folder / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(spoken), HINT], check=True, timeout=30)
    files = {"espeak": spoken}
    for extension, (encoder, _) in FORMATS.items():
        files[extension] = folder / f"hint.{extension}"
        ffmpeg("-i", str(spoken), *encoder, str(files[extension]))
    files["long"] = folder / "long.webm"  # the hint said over and over for 75 s
    ffmpeg("-stream_loop", "-1", "-i", str(spoken), "-t", "75", "-c:a", "libopus", str(files["long"]))
    files["silence"] = folder / "silence.webm"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "3", "-c:a", "libopus", str(files["silence"]))
    files["jpeg"] = folder / "photo.jpg"
    ffmpeg("-f", "lavfi", "-i", "color=c=orange:s=64x64", "-frames:v", "1", str(files["jpeg"]))
    files["text"] = folder / "text.webm"  # a name and an extension do not make audio
    files["text"].write_text("민호가 공원에서 자전거를 탔어요\n", encoding="utf-8")
    return files


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread: on a 2-core machine shared with other test processes, two threads wait on each other."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _decode(path: Path, **limits) -> np.ndarray:
    return decode_audio(path, max_seconds=limits.get("max_seconds", MAX_AUDIO_SECONDS), timeout_s=limits.get("timeout_s", 30))


def _refusal(path: Path, **limits) -> AudioRefused:
    with pytest.raises(AudioRefused) as refused:
        _decode(path, **limits)
    return refused.value


@pytest.mark.parametrize("extension", list(FORMATS))
def test_every_recording_format_is_sniffed_and_decoded_to_16k_mono(speech, extension):
    assert sniff_audio(speech[extension].read_bytes()[:64]) == FORMATS[extension][1]
    samples = _decode(speech[extension])
    with wave.open(str(speech["espeak"])) as spoken:
        seconds = spoken.getnframes() / spoken.getframerate()
    assert samples.dtype == np.float32 and samples.ndim == 1
    # Encoders add a few ms of priming; MP3 and AAC pad to whole frames.
    assert abs(len(samples) / SAMPLE_RATE - seconds) < 0.1
    assert 0.05 < float(np.abs(samples).max()) <= 1.0


@pytest.mark.parametrize("kind", ["text", "jpeg"])
def test_a_text_file_and_a_jpeg_are_not_audio_by_sniff_or_by_decode(speech, kind):
    assert sniff_audio(speech[kind].read_bytes()[:64]) is None
    refusal = _refusal(speech[kind])
    assert refusal.code == NOT_AUDIO
    assert "소리 파일이 아니에요" in refusal.message_ko


def test_sniff_knows_the_signatures_and_nothing_else():
    assert sniff_audio(b"\x1a\x45\xdf\xa3\x01\x00\x00\x00webm") == "webm"
    assert sniff_audio(b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00") == "mp4"
    assert sniff_audio(b"ID3\x04\x00\x00\x00\x00\x00\x00") == "mp3"
    assert sniff_audio(b"\xff\xfb\x90\x64\x00") == "mp3"  # MPEG-1 layer III frame header
    assert sniff_audio(b"\xff\xf1\x50\x80\x00") == "aac"  # ADTS, 44.1 kHz
    assert sniff_audio(b"#!AMR\n") == "amr"
    for other in (b"", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
                  b"%PDF-1.7", b"#EXTM3U\n", b"ffconcat version 1.0\n", b"\xff\xff\xff\xff"):
        assert sniff_audio(other) is None, other


def test_a_broken_file_with_an_audio_signature_is_unreadable(speech, tmp_path):
    broken = tmp_path / "broken.webm"
    broken.write_bytes(speech["webm"].read_bytes()[:40] + bytes(range(256)) * 8)
    assert _refusal(broken).code in (UNREADABLE, NOT_AUDIO)
    garbage = tmp_path / "garbage.ogg"
    garbage.write_bytes(b"OggS" + b"\x00" * 4000)
    assert _refusal(garbage).code in (UNREADABLE, NOT_AUDIO)


def test_75_seconds_of_speech_are_refused_while_decoding_before_any_transcription(speech):
    refusal = _refusal(speech["long"])
    assert refusal.code == TOO_LONG and "60초" in refusal.message_ko
    # The same file within a larger limit decodes whole: the refusal was the length, nothing else.
    assert abs(len(_decode(speech["long"], max_seconds=80)) / SAMPLE_RATE - 75) < 0.1


def test_silence_is_refused_rather_than_transcribed_into_made_up_words(speech):
    refusal = _refusal(speech["silence"])
    assert refusal.code == SILENT and "들리지 않아요" in refusal.message_ko


def test_a_decode_that_runs_past_its_timeout_is_stopped_and_refused(speech):
    assert _refusal(speech["long"], max_seconds=80, timeout_s=0.001).code == UNREADABLE


def test_a_missing_recording_is_a_missing_file_not_a_refusal(tmp_path):
    with pytest.raises(FileNotFoundError):
        _decode(tmp_path / "gone.webm")


def test_long_hints_are_cut_into_whisper_windows_at_the_quietest_moment():
    rate = SAMPLE_RATE
    tone = (0.3 * np.sin(np.arange(int(45 * rate)) * 2 * np.pi * 220 / rate)).astype(np.float32)
    tone[int(27 * rate) : int(27.5 * rate)] = 0.0  # a pause at 27 s
    pieces = windows(tone)
    assert [len(p) for p in pieces] and sum(len(p) for p in pieces) == len(tone)
    assert all(len(p) <= WINDOW_S * rate for p in pieces)
    assert 27 <= len(pieces[0]) / rate <= 27.5
    assert windows(tone[: 3 * rate])[0].shape == (3 * rate,)
    assert token_budget(tone[: 3 * rate]) == 61 and token_budget(tone) == 440


def test_the_settings_default_to_no_transcriber_and_the_shared_limits():
    settings = Settings()
    assert settings.TALES_TRANSCRIBER == "none" and get_transcriber(settings) is None
    assert (settings.TALES_MAX_AUDIO_S, settings.TALES_MAX_AUDIO_BYTES) == (MAX_AUDIO_SECONDS, MAX_AUDIO_BYTES)
    assert settings.TALES_WHISPER_MODEL == "openai/whisper-small"


def _whisper(model: Path | str, **extra) -> Settings:
    return Settings(TALES_TRANSCRIBER="whisper", TALES_WHISPER_MODEL=str(model), TALES_DEVICE="cpu",
                    TALES_CPU_DTYPE="float32", **extra)


def test_a_whisper_model_that_is_not_there_names_its_setting_and_tells_parents_in_korean(tmp_path, fresh_models):
    from worker.ml.presence import ModelMissing

    with pytest.raises(ModelMissing) as missing:
        get_transcriber(_whisper(tmp_path / "nowhere"))
    assert "TALES_WHISPER_MODEL" in missing.value.missing.detail
    assert missing.value.missing.slot.korean == "말을 글로 옮기는 모델이 아직 없어요"


@pytest.mark.models
def test_tiny_whisper_on_transformers_transcribes_korean_speech_once_loaded(speech, tiny_models, fresh_models):
    from worker.transcription.whisper import TransformersWhisper

    settings = _whisper(tiny_models / "whisper")
    transcriber = get_transcriber(settings)
    assert isinstance(transcriber, TransformersWhisper)
    for extension in ("webm", "m4a"):
        transcript = transcriber.transcribe(_decode(speech[extension]))
        assert isinstance(transcript.text, str) and transcript.text.strip()  # random weights: some words
        assert transcript.source == f"whisper:{tiny_models / 'whisper'}"
    assert transcriber.test_model and "random weights" in transcriber.test_model
    # The prompt forced Korean and transcription: <|startoftranscript|> <|ko|> <|transcribe|> <|notimestamps|>.
    tokenizer = transcriber.parts.processor.tokenizer
    tokenizer.set_prefix_tokens(language="ko", task="transcribe", predict_timestamps=False)
    assert tokenizer.convert_ids_to_tokens(tokenizer.prefix_tokens) == [
        "<|startoftranscript|>", "<|ko|>", "<|transcribe|>", "<|notimestamps|>"]
    assert get_transcriber(settings).parts is transcriber.parts  # loaded once per process
    assert sum(fresh_models.load_counts.values()) == 1


@pytest.mark.models
def test_faster_whisper_runs_the_ctranslate2_conversion_of_the_tiny_whisper(speech, tiny_models, tmp_path, fresh_models):
    from talesrunner.cli import main as talesrunner
    from worker.transcription.whisper import FasterWhisper, is_ct2_whisper

    def convert(args: list[str]) -> int:  # `talesrunner models convert` finds a Whisper by its config
        return talesrunner(["models", "convert", *args])

    out = tmp_path / "whisper-ct2"
    assert convert([str(tiny_models / "whisper"), str(out)]) == 0
    assert is_ct2_whisper(str(out)) and (out / "tokenizer.json").is_file() and (out / "preprocessor_config.json").is_file()
    transcriber = get_transcriber(_whisper(out))
    assert isinstance(transcriber, FasterWhisper)
    assert transcriber.model.model.is_multilingual  # so Korean is not overridden by English
    transcript = transcriber.transcribe(_decode(speech["webm"]))
    assert isinstance(transcript.text, str) and transcript.source == f"whisper:{out}"
    assert transcriber.test_model and "random weights" in transcriber.test_model
    assert convert([str(tiny_models / "whisper"), str(out)]) == 2  # an existing folder is kept without --force


@pytest.fixture
def adapter(tiny_models, tmp_path) -> Path:
    """A LoRA adapter for the tiny Whisper's attention (as AI-Book's targets q_proj and v_proj), with non-zero weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import WhisperForConditionalGeneration

    base = WhisperForConditionalGeneration.from_pretrained(tiny_models / "whisper")
    torch.manual_seed(1)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    folder = tmp_path / "adapter"
    lora.save_pretrained(folder)
    return folder


@pytest.mark.models
def test_a_lora_adapter_merges_into_the_same_model_shapes_and_changes_only_its_layers(speech, tiny_models, adapter, fresh_models):
    from transformers import WhisperForConditionalGeneration

    base = WhisperForConditionalGeneration.from_pretrained(tiny_models / "whisper").state_dict()
    transcriber = get_transcriber(_whisper(tiny_models / "whisper", TALES_WHISPER_ADAPTER=str(adapter)))
    merged = transcriber.parts.model.state_dict()
    assert type(transcriber.parts.model).__name__ == "WhisperForConditionalGeneration"
    assert {k: v.shape for k, v in merged.items()} == {k: v.shape for k, v in base.items()}
    changed = {k for k in base if not np.array_equal(base[k].numpy(), merged[k].numpy())}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed)
    transcript = transcriber.transcribe(_decode(speech["webm"]))
    assert isinstance(transcript.text, str) and transcript.source.endswith(f"+{adapter}")
    # A TALES_WHISPER_MODEL folder holding only an adapter runs on the base model it names.
    only_adapter = get_transcriber(_whisper(adapter))
    assert only_adapter.label == transcriber.label == f"whisper:{tiny_models / 'whisper'}+{adapter}"


@pytest.mark.models
def test_an_adapter_cannot_be_put_on_a_converted_model_and_says_how_to_merge_it(tiny_models, adapter, tmp_path, fresh_models):
    from worker.transcription.convert import convert_whisper

    out = convert_whisper(str(tiny_models / "whisper"), tmp_path / "ct2", adapter=str(adapter))
    with pytest.raises(StageError, match="--adapter"):
        get_transcriber(_whisper(out, TALES_WHISPER_ADAPTER=str(adapter)))
    assert '"adapter"' in (out / "talesrunner_ct2.json").read_text(encoding="utf-8")


def _openai(stub: ChatStub, **extra) -> Settings:
    return Settings(TALES_TRANSCRIBER="openai", OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="test",
                    TALES_OPENAI_MAX_RETRIES=0, TALES_OPENAI_TIMEOUT=10, **extra)


def test_the_openai_backend_sends_the_decoded_hint_as_wav_and_reads_the_korean_text(speech, stub):
    samples = _decode(speech["m4a"])
    transcript = get_transcriber(_openai(stub)).transcribe(samples)
    assert transcript.text == TRANSCRIPT and transcript.source == "openai:gpt-4o-mini-transcribe"
    form = stub.transcribe_requests[-1]
    assert (form["model"], form["language"], form["response_format"]) == ("gpt-4o-mini-transcribe", "ko", "json")
    assert form["file_filename"] == "hint.wav"
    with wave.open(io.BytesIO(form["file"])) as sent:
        assert (sent.getnchannels(), sent.getframerate(), sent.getsampwidth()) == (1, SAMPLE_RATE, 2)
        assert sent.getnframes() == len(samples)
    whisper_one = get_transcriber(_openai(stub, TALES_OPENAI_TRANSCRIBE_MODEL="whisper-1"))
    assert whisper_one.transcribe(samples).source == "openai:whisper-1"
    assert stub.transcribe_requests[-1]["model"] == "whisper-1"


def test_the_openai_backend_retries_a_busy_server_and_stops_at_a_refusal(speech, stub):
    samples = _decode(speech["webm"])
    transcriber = get_transcriber(_openai(stub))
    stub.transcribe = lambda form: (503, {"error": {"message": "overloaded"}})
    with pytest.raises(ConnectionError):
        transcriber.transcribe(samples)
    stub.transcribe = lambda form: (400, {"error": {"message": "unsupported model"}})
    with pytest.raises(StageError, match="unsupported model"):
        transcriber.transcribe(samples)


def test_the_openai_backend_needs_a_server():
    with pytest.raises(StageError, match="OPENAI_BASE_URL"):
        get_transcriber(Settings(TALES_TRANSCRIBER="openai", OPENAI_API_KEY=None, OPENAI_BASE_URL=None))
