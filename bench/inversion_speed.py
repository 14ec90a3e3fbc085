"""Inversions per second and peak memory of a model, at batch 1 and 64, for 8 and 16 steps.

    python bench/inversion_speed.py --model en --out docs/bench-inversion-en.json
    python bench/inversion_speed.py --model en --precision float32   # without bfloat16
    python bench/inversion_speed.py --model en --system-malloc       # glibc's default allocator
    python bench/inversion_speed.py --model en --texts data/prepared/en/heldout.txt \
        --out docs/bench-inversion-en-heldout.json      # held-out texts: longer, up to 32 tokens

The vectors are real: sentences (tests/data/sentences.txt by default) embedded with the
model's encoder, so a model with a length head decodes realistic lengths.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

import unembed
from unembed.runtime.allocator import reuse_freed_memory


def measure(inverter, all_vectors: np.ndarray, batch: int, steps: int, repeats: int) -> dict:
    """Mean time per call over `repeats` calls, each on the next `batch` sentences (cycling),
    so that the figure covers many lengths and not one sentence's."""
    inverter.invert(all_vectors[:batch], steps=steps, batch_size=batch)  # warm-up
    times = []
    for r in range(repeats):
        vectors = np.resize(np.roll(all_vectors, -r * batch, axis=0), (batch, all_vectors.shape[1]))
        start = time.perf_counter()
        inverter.invert(vectors, steps=steps, batch_size=batch)
        times.append(time.perf_counter() - start)
    mean = float(np.mean(times))
    return {"batch": batch, "steps": steps, "calls": repeats, "seconds_per_call": mean,
            "ms_per_text": 1000 * mean / batch, "inversions_per_s": batch / mean,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5, help="calls at batch 64 (at batch 1: 8x as many)")
    p.add_argument("--texts", default=str(Path(__file__).parents[1] / "tests" / "data" / "sentences.txt"))
    p.add_argument("--precision", default="auto", help="auto | float32 | bfloat16 (the decoder's products)")
    p.add_argument("--system-malloc", action="store_true",
                   help="leave glibc's allocator as it is (mmap and unmap every block over 32 MB)")
    p.add_argument("--out", help="write the JSON here too")
    args = p.parse_args()
    reused = not args.system_malloc and reuse_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    inverter = unembed.load(args.model, device="cpu", precision=args.precision)
    texts = [t for t in Path(args.texts).read_text(encoding="utf-8").splitlines() if t.strip()]
    vectors = inverter.encoder.encode(texts)
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # model + encoder
    rows = [measure(inverter, vectors, b, s, args.repeats * (8 if b == 1 else 1)) for b in (1, 64) for s in (8, 16)]
    for row in rows:
        print(f"batch {row['batch']:3d}, {row['steps']:2d} steps: {row['ms_per_text']:7.1f} ms/text, "
              f"{row['inversions_per_s']:7.1f} inversions/s, peak RSS {row['peak_rss_mb']:.0f} MB")
    result = {"model": args.model, "threads": torch.get_num_threads(), "precision": inverter.precision, "reuse_freed_memory": reused,
              "cpu": platform.processor() or platform.machine(),
              "parameters": inverter.model.num_parameters(False),
              "rss_after_loading_mb": loaded_rss, "texts": args.texts, "rows": rows}
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
