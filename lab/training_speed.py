"""Training throughput and model FLOP utilisation, against a matmul peak measured in the same run.

    python lab/training_speed.py --data data/prepared/en --out docs/bench-training-en.json

Each variant runs real optimizer steps (MDLM loss, backward, clipping, AdamW) on batches
from the prepared data (or on synthetic texts of realistic lengths without --data), and
counts the FLOPs of one step with torch's FLOP counter. MFU = achieved FLOP/s / peak,
where the peak is the best GEMM rate measured first, on the same threads, in the number
format of the variant's matrix products (float32, or bfloat16 under autocast).
Text tokens/s counts tokens of text only, never padding: the figure that buys quality.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from unembed.runtime.allocator import reuse_freed_memory
from unembed.model.config import ModelConfig
from unembed.diffusion import get_schedule
from unembed.model import ConditionalMDLM
from unembed.train.batches import Batches, LengthBuckets
from unembed.train.step import train_step


def matmul_peak(seconds: float = 2.0, dtype: torch.dtype = torch.float32) -> dict:
    """Best GEMM rate in `dtype` over a few square sizes, GFLOP/s."""
    best = {}
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            a @ b
            count += 1
        best[n] = 2 * n ** 3 * count / (time.perf_counter() - start) / 1e9
    return {"gflops": max(best.values()), "by_size": best}


def load_texts(data: str | None, max_len: int, vocab_size: int, n: int = 20000):
    """(codes (N, max_len) with PAD=0 after the text, lengths (N,), vectors (N, 384))."""
    if data:
        from unembed.data import cache
        from unembed.text.vocabulary import Vocabulary
        ids, vectors = cache.load_split(Path(data), "train")
        vocab = Vocabulary.load(Path(data))
        codes = torch.from_numpy(vocab.ids_to_codes(ids[:n], cache.PAD_ID))
        return codes, (codes != 0).sum(1), torch.from_numpy(np.ascontiguousarray(vectors[:n]))
    g = torch.Generator().manual_seed(0)  # lengths like English sentences of 6-40 words
    lengths = (torch.randn(n, generator=g) * 6 + 16).round().clamp(6, max_len).long()
    codes = torch.randint(3, vocab_size, (n, max_len), generator=g)
    codes[torch.arange(max_len)[None] >= lengths[:, None]] = 0
    return codes, lengths, torch.randn(n, 384, generator=g)


class AllPositions(torch.nn.Module):
    """Scores every position, then keeps the masked ones: what selecting first saves."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, codes, vectors, ratio, select=None, **kwargs):
        out = self.model(codes, vectors, ratio, **kwargs)
        return out._replace(logits=out.logits[select]) if select is not None else out


def run_variant(name: str, mcfg: ModelConfig, codes, lengths, vectors, batch_tokens: int,
                steps: int, warmup: int, threads: int, all_logits: bool = False, compile: bool = False,
                precision: str = "float32", fused_adamw: bool = False) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ConditionalMDLM(mcfg)
    if compile:
        for block in model.blocks:
            block.compile()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused_adamw)  # the trainer's is fused
    schedule, g = get_schedule("linear"), torch.Generator().manual_seed(0)
    if mcfg.length_head:
        batches = LengthBuckets(lengths.numpy(), batch_tokens, seed=0)
    else:
        batches = Batches(len(codes), max(1, batch_tokens // int(lengths.float().mean())), seed=0)
    net = AllPositions(model) if all_logits else model
    def step():
        idx = torch.from_numpy(batches.next())
        width = int(lengths[idx].max()) if mcfg.length_head else codes.shape[1]
        train_step(model, opt, codes[idx, :width], vectors[idx], schedule, g, precision=precision, net=net)
        return int(lengths[idx].sum())

    for _ in range(warmup):
        step()
    with FlopCounterMode(display=False) as counter:  # FLOPs of a typical step, averaged over 5
        counted_tokens = sum(step() for _ in range(5))
    flops_per_token = counter.get_total_flops() / counted_tokens
    tokens, start = 0, time.perf_counter()
    for _ in range(steps):
        tokens += step()
    elapsed = time.perf_counter() - start
    tps = tokens / elapsed
    return {"variant": name, "threads": threads, "batch_tokens": batch_tokens,
            "length_head": mcfg.length_head, "vocab_size": mcfg.vocab_size, "hidden": mcfg.hidden,
            "layers": mcfg.layers, "compile": compile, "all_logits": all_logits, "precision": precision,
            "fused_adamw": fused_adamw,
            "seconds_per_step": elapsed / steps, "text_tokens_per_s": tps,
            "gflops_per_s": tps * flops_per_token / 1e9, "mflop_per_text_token": flops_per_token / 1e6}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="prepared folder (default: synthetic texts)")
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--vocab-size", type=int, default=16384, help="for synthetic data; else the data's")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--only", nargs="*", help="run only these variants")
    p.add_argument("--out", help="write the JSON here too")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    peaks = {"float32": matmul_peak(), "bfloat16": matmul_peak(dtype=torch.bfloat16)}
    for name, peak in peaks.items():
        print(f"{name} matmul peak on {args.threads} threads: {peak['gflops']:.1f} GFLOP/s")
    codes, lengths, vectors = load_texts(args.data, 32, args.vocab_size)
    vocab = int(codes.max()) + 1 if args.data else args.vocab_size
    base = ModelConfig(vocab_size=vocab, hidden=args.hidden, layers=args.layers, heads=args.heads)
    padded = dataclasses.replace(base, length_head=False)
    t = args.threads
    variants = [  # each row changes one thing from the row before it
        ("padded, logits at all positions", padded, 2048, dict(all_logits=True)),
        ("padded, logits at masked positions", padded, 2048, {}),
        ("length buckets, 1024 tokens", base, 1024, {}),
        ("length buckets, 2048 tokens", base, 2048, {}),
        ("length buckets, 4096 tokens", base, 4096, {}),
        ("length buckets, 2048 tokens, 1 thread", base, 2048, dict(threads=1)),
        ("length buckets, 2048 tokens, compiled blocks", base, 2048, dict(compile=True)),
        ("length buckets, 2048 tokens, vocabulary 8192", dataclasses.replace(base, vocab_size=8192), 2048, {}),
        ("length buckets, 2048 tokens, bfloat16 autocast", base, 2048, dict(precision="bfloat16")),
        ("length buckets, 1024 tokens, bfloat16, 3 layers (shipped shape)", dataclasses.replace(base, layers=3),
         1024, dict(precision="bfloat16")),
        ("length buckets, 1024 tokens, float32, 3 layers (shipped shape)", dataclasses.replace(base, layers=3),
         1024, {}),
        # from here on freed memory is reused (it cannot be switched back): these rows run last
        ("length buckets, 1024 tokens, bfloat16, 3 layers, freed memory reused", dataclasses.replace(base, layers=3),
         1024, dict(precision="bfloat16", reuse_memory=True)),
        ("length buckets, 1024 tokens, bfloat16, 3 layers, freed memory reused, fused AdamW",
         dataclasses.replace(base, layers=3), 1024, dict(precision="bfloat16", reuse_memory=True, fused_adamw=True)),
        ("length buckets, 2048 tokens, bfloat16, 3 layers, freed memory reused, fused AdamW",
         dataclasses.replace(base, layers=3), 2048, dict(precision="bfloat16", reuse_memory=True, fused_adamw=True)),
        ("length buckets, 2048 tokens, bfloat16, freed memory reused, fused AdamW", base, 2048,
         dict(precision="bfloat16", reuse_memory=True, fused_adamw=True)),
    ]
    rows = []
    for name, mcfg, batch_tokens, extra in variants:
        if args.only and not any(o in name for o in args.only):
            continue
        if mcfg.vocab_size < vocab:  # a smaller vocabulary: fold the codes into it
            c = codes.clone()
            c[c >= mcfg.vocab_size] = 3 + c[c >= mcfg.vocab_size] % (mcfg.vocab_size - 3)
        else:
            c = codes
        extra = dict(extra)
        reused = extra.pop("reuse_memory", False) and reuse_freed_memory()
        row = run_variant(name, mcfg, c, lengths, vectors, batch_tokens, args.steps, args.warmup,
                          **{"threads": t, **extra})
        row["reuse_freed_memory"] = reused
        row["mfu"] = row["gflops_per_s"] / peaks[row["precision"]]["gflops"]
        row["mfu_of_float32_peak"] = row["gflops_per_s"] / peaks["float32"]["gflops"]
        rows.append(row)
        print(f"{name:48s} {row['text_tokens_per_s']:8.0f} text tok/s  {row['gflops_per_s']:6.1f} GFLOP/s"
              f"  MFU {row['mfu']:.0%}  {row['seconds_per_step']:.3f} s/step")
    result = {"cpu": platform.processor() or platform.machine(), "threads": t,
              "matmul_peak": peaks["float32"], "matmul_peak_bfloat16": peaks["bfloat16"], "data": args.data or "synthetic", "rows": rows,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
