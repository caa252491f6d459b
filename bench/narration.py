"""Narration time of a 10-page Korean book, per narrator, on this machine.

    .venv/bin/python bench/narration.py              # espeak, tiny and full-size VITS, openai stub (a few minutes on 2 cores)
    .venv/bin/python bench/narration.py --no-full    # without the full-size VITS (seconds)

Options: --pages (1-10), --threads (torch CPU threads), --no-full.

- espeak: `EspeakNarrator.narrate(book)`, one espeak-ng process per sentence;
- mms tiny: the random-weight VITS `talesrunner make-tiny-models` writes;
- mms full-size: `VitsConfig()` defaults, the shapes of facebook/mms-tts-* (36 M weights: 6-layer
  text encoder, hidden 192, HiFi-GAN from 512 channels, 16 kHz), random weights, the tiny
  model's uroman-Latin tokenizer;
- openai: `OpenAINarrator` against the tests' local speech stub (tests/openai_stub.py), so it
  measures the client, WAV reading, joining and MP3 encoding, not a real server.

Each VITS model runs the book twice, back to back: batched (the worker's way: every sentence
of the book in one padded forward pass) and one sentence per forward pass. The romaniser and
a first forward pass are warmed up beforehand, so neither side pays them. Random weights
speak at random lengths, so each line says how many seconds of audio came out as well.
The last line is `ratio=<one-at-a-time seconds / batched seconds, full-size VITS>`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from shared.config import Settings  # noqa: E402
from tests.openai_stub import ChatStub  # noqa: E402
from worker.audio.espeak import EspeakNarrator  # noqa: E402
from worker.audio.mms import MmsNarrator, VitsParts, load_vits, romaniser  # noqa: E402
from worker.audio.openai_speech import OpenAINarrator  # noqa: E402
from worker.audio.sentences import split_sentences  # noqa: E402
from worker.ml import loading  # noqa: E402
from worker.ml.tiny import make_tiny_vits, vits_tokenizer  # noqa: E402

BOOK = (
    "아침 햇살이 창문으로 들어왔어요. 하은이는 눈을 비비며 일어났어요.",
    "오늘은 할머니 댁에 가는 날이에요! 하은이는 신이 나서 가방을 쌌어요. 곰 인형도 꼭 챙겼어요.",
    "기차가 칙칙폭폭 달려요. 창밖으로 노란 들판이 지나가요.",
    "할머니가 대문 앞에서 손을 흔들어요. 하은이는 할머니 품에 폭 안겼어요.",
    "마당에는 커다란 감나무가 있어요. 빨간 감이 주렁주렁 열렸어요. 하은이는 감을 세어 보았어요.",
    "할머니와 함께 송편을 빚었어요. 동글동글 예쁜 송편이 많이 생겼어요.",
    "저녁에는 강아지 복실이와 산책을 했어요. 복실이가 꼬리를 살랑살랑 흔들어요!",
    "밤하늘에 별이 반짝반짝 빛나요. 하은이는 가장 밝은 별에게 소원을 빌었어요. 무슨 소원이었을까요?",
    "할머니가 옛날이야기를 들려주셨어요. 하은이는 이야기를 듣다가 스르르 잠이 들었어요.",
    "다음 날 아침, 하은이는 할머니께 인사했어요. 또 올게요, 할머니!",
)


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def audio_seconds(narrations) -> float:
    return sum(n.duration for n in narrations)


def report(name: str, seconds: float, narrations) -> None:
    audio = audio_seconds(narrations)
    print(f"{name:<40} {seconds:7.2f} s  for {audio:6.1f} s of audio  (real-time factor {seconds / audio:.3f})", flush=True)


def vits_both_ways(name: str, parts: VitsParts, book: list[str]) -> tuple[float, float]:
    """The same model over the same book, batched and one sentence at a time; (batched s, one-at-a-time s)."""
    batched, single = MmsNarrator(parts, batched=True), MmsNarrator(parts, batched=False)
    batched.narrate(book[:1])  # first-call allocations
    batched_out, batched_s = timed(batched.narrate, book)
    single_out, single_s = timed(single.narrate, book)
    assert len(batched_out) == len(single_out) == len(book)
    report(f"{name}, batched", batched_s, batched_out)
    report(f"{name}, one sentence at a time", single_s, single_out)
    return batched_s, single_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=10, help="pages in the book (1-10)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-full", action="store_true", help="leave out the full-size VITS")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    book = list(BOOK[: args.pages])
    sentences = sum(len(split_sentences(page)) for page in book)
    load_at_start = os.getloadavg()[0]
    print(f"{len(book)} pages, {sentences} sentences; torch threads={torch.get_num_threads()}", flush=True)
    settings = Settings()

    espeak = EspeakNarrator.from_settings(settings)
    espeak.narrate(book[:1])
    report("espeak", *reversed(timed(espeak.narrate, book)))

    stub = ChatStub().start()
    try:
        speech = OpenAINarrator(Settings(OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="bench", TALES_OPENAI_MAX_RETRIES=0))
        speech.narrate(book[:1])
        report("openai (local stub server)", *reversed(timed(speech.narrate, book)))
    finally:
        stub.stop()

    _, uroman_s = timed(romaniser)
    print(f"(uroman loaded once in {uroman_s:.1f} s, not counted below)", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        tiny = load_vits(str(make_tiny_vits(Path(scratch) / "vits")), loading.Placement("cpu", "float32"))
        tiny_batched_s, tiny_single_s = vits_both_ways("mms, tiny VITS", tiny, book)
    print(f"{'':40} tiny ratio {tiny_single_s / tiny_batched_s:.2f}", flush=True)
    if args.no_full:
        print(f"load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
        print(f"ratio={tiny_single_s / tiny_batched_s:.2f} (tiny VITS: --no-full)")
        return 0

    from transformers import VitsConfig, VitsModel

    torch.manual_seed(0)
    full = VitsParts(tokenizer=vits_tokenizer(), model=VitsModel(VitsConfig()).eval(),
                     placement=loading.Placement("cpu", "float32"))
    weights = sum(p.numel() for p in full.model.parameters()) / 1e6
    print(f"full-size VITS (VitsConfig defaults, {weights:.1f} M weights, random)", flush=True)
    full_batched_s, full_single_s = vits_both_ways("mms, full-size VITS", full, book)
    # Other jobs on the machine slow whichever side runs beside them; say how busy it was.
    print(f"load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"ratio={full_single_s / full_batched_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
