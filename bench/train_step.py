"""Training throughput, measured: the original's fixed-length fp32 batches against our training path.

    .venv/bin/python bench/train_step.py                  # 3 timed steps a side, KoT5-base shapes (a few minutes on 2 cores)
    .venv/bin/python bench/train_step.py --steps 2 --threads 2

Both sides train the same KoT5-base-shaped model (T5, d_model 768, d_ff 3072, 12+12 layers,
12 heads, d_kv 64, relu, vocab 32100 + 12 = 32112; random weights) with the same optimizer
(AdamW, lr 2.79e-4, grad-norm clip 1.0), batch 8, on the same rows: the synthetic fixture pages
(training.fixtures) turned into model inputs by our own code (`training.train.features`: the
worker's input builder, markers masked, labels for the cleaned paragraph).

- original: every row padded to 128 input and 128 label tokens, float32, as the original's
  tokenizer(padding="max_length", max_length=128) did;
- ours: the Trainer's length-grouped sampler (rows of similar length batched together) and
  DataCollatorForSeq2Seq padding each batch to its own longest row, labels padded with -100;
  in bfloat16 autocast where the CPU computes it natively (`cpu_bf16_native`), else float32.

Throughput is target tokens per second: the real (unpadded) label tokens of the batches trained,
over the wall time of their optimizer steps (CPU time is printed too: on a shared machine it
tells the work apart from the waiting); the sides take turns step by step. Our batches are picked at evenly spaced points of the
sorted batch lengths, so a few steps stand for a whole epoch's mix; the original side trains the
same rows. The fixture paragraphs are shorter than real AI Hub pages (which run to ~128 tokens
more often), so on the real data the dynamic-padding gain is smaller. The last line is
`ratio=<our tokens/s / original tokens/s>`.
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

from training.fixtures import fixture_rows  # noqa: E402
from training.train import TrainOptions, collator, features  # noqa: E402
from worker.ml import loading  # noqa: E402
from worker.ml.tiny import korean_t5_tokenizer  # noqa: E402
from worker.ml.writer import special_token_ids  # noqa: E402

BATCH = 8
LENGTH = 128


def kot5_base(tokenizer) -> torch.nn.Module:
    """KoT5-base shapes with random weights."""
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=len(tokenizer), d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_decoder_layers=12,
                      num_heads=12, feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    assert config.vocab_size == 32112, config.vocab_size
    return T5ForConditionalGeneration(config).train()


def original_batch(rows: list[dict], tokenizer) -> dict[str, torch.Tensor]:
    """As the original: inputs and labels padded to 128 (labels with the pad id, counted in its loss)."""
    def pad(ids: list[int], value: int) -> list[int]:
        return ids[:LENGTH] + [value] * (LENGTH - len(ids[:LENGTH]))

    return {
        "input_ids": torch.tensor([pad(row["input_ids"], tokenizer.pad_token_id) for row in rows]),
        "attention_mask": torch.tensor([pad(row["attention_mask"], 0) for row in rows]),
        "labels": torch.tensor([pad(row["labels"], tokenizer.pad_token_id) for row in rows]),
    }


def our_batches(made: list[dict], steps: int) -> list[list[int]]:
    """Row indices of `steps` batches from the Trainer's length-grouped order, spread over its length range."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(0)
    order = list(LengthGroupedSampler(BATCH, lengths=[len(row["input_ids"]) for row in made], generator=generator))
    batches = [order[i:i + BATCH] for i in range(0, len(order) - BATCH + 1, BATCH)]
    batches.sort(key=lambda batch: max(len(made[i]["input_ids"]) for i in batch))
    return [batches[int((k + 0.5) * len(batches) / steps)] for k in range(steps)]


def train_step(model, optimizer, batch: dict, bf16: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one optimizer step: forward, backward, clip 1.0, AdamW."""
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per side")
    parser.add_argument("--rows", type=int, default=400, help="fixture rows the batches are drawn from")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_at_start = os.getloadavg()[0]

    tokenizer = korean_t5_tokenizer(pad_vocab_to=32100)
    with tempfile.TemporaryDirectory() as scratch:
        rows = fixture_rows(Path(scratch), args.rows, one_sentence=False)
    made = features(rows, tokenizer, special_token_ids(tokenizer), TrainOptions())
    model = kot5_base(tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2.79e-4)
    pad_batch = collator(tokenizer, model)
    ours_dtype = "bfloat16" if loading.cpu_bf16_native() else "float32"
    print(f"KoT5-base shapes, random weights; batch {BATCH}; {args.steps} timed steps a side; "
          f"torch threads {torch.get_num_threads()}; ours in {ours_dtype}", flush=True)

    picked = our_batches(made, args.steps)
    ours = [pad_batch([made[i] for i in batch]) for batch in picked]
    original = [original_batch([made[i] for i in batch], tokenizer) for batch in picked]
    target_tokens = sum(len(made[i]["labels"]) for batch in picked for i in batch)
    shapes = ", ".join(f"{tuple(b['input_ids'].shape)}->{tuple(b['labels'].shape)}" for b in ours)
    mean_in = sum(len(row["input_ids"]) for row in made) / len(made)
    mean_out = sum(len(row["labels"]) for row in made) / len(made)
    print(f"rows: mean {mean_in:.0f} input / {mean_out:.0f} target tokens; our batches (input->labels): {shapes}", flush=True)

    # Warm-up (first-call allocations, optimizer state) on one short batch for each setting.
    train_step(model, optimizer, replace_batch(ours[0]), bf16=False)
    if ours_dtype == "bfloat16":
        train_step(model, optimizer, replace_batch(ours[0]), bf16=True)

    # The sides take turns step by step, so a machine that gets busier or quieter weighs on all alike.
    sides = {"original": (original, False), "ours_fp32": (ours, False)}
    if ours_dtype == "bfloat16":
        sides["ours"] = (ours, True)
    spent = {name: [0.0, 0.0] for name in sides}
    for step in range(args.steps):
        for name, (batches, bf16) in sides.items():
            wall, cpu = train_step(model, optimizer, batches[step], bf16)
            spent[name][0] += wall
            spent[name][1] += cpu
    spent.setdefault("ours", spent["ours_fp32"])
    for label, name in (("original (128 fixed, float32)", "original"),
                        ("ours, length-grouped + dynamic padding (float32)", "ours_fp32"),
                        (f"ours, the training default on this machine ({ours_dtype})", "ours")):
        wall, cpu = spent[name]
        print(f"{label:55s} {wall / args.steps:6.1f} s/step  {target_tokens / wall:6.1f} target tokens/s"
              f"  (CPU {cpu / args.steps:6.1f} s/step)")
    print(f"CPU-time ratio {spent['original'][1] / spent['ours'][1]:.2f} (the work alone, whatever else runs)")
    print(f"load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"ratio={spent['original'][0] / spent['ours'][0]:.2f}")
    return 0


def replace_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The first two rows of a batch: a short warm-up step."""
    return {key: value[:2] for key, value in batch.items()}


if __name__ == "__main__":
    sys.exit(main())
