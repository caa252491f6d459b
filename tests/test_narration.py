"""Read-aloud audio: sentence splitting, timings, MP3 encoding, and the espeak, mms and openai narrators."""
from __future__ import annotations

import io
import re
import wave

import numpy as np
import pytest

from shared.audio import SentenceTiming, text_spans
from shared.config import Settings
from tests.openai_stub import SECONDS_PER_CHARACTER, ChatStub, Hang
from worker.audio import Narration
from worker.audio.narrators import get_narrator
from worker.audio.pcm import EMPTY_PAGE_S, join, page_narration, read_wav, timings
from worker.audio.sentences import split_sentences
from worker.errors import StageError

ONE_SENTENCE = "토끼가 숲에서 깡충 뛰어요."
FOUR_SENTENCES = "토끼가 숲에서 깡충 뛰어요. 곰이 느릿느릿 다가와요! 둘이 같이 놀까요? 해가 지면 집으로 돌아가요."
HANGUL = re.compile(r"[가-힣]")

# MPEG audio layer III frame headers: bit rates (kbps) by index and sample rates by version bits.
_KBPS = {"1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
         "2": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_seconds(data: bytes) -> float:
    """The length of a constant-bit-rate MP3, walking its frames header by header to the last byte."""
    at, samples, rate = 0, 0, 0
    while at < len(data):
        header = int.from_bytes(data[at : at + 4], "big")
        assert header >> 21 == 0x7FF, f"no MP3 frame starts at byte {at}"
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        assert layer == 1 and version in _RATES, "not MPEG layer III"
        kbps = _KBPS["1" if version == 3 else "2"][(header >> 12) & 15]
        rate = _RATES[version][(header >> 10) & 3]
        per_frame = 1152 if version == 3 else 576
        at += per_frame // 8 * kbps * 1000 // rate + ((header >> 9) & 1)
        samples += per_frame
    assert at == len(data), "the last MP3 frame is cut short"
    return samples / rate


def assert_playable(narration: Narration, sentences: list[str]) -> None:
    """Sentence timings in order, not overlapping, ending with the audio; the MP3 as long as the audio."""
    assert narration.media_type == "audio/mpeg" and narration.data
    assert [s.text for s in narration.sentences] == sentences
    ends = [0.0]
    for sentence in narration.sentences:
        assert ends[-1] <= sentence.start < sentence.end, narration.sentences
        ends.append(sentence.end)
    assert narration.sentences[0].start == 0.0
    assert abs(narration.sentences[-1].end - narration.duration) < 1 / 8000
    # LAME adds its encoder delay and pads the last frame: at most a few frames longer, never shorter.
    assert narration.duration <= mp3_seconds(narration.data) <= narration.duration + 0.25


def test_sentences_end_at_end_marks_and_line_breaks_and_keep_their_punctuation():
    assert split_sentences('"안녕!" 토끼가 말했어요…  정말 3.5초 만에 왔어요?\n\n곰이 웃었어요\n') == [
        '"안녕!"', "토끼가 말했어요…", "정말 3.5초 만에 왔어요?", "곰이 웃었어요",
    ]
    assert split_sentences("좋아요. !!") == ["좋아요. !!"]
    assert split_sentences(" \n ") == []


def test_no_narrator_when_narration_is_off():
    assert get_narrator(Settings(TALES_NARRATOR="none")) is None


def test_timings_count_the_pause_between_sentences_but_not_after_the_last():
    rate = 16000
    waves = [np.ones(8000, dtype=np.float32), np.ones(4000, dtype=np.float32), np.ones(1600, dtype=np.float32)]
    joined = join(waves, rate, pause_s=0.25)
    assert joined.size == 8000 + 4000 + 1600 + 2 * 4000
    spoken = timings(["가.", "나.", "다."], waves, rate, pause_s=0.25)
    assert [(s.start, s.end) for s in spoken] == [(0.0, 0.5), (0.75, 1.0), (1.25, 1.35)]


def test_a_rate_mp3_lacks_is_resampled_and_keeps_its_length():
    wave = np.sin(np.arange(23000) / 10).astype(np.float32) * 0.5  # one second at 23 kHz
    narration = page_narration(["하나.", "둘."], [wave, wave], 23000, pause_s=0.5, kbps=48)
    assert narration.duration == pytest.approx(2.5, abs=1 / 24000)
    assert_playable(narration, ["하나.", "둘."])


def test_espeak_reads_a_longer_page_for_longer_with_each_sentence_timed():
    narrator = get_narrator(Settings(TALES_NARRATOR="espeak", TALES_NARRATION_PAUSE_S=0.3))
    assert narrator.name == "espeak" and "기계 음성" in narrator.label
    short, long = narrator.narrate([ONE_SENTENCE, FOUR_SENTENCES])
    assert_playable(short, [ONE_SENTENCE])
    assert_playable(long, split_sentences(FOUR_SENTENCES))
    assert len(long.sentences) == 4
    # Four sentences and three pauses take well over twice one sentence.
    assert long.duration > 2 * short.duration + 3 * 0.3
    assert all(s.end - s.start > 0.5 for s in long.sentences)


def test_espeak_reads_a_sentence_that_starts_like_an_option():
    narration = get_narrator(Settings(TALES_NARRATOR="espeak")).narrate(["-v 안녕하세요."])[0]
    assert_playable(narration, ["-v 안녕하세요."])
    assert narration.duration > 0.5


def test_espeak_missing_is_a_korean_error_for_the_book(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StageError) as failure:
        get_narrator(Settings(TALES_NARRATOR="espeak"))
    assert HANGUL.search(str(failure.value)) and "espeak-ng" in str(failure.value)


def test_a_page_with_nothing_to_read_is_short_silence():
    narration = get_narrator(Settings(TALES_NARRATOR="espeak")).narrate([""])[0]
    assert narration.sentences == () and narration.duration == pytest.approx(0.5)
    assert mp3_seconds(narration.data) >= 0.5


def test_a_page_the_voice_cannot_say_is_short_silence_too():
    """MMS has nothing to say for emoji or punctuation alone: the page still gets EMPTY_PAGE_S of audio."""
    narration = page_narration(["🐰🐻"], [np.zeros(0, dtype=np.float32)], 16000, 0.35, 48)
    assert narration.sentences == () and narration.duration == pytest.approx(EMPTY_PAGE_S)
    assert mp3_seconds(narration.data) >= EMPTY_PAGE_S


def _wav(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("written", [0, 0xFFFFFFFF, 0x7FFFF000])
def test_a_wav_whose_header_does_not_know_its_length_is_read_to_the_end(written):
    """Streaming servers write 0 as the data length, espeak-ng a placeholder: the bytes say how long it is."""
    tone = np.sin(np.arange(8000) / 10).astype(np.float32) * 0.5
    data = bytearray(_wav(tone))
    at = data.index(b"data")
    data[at + 4 : at + 8] = written.to_bytes(4, "little")
    data[4:8] = written.to_bytes(4, "little")  # the RIFF length too, as such writers do
    samples, rate = read_wav(bytes(data))
    assert rate == 16000 and samples.size == tone.size
    assert np.allclose(samples, tone, atol=1e-3)


def test_a_wav_with_a_chunk_after_its_data_reads_only_the_data():
    tone = np.full(100, 0.25, dtype=np.float32)
    data = bytearray(_wav(tone)) + b"LIST" + (6).to_bytes(4, "little") + b"INFOab"
    data[4:8] = (len(data) - 8).to_bytes(4, "little")
    samples, _ = read_wav(bytes(data))
    assert samples.size == 100 and np.allclose(samples, 0.25, atol=1e-3)


def test_a_pages_text_spans_keep_its_line_breaks_and_spaces_between_the_sentences():
    """The book page shows a narrated page as the parent wrote it, each sentence a span."""
    text = "토끼가 달렸어요.\r\n곰이  웃었어요! 🐰\n\n달이 떴어요."
    sentences = [SentenceTiming(s, i, i + 1) for i, s in enumerate(split_sentences(text))]
    spans = text_spans(text, sentences)
    assert "".join(span.sep + span.text for span in spans) == text.strip()
    assert [(span.sep, span.text) for span in spans] == [("", "토끼가 달렸어요."), ("\r\n", "곰이  웃었어요! 🐰"),
                                                         ("\n\n", "달이 떴어요.")]
    assert [span.timing for span in spans] == sentences
    # Text no sentence reads (narrated before a fix the sentences missed) is kept, without timing.
    spans = text_spans("하나. 둘. 셋.", [SentenceTiming("하나.", 0, 1), SentenceTiming("셋.", 1, 2)])
    assert [(span.sep, span.text, span.timing is None) for span in spans] == [("", "하나.", False), (" ", "둘.", True),
                                                                              (" ", "셋.", False)]
    assert [span.text for span in text_spans("🐰", [])] == ["🐰"]


# The OpenAI-compatible speech endpoint, against the local stub server.

def _openai(stub: ChatStub, **extra) -> Settings:
    values = {
        "TALES_NARRATOR": "openai", "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "test-key",
        "TALES_OPENAI_TTS_MODEL": "stub-tts", "TALES_OPENAI_TTS_VOICE": "nova",
        "TALES_OPENAI_TIMEOUT": 1.0, "TALES_OPENAI_MAX_RETRIES": 0,
    }
    return Settings(**{**values, **extra})


def test_openai_reads_each_sentence_in_its_own_request(stub):
    narrator = get_narrator(_openai(stub, TALES_NARRATION_PAUSE_S=0.2))
    short, long = narrator.narrate([ONE_SENTENCE, FOUR_SENTENCES])
    sentences = split_sentences(FOUR_SENTENCES)
    assert sorted(r["input"] for r in stub.speech_requests) == sorted([ONE_SENTENCE, *sentences])
    assert {(r["model"], r["voice"], r["response_format"]) for r in stub.speech_requests} == {("stub-tts", "nova", "wav")}
    assert_playable(short, [ONE_SENTENCE])
    assert_playable(long, sentences)
    # The stub speaks 0.1 s + 60 ms a character: each sentence's timing is its own WAV's length.
    for timing in long.sentences:
        assert timing.end - timing.start == pytest.approx(0.1 + SECONDS_PER_CHARACTER * len(timing.text), abs=1e-3)
    assert long.duration > short.duration


@pytest.mark.parametrize("answer", [
    pytest.param(lambda body: (400, {"error": {"message": "voice 'nova' is not supported"}}), id="4xx"),
    pytest.param(lambda body: (503, {"error": {"message": "overloaded"}}), id="5xx"),
    pytest.param(lambda body: Hang(2.0), id="timeout"),
    pytest.param(lambda body: b"not a wav", id="not-audio"),
])
def test_openai_failures_are_korean_errors_without_the_servers_words(stub, answer, caplog):
    stub.speech = answer
    narrator = get_narrator(_openai(stub, TALES_OPENAI_TIMEOUT=0.3))
    with pytest.raises(StageError) as failure:
        narrator.narrate([ONE_SENTENCE])
    message = str(failure.value)
    assert HANGUL.search(message)
    assert not re.search(r"[A-Za-z]", message), message
    # The operator finds the details in the log.
    assert "speech server" in caplog.text


def test_openai_without_a_server_is_a_korean_error():
    with pytest.raises(StageError, match="설정"):
        get_narrator(Settings(TALES_NARRATOR="openai", OPENAI_API_KEY=None, OPENAI_BASE_URL=None))


# The mms narrator with the tiny random-weight VITS from `talesrunner make-tiny-models`.

def _mms(tiny_models) -> Settings:
    return Settings(TALES_NARRATOR="mms", TALES_MMS_MODEL=str(tiny_models / "vits"), TALES_DEVICE="cpu")


PAGES = [ONE_SENTENCE, FOUR_SENTENCES, "곰이 잠들었어요. 쿨쿨!"]


@pytest.mark.models
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one-at-a-time"])
def test_mms_gives_one_timed_page_of_audio_per_page(tiny_models, batched):
    narrator = get_narrator(_mms(tiny_models), batched=batched)
    assert narrator.name == "mms" and narrator.batched is batched
    assert "시험용" in narrator.label  # the tiny model's config marks it as a test model
    narrations = narrator.narrate(PAGES)
    assert len(narrations) == len(PAGES)
    for page, narration in zip(PAGES, narrations, strict=True):
        assert_playable(narration, split_sentences(page))
        assert all(s.end > s.start for s in narration.sentences)
    # A fixed seed: the same book sounds the same the next time.
    assert [n.data for n in narrator.narrate(PAGES)] == [n.data for n in narrations]


@pytest.mark.models
def test_mms_romanises_korean_for_a_uroman_tokenizer(tiny_models):
    narrator = get_narrator(_mms(tiny_models))
    assert narrator.parts.tokenizer.is_uroman
    text = narrator.model_input("토끼가 숲에서 뛰어요…!")
    assert text == "toggiga supeseo ddwieoyo"
    ids = narrator.parts.tokenizer(text)["input_ids"]
    # Characters with blanks between them, every character one of the vocabulary's letters.
    assert len(ids) == 2 * len(text) + 1 and all(ids[1::2]) and not any(ids[0::2])


@pytest.mark.models
def test_mms_loads_the_model_once_per_process(tiny_models, fresh_models):
    settings = _mms(tiny_models)
    narrator = get_narrator(settings)
    assert narrator.batched is False  # on a CPU the padding of a batch costs more than it saves
    narrator.narrate(["하나."])
    get_narrator(settings, batched=False).narrate(["둘."])
    assert [count for key, count in fresh_models.load_counts.items() if key[0] == "vits"] == [1]
