"""The same model stored as float16 and as int8 (one scale per row): file size and every metric
on the same held-out texts, decoded with the same seed, and how many reconstructions agree.

    python lab/weight_storage.py --model /tmp/en-float16 --texts data/prepared/en-42k/heldout.txt \
        --n 1000 --out docs/weight-storage-en
    python lab/weight_storage.py --model multilingual --texts data/corpus/multilingual/heldout/*.txt \
        --n 100 --out docs/weight-storage-multilingual      # 100 texts of each language

--model is the folder to re-store (its corrector, if any, is left out); each storage is written
to a temporary copy of it and loaded back as a user would load it.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

import unembed
from unembed.runtime.allocator import reuse_freed_memory
from unembed.eval import evaluate

METRICS = ("bleu", "token_f1", "exact_match", "cosine", "token_accuracy")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder (or shipped name)")
    p.add_argument("--texts", required=True, nargs="+", help="held-out texts, one per line (one file or several)")
    p.add_argument("--n", type=int, default=1000, help="the first n texts of each file")
    p.add_argument("--storages", nargs="+", default=["float16", "int8"])
    p.add_argument("--out", default="docs/weight-storage-en", help="path without extension")
    args = p.parse_args()
    reuse_freed_memory()
    source = Path(unembed.load(args.model, device="cpu").folder)
    texts = [t for f in args.texts for t in
             [t for t in Path(f).read_text(encoding="utf-8").splitlines() if t.strip()][:args.n]]
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for storage in args.storages:
            folder = Path(tmp) / storage
            shutil.copytree(source, folder, ignore=shutil.ignore_patterns("corrector"))
            unembed.load(str(source), device="cpu").model.save_pretrained(folder, storage)
            inverter = unembed.load(str(folder), device="cpu")
            result = evaluate(inverter, texts, examples=len(texts))
            outputs[storage] = [e["reconstruction"] for e in result.pop("examples")]
            rows.append({"storage": storage, "bytes": (folder / "model.safetensors").stat().st_size,
                         **{k: result[k] for k in METRICS + ("n", "steps")}})
            print(json.dumps(rows[-1]))
    first = outputs[args.storages[0]]
    for row in rows:
        row["same_reconstruction"] = sum(a == b for a, b in zip(first, outputs[row["storage"]])) / len(first)
    meta = {"model": args.model, "texts": args.texts, "date": time.strftime("%Y-%m-%d"),
            "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "command": f"python lab/weight_storage.py --model {args.model} --texts {' '.join(args.texts)} "
                       f"--n {args.n} --storages {' '.join(args.storages)} --out {args.out}"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    lines = [f"# Weight storage: `{args.model}`", "",
             f"Measured by `{meta['command']}` on {meta['date']}: {len(texts)} texts, the first {args.n} "
             f"of each file given, {rows[0]['steps']} steps, the same seed for every storage.", "",
             "| storage | weights file | BLEU | token F1 | exact match | cosine | token accuracy | "
             f"same text as {args.storages[0]} |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['storage']} | {r['bytes'] / 1e6:.1f} MB | {r['bleu']:.2f} | {r['token_f1']:.2%} | "
                     f"{r['exact_match']:.1%} | {r['cosine']:.4f} | {r['token_accuracy']:.2%} | "
                     f"{r['same_reconstruction']:.1%} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
