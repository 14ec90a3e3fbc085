"""Inversions per second and peak memory of a model, at batch 1 and 64, for 8 and 16 steps.

    python bench/inversion_speed.py --model en --out docs/bench-inversion-en.json
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


def measure(inverter, batch: int, steps: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(batch, inverter.model.config.cond_dim)).astype(np.float32)
    inverter.invert(vectors, steps=steps, batch_size=batch)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        inverter.invert(vectors, steps=steps, batch_size=batch)
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return {"batch": batch, "steps": steps, "seconds_per_call": median,
            "ms_per_text": 1000 * median / batch, "inversions_per_s": batch / median}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", help="write the JSON here too")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    inverter = unembed.load(args.model, device="cpu")
    rows = [measure(inverter, b, s, args.repeats) for b in (1, 64) for s in (8, 16)]
    result = {"model": args.model, "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(),
              "parameters": inverter.model.num_parameters(False),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": rows}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
