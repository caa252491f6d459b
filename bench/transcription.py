"""Spoken hints on a CPU: Whisper-small's shapes on transformers against faster-whisper (CTranslate2 int8).

    .venv/bin/python bench/transcription.py                          # 10 s of speech, 64 tokens
    .venv/bin/python bench/transcription.py --seconds 5 --tokens 32  # shorter
    .venv/bin/python bench/transcription.py --device cuda            # on a GPU: float16 both

Options: --seconds (audio length, the espeak-ng hint said again and again), --tokens (forced output
length), --repeat (runs per engine; the fastest counts), --threads, --beams.

Full-size openai/whisper-small shapes with random weights: d_model 768, 12 encoder and 12 decoder
layers, 12 heads, FFN 3072, 80 mel bins, 1500 audio positions (30 s windows), 448 text positions,
the multilingual vocabulary's 51,865 ids (worker/transcription/tiny.py builds the tokenizer at
that size). The model is saved to a temporary folder as a deployment keeps it and converted there
with `worker.transcription.convert` (what an operator runs), int8. Every engine gets the same
decoded audio in the worker's windows, Korean forced, greedy (TALES_WHISPER_NUM_BEAMS=1), and
writes exactly --tokens text tokens (the end token and the timestamps are barred); the bench prints the counts.

- transformers float32 (`TALES_CPU_DTYPE=float32`), one batched generate as TransformersWhisper runs it;
- transformers at the worker's default on this machine (bfloat16 where the CPU computes it natively);
- faster-whisper on the int8 conversion, as FasterWhisper runs it (no timestamps, no VAD, temperature 0).

Real-time factor = seconds of compute / seconds of audio (lower is faster). Whisper encodes a whole
30 s window whatever the hint's length, so short hints cost about as much as 30 s of encoder.
The last line is `ratio=<transformers float32 seconds / faster-whisper int8 seconds>`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from worker.ml.loading import placement  # noqa: E402
from worker.transcription.audio import decode_audio  # noqa: E402
from worker.transcription.base import LANGUAGE, SAMPLE_RATE, windows  # noqa: E402
from worker.transcription.convert import convert_whisper  # noqa: E402
from worker.transcription.tiny import generation_config, whisper_tokenizer  # noqa: E402

WHISPER_SMALL = {
    "d_model": 768, "encoder_layers": 12, "decoder_layers": 12, "encoder_attention_heads": 12,
    "decoder_attention_heads": 12, "encoder_ffn_dim": 3072, "decoder_ffn_dim": 3072,
    "num_mel_bins": 80, "max_source_positions": 1500, "max_target_positions": 448,
}
HINT = "민호가 공원에서 자전거를 탔어요. 그리고 친구랑 같이 모래성을 쌓았어요."


def speech(seconds: float, folder: Path) -> np.ndarray:
    """The hint spoken by espeak-ng, looped to `seconds`, decoded as the worker decodes a recording."""
    spoken, looped = folder / "hint.wav", folder / "hint.webm"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(spoken), HINT], check=True)
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-stream_loop", "-1", "-i", str(spoken), "-t", f"{seconds:g}",
                    "-c:a", "libopus", str(looped)], check=True)
    return decode_audio(looped, max_seconds=max(seconds, 1.0), timeout_s=60)


def build(folder: Path) -> Path:
    """Random-weight whisper-small saved with its processor, as `talesrunner models fetch` leaves one."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperProcessor

    tokenizer = whisper_tokenizer()
    generation = generation_config(tokenizer)
    config = WhisperConfig(vocab_size=len(tokenizer), pad_token_id=generation.pad_token_id, bos_token_id=generation.bos_token_id,
                           eos_token_id=generation.eos_token_id, decoder_start_token_id=generation.decoder_start_token_id,
                           suppress_tokens=None, begin_suppress_tokens=None, **WHISPER_SMALL)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = generation
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(folder)
    return folder


class NoTimestamps:
    """Bars the timestamp tokens (a slice, nearly free): random weights would write them, a trained model given
    <|notimestamps|> does not, and transformers would then cut its output into segments."""

    def __init__(self, first: int):
        self.first = first

    def __call__(self, input_ids, scores):
        scores[:, self.first :] = -float("inf")
        return scores


def run_transformers(folder: Path, samples: np.ndarray, dtype: str, device: str, tokens: int, beams: int) -> tuple[float, int]:
    from transformers import LogitsProcessorList, WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=getattr(torch, dtype)).to(device).eval()
    start = time.perf_counter()
    inputs = processor(windows(samples), sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True)
    with torch.inference_mode():
        output = model.generate(inputs["input_features"].to(device, dtype=getattr(torch, dtype)),
                                attention_mask=inputs["attention_mask"].to(device), language=LANGUAGE, task="transcribe",
                                num_beams=beams, min_new_tokens=tokens, max_new_tokens=tokens,
                                logits_processor=LogitsProcessorList([NoTimestamps(processor.tokenizer.convert_tokens_to_ids("<|0.00|>"))]))
        processor.batch_decode(output, skip_special_tokens=True)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, int(output.shape[-1])


def run_faster_whisper(folder: Path, samples: np.ndarray, device: str, compute: str, threads: int, tokens: int,
                       beams: int) -> tuple[float, int]:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device=device, compute_type=compute, cpu_threads=threads, local_files_only=True)
    eos = model.hf_tokenizer.token_to_id("<|endoftext|>")
    special = list(range(eos, model.hf_tokenizer.get_vocab_size()))  # the end, the special tokens, the timestamps
    # CTranslate2 4.8.5 stops a Whisper decode at half the max_length faster-whisper passes (prompt + new
    # tokens), measured with the end token barred: twice as many are asked for, and the counts printed prove it.
    start = time.perf_counter()
    count = 0
    for window in windows(samples):
        segments, _ = model.transcribe(window, language=LANGUAGE, task="transcribe", beam_size=beams, temperature=0.0,
                                       without_timestamps=True, condition_on_previous_text=False, vad_filter=False,
                                       max_new_tokens=2 * tokens - 4, suppress_tokens=[-1, *special], suppress_blank=False)
        count = max(count, sum(len(segment.tokens) for segment in segments))
    return time.perf_counter() - start, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--beams", type=int, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        samples = speech(args.seconds, scratch_dir)
        audio_s = len(samples) / SAMPLE_RATE
        started = time.perf_counter()
        model_dir = build(scratch_dir / "whisper-small-random")
        ct2_dir = convert_whisper(str(model_dir), scratch_dir / "whisper-small-ct2", quantization="int8")
        print(f"built and converted whisper-small shapes in {time.perf_counter() - started:.1f} s; audio {audio_s:.1f} s, "
              f"{len(windows(samples))} window(s), {args.tokens} tokens, {args.threads} threads, device {args.device}")
        if args.device == "cuda":
            engines = {"transformers float16": lambda: run_transformers(model_dir, samples, "float16", "cuda", args.tokens, args.beams),
                       "faster-whisper float16": lambda: run_faster_whisper(ct2_dir, samples, "cuda", "float16", 0,
                                                                           args.tokens, args.beams)}
        else:
            default = placement("cpu", cpu_dtype="auto").dtype
            engines = {"transformers float32": lambda: run_transformers(model_dir, samples, "float32", "cpu", args.tokens, args.beams)}
            if default != "float32":
                engines[f"transformers {default} (worker default)"] = lambda: run_transformers(
                    model_dir, samples, default, "cpu", args.tokens, args.beams)
            engines["faster-whisper int8"] = lambda: run_faster_whisper(ct2_dir, samples, "cpu", "int8", args.threads,
                                                                        args.tokens, args.beams)
        best: dict[str, float] = {}
        for name, run in engines.items():
            times, counts = [], set()
            for _ in range(args.repeat):
                seconds, count = run()
                times.append(seconds)
                counts.add(count)
            best[name] = min(times)
            print(f"{name:40s} {best[name]:7.2f} s  RTF {best[name] / audio_s:.3f}  tokens {sorted(counts)}")
        first, last = list(best)[0], list(best)[-1]
    print(f"ratio={best[first] / best[last]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
