"""The two CPU kernels that decided how bfloat16 is used (lab/experiments.md section 8):
attention at the decoder's short lengths, fused (torch's SDPA) against plain matrix products,
and argmax over a step's logits, each in float32 and bfloat16.

    python lab/kernel_speed.py --out docs/bench-kernels.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from unembed.model.layers import explicit_attention


def mean_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000 * (time.perf_counter() - start) / repeats


def attention(batch: int, heads: int, length: int, head_dim: int, repeats: int) -> list[dict]:
    """Forward + backward of one attention, as a training step runs it."""
    rows = []
    for precision in ("float32", "bfloat16"):
        for kernel, fn in (("fused (SDPA)", lambda q, k, v: F.scaled_dot_product_attention(q, k, v)),
                           ("plain matrix products", lambda q, k, v: explicit_attention(q, k, v, None, 0.0))):
            dtype = getattr(torch, precision)  # in training, q, k, v come from Linears in this format
            q, k, v = (torch.randn(batch, heads, length, head_dim, requires_grad=True) for _ in range(3))

            def step():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                    y = fn(q.to(dtype), k.to(dtype), v.to(dtype))
                y.float().sum().backward()
            rows.append({"kernel": f"attention, {kernel}", "precision": precision,
                         "shape": [batch, heads, length, head_dim], "ms_forward_backward": mean_ms(step, repeats)})
    return rows


def argmax(positions: int, vocab: int, repeats: int) -> list[dict]:
    logits = torch.randn(positions, vocab)
    return [{"kernel": "argmax over the vocabulary", "precision": name, "shape": [positions, vocab],
             "ms": mean_ms(lambda x=x: x.argmax(dim=-1), repeats)}
            for name, x in (("float32", logits), ("bfloat16", logits.bfloat16()))]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--out", help="write the JSON here too")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = attention(40, 12, 30, 32, args.repeats) + argmax(500, 16201, args.repeats)
    for r in rows:
        ms = r.get("ms_forward_backward", r.get("ms"))
        print(f"{r['kernel']:40s} {r['precision']:9s} {ms:7.2f} ms")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
