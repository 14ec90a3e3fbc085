"""An encoder's speed and vectors in float32 against bfloat16 matrix products on this machine:
what `prepare --encoder-precision bfloat16` buys and what it changes.

    python lab/encoder_precision.py --encoder embeddinggemma-300m \
        --texts data/corpus/gemma/heldout/*.txt --n 512 --out docs/bench-encoder-precision

Embeds the same texts (the first N/len(files) lines of each file, so every language counts)
both ways, warm, at one batch size, and reports texts per second for each, and the cosine
between each text's two vectors (mean, 1st percentile, minimum) at the full width and at each
--dims prefix (renormalised, as an inverter reads a Matryoshka cut). Writes OUT.json and OUT.md.
The encoder is looked for as `unembed` looks for it (cache, then hub) or in --encoder-path."""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from unembed.encoders import load_encoder
from unembed.vectors.matryoshka import matryoshka_cut


def embed(encoder, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    """Vectors and texts per second (after one warm-up batch)."""
    encoder.encode(texts[:batch_size], batch_size=batch_size)
    start = time.perf_counter()
    vectors = encoder.encode(texts, batch_size=batch_size)
    return vectors, len(texts) / (time.perf_counter() - start)


def closeness(a: np.ndarray, b: np.ndarray) -> dict:
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": round(float(cos.mean()), 6), "p1": round(float(np.percentile(cos, 1)), 6),
            "min": round(float(cos.min()), 6)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="embeddinggemma-300m")
    parser.add_argument("--encoder-path", default="")
    parser.add_argument("--texts", nargs="+", required=True, help="text files, one text per line")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dims", type=int, nargs="*", default=[512, 256, 128])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="docs/bench-encoder-precision")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    per_file = max(1, args.n // len(args.texts))
    texts = [t for f in args.texts for t in Path(f).read_text("utf-8").splitlines()[:per_file] if t.strip()]

    rows, vectors = {}, {}
    for precision in ("float32", "bfloat16"):
        encoder = load_encoder(args.encoder, path=args.encoder_path, precision=precision)
        vectors[precision], rows[precision] = embed(encoder, texts, args.batch_size)
        del encoder
    result = {
        "command": "python lab/encoder_precision.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items() if v not in ("", None)),
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "threads": args.threads, "encoder": args.encoder, "texts": len(texts), "batch_size": args.batch_size,
        "texts_per_second": {k: round(v, 1) for k, v in rows.items()},
        "speed_up": round(rows["bfloat16"] / rows["float32"], 2),
        "cosine_float32_to_bfloat16": {str(d or vectors["float32"].shape[1]): closeness(
            matryoshka_cut(vectors["float32"], d), matryoshka_cut(vectors["bfloat16"], d))
            for d in [0, *args.dims]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# {args.encoder}: float32 against bfloat16 matrix products", "",
             f"Measured by `{result['command']}` on {result['date']} ({args.threads} threads, "
             f"{len(texts)} texts, batches of {args.batch_size}).", "",
             "| products | texts/s |", "|---|---:|",
             *[f"| {k} | {v:.1f} |" for k, v in result["texts_per_second"].items()], "",
             f"bfloat16 is {result['speed_up']:.2f}x float32.", "",
             "| width | cosine of the two vectors: mean | 1st percentile | min |", "|---:|---:|---:|---:|",
             *[f"| {d} | {c['mean']:.6f} | {c['p1']:.6f} | {c['min']:.6f} |"
               for d, c in result["cosine_float32_to_bfloat16"].items()]]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
