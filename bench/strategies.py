"""Decoding strategies against each other: strategy x steps x encoder-call budget, every
metric and the decoding wall time, on an in-domain held-out set and on held-out sources.
Writes docs/strategies-<name>.{json,md}.

    python bench/strategies.py --model en --ood data/corpus/en/manpages.txt \
        meeting-notes=data/synthetic/en/meeting_notes.txt --n 150 --threads 2
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

import unembed
from unembed.runtime.allocator import reuse_freed_memory
from unembed.eval import reference_of
from unembed.eval import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from report import text_sets  # noqa: E402  (the same samples as the README's results)

# (strategy, steps, encoder budget, extra sampling settings)
GRID = [("confidence", 8, 0, {}), ("confidence", 32, 0, {}),
        ("sequential", 8, 0, {}), ("sequential", 32, 0, {}),
        ("euler", 8, 0, {}), ("euler", 32, 0, {}),
        ("remask", 8, 0, {}), ("remask", 32, 0, {}),
        ("two-stage", 8, 0, {}), ("two-stage", 32, 0, {}),
        ("refine", 8, 16, {"candidates": 4}),
        ("refine", 8, 64, {"candidates": 8}),
        ("correct", 8, 16, {}), ("correct", 8, 64, {})]        # correct: the model's own corrector
METRICS = ("token_accuracy", "token_f1", "bleu", "exact_match", "cosine", "name_recovery", "number_recovery")


def table(rows: list[dict]) -> str:
    head = ("| set | strategy | steps | encoder calls/text | token acc | token F1 | BLEU | exact | "
            "cosine | names (texts) | numbers (texts) | ms/text |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        pct = lambda v: "–" if v is None else f"{100 * v:.1f}%"  # noqa: E731
        lines.append(f"| {r['set']} | {r['strategy']} | {r['steps']} | {r['encoder_calls'] / r['n']:.1f} | "
                     f"{pct(r['token_accuracy'])} | {pct(r['token_f1'])} | {r['bleu']:.1f} | "
                     f"{pct(r['exact_match'])} | {r['cosine']:.3f} | {pct(r['name_recovery'])} ({r['name_texts']}) | "
                     f"{pct(r['number_recovery'])} ({r['number_texts']}) | {1000 * r['invert_seconds'] / r['n']:.0f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--name", default=None, help="name in the output files (default: the model's)")
    p.add_argument("--heldout", help="in-domain held-out texts (a prepared folder's heldout.txt)")
    p.add_argument("--heldout-lines", default="0:1744", help="lines of --heldout to sample (as report.py)")
    p.add_argument("--unseen-by", nargs="+", default=[], metavar="TRAIN_TXT",
                   help="keep only the in-domain texts absent from these train.txt files (as report.py)")
    p.add_argument("--ood", nargs="*", default=[], metavar="[NAME=]FILE",
                   help="held-out sources: texts of sources the model never trained on, one file each")
    p.add_argument("--n", type=int, default=200, help="texts per set")
    p.add_argument("--only", nargs="*", help="run only these strategies")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--out", default="docs")
    p.add_argument("--render", help="only rewrite the markdown from this saved JSON (no measuring)")
    p.add_argument("--precision", default="auto", help="auto | float32 | bfloat16 (the decoder's products)")
    args = p.parse_args()
    reuse_freed_memory()
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        write_markdown(Path(args.render).with_suffix(".md"), saved, saved["rows"])
        return
    if not (args.heldout or args.ood):
        p.error("--heldout or --ood is needed to measure")
    if args.threads:
        torch.set_num_threads(args.threads)
    inverter = unembed.load(args.model, device="cpu", precision=args.precision)
    sets = text_sets(args.heldout, args.heldout_lines, args.unseen_by, args.ood, args.n)
    rows = []
    for set_name, texts in sets.items():
        L = inverter.model.config.max_len
        vectors = inverter.encoder.encode([reference_of(inverter.vocab, t, L) for t in texts])
        for strategy, steps, budget, extra in GRID:
            if args.only and strategy not in args.only:
                continue
            settings = dict(extra, encoder_budget=budget) if budget else extra
            r = evaluate(inverter, texts, steps=steps, strategy=strategy, vectors=vectors,
                         show_progress=False, examples=3, **settings)
            rows.append({"set": set_name, "budget": budget, **settings, **r})
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()
                              if k != "examples"}), flush=True)
    name = args.name or Path(args.model).name
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"model": args.model, "n_per_set": args.n, "threads": torch.get_num_threads(),
            "precision": inverter.precision,
            "machine": platform.processor() or platform.machine(), "date": time.strftime("%Y-%m-%d"),
            "command": " ".join(["python"] + sys.argv)}
    (out / f"strategies-{name}.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    write_markdown(out / f"strategies-{name}.md", meta, rows)
    print(table(rows))


def write_markdown(path: Path, meta: dict, rows: list[dict]) -> None:
    path.write_text(
        f"# Decoding strategies: `{meta['model']}`\n\n"
        f"Generated by `{meta['command']}` ({meta['n_per_set']} texts per set, {meta['threads']} CPU "
        f"threads, {meta.get('precision', 'float32')} matrix products, {meta['date']}). "
        f"Token accuracy is position-exact over the reference's tokens; "
        f"names and numbers are the shares of the reference's capitalised words (not opening a "
        f"sentence) and digit strings found in the reconstruction, over the texts that have any "
        f"(their number in brackets); ms/text is the decoding wall time, encoder calls included, "
        f"divided by the texts.\n\n{table(rows)}\n")


if __name__ == "__main__":
    main()
