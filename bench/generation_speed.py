"""The synthetic-text generator's speed on this machine, per number format.

    python bench/generation_speed.py --precisions float32 bfloat16 --batch-size 64 --threads 2

Generates one batch of scripts/build_synthetic.py's own prompts (batch --batch-index) with its
Generator in each format and prints generations per second, with the CPU's bfloat16 support, as
one JSON line each. Nothing is written: it times what `build_synthetic.py --precision P` would do."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import build_synthetic as synthetic  # noqa: E402
from unembed.precision import cpu_has_bfloat16  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batch-index", type=int, default=5000, help="whose prompts (not a batch the sets use)")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    cfg = synthetic.SyntheticConfig(batch_size=args.batch_size).validate()
    prompts = [r["prompt"] for r in synthetic.prompts_for(args.batch_index, cfg)]
    for precision in args.precisions:
        generator = synthetic.Generator(args.threads, precision)
        start = time.perf_counter()
        texts = generator(prompts, cfg, seed=1)
        seconds = time.perf_counter() - start
        print(json.dumps({"precision": precision, "batch_size": len(prompts), "threads": torch.get_num_threads(),
                          "cpu_has_bfloat16": cpu_has_bfloat16(), "seconds": round(seconds, 1),
                          "generations_per_s": round(len(texts) / seconds, 2)}), flush=True)


if __name__ == "__main__":
    main()
