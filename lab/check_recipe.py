"""Check a preset against the real model: do unembed's vectors equal the official ones?

    python lab/check_recipe.py embeddinggemma-300m models/embeddinggemma-300m \
        --texts data/prepared/en/heldout.txt --n 64 --out docs/recipe-check-embeddinggemma-300m.json

"Official" is the model folder loaded by sentence-transformers from its own configuration and
used as its model card says: `encode_document`, `encode_query`, `truncate_dim` then
renormalisation. "unembed" is `load_encoder(preset, path=folder, prompt=..., dim=...)`, which
builds the pipeline from the preset. The last row embeds the way the published inverter did
(the backbone mean-pooled and normalised, no Dense layers, no prompt), to show what a wrong
recipe costs: its vectors' cosine to the official ones.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def compare(official: np.ndarray, ours: np.ndarray) -> dict:
    cos = (official * ours).sum(1) / (np.linalg.norm(official, axis=1) * np.linalg.norm(ours, axis=1))
    return {"max_abs_diff": float(np.abs(official - ours).max()), "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("folder", help="the real model's sentence-transformers folder")
    p.add_argument("--texts", required=True, help="one text per line")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--out", help="write the JSON here (and a .md beside it)")
    args = p.parse_args()

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    from unembed.encoders import find_preset, load_encoder

    preset = find_preset(args.preset)
    texts = [t for t in Path(args.texts).read_text(encoding="utf-8").splitlines() if t.strip()][:args.n]
    official = SentenceTransformer(args.folder, device="cpu")
    rows = []

    def row(name, official_vectors, ours_vectors):
        rows.append({"case": name, **compare(official_vectors, ours_vectors)})
        print(f"{name:28s} max |diff| {rows[-1]['max_abs_diff']:.2e}  min cosine {rows[-1]['min_cosine']:.6f}")

    start = time.time()
    doc = official.encode_document(texts)
    row("document", doc, load_encoder(preset.name, path=args.folder).encode(texts))
    row("query", official.encode_query(texts),
        load_encoder(preset.name, path=args.folder, prompt="query").encode(texts))
    for dim in [d for d in preset.matryoshka if d < preset.dim][:3]:
        cut = official.encode_document(texts, truncate_dim=dim)
        cut /= np.linalg.norm(cut, axis=1, keepdims=True)
        row(f"document, {dim} dimensions", cut, load_encoder(preset.name, path=args.folder, dim=dim).encode(texts))
    naive = SentenceTransformer(modules=[official[0], Pooling(official[0].get_embedding_dimension(), "mean"),
                                         Normalize()], device="cpu")
    row("published inverter's recipe", doc, naive.encode(texts))
    result = {"preset": preset.name, "model_id": preset.model_id, "texts": len(texts),
              "source": args.texts, "rows": rows, "seconds": time.time() - start}
    if args.out:
        out = Path(args.out)
        out.write_text(json.dumps(result, indent=2) + "\n")
        lines = [f"# Recipe check: {preset.name}", "",
                 f"`python lab/check_recipe.py {preset.name} FOLDER --texts {args.texts} --n {args.n}`"
                 f" ({len(texts)} texts; official = the folder's own sentence-transformers configuration).", "",
                 "| case | max abs difference | min cosine | mean cosine |", "|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['max_abs_diff']:.2e} | {r['min_cosine']:.6f} | {r['mean_cosine']:.6f} |"
                  for r in rows]
        out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
