"""Measure a model on the in-domain held-out split and on each held-out source (whole
sources no model trained on), at several step counts, and write docs/results-<name>.{json,md}. With --readme, the block between
`<!-- results-<name>:start -->` and `<!-- results-<name>:end -->` is rewritten too: the
README's figures and examples come from here, never by hand.

    python scripts/report.py --model en --heldout data/prepared/en/heldout.txt \
        --ood data/corpus/en/manpages.txt data/corpus/en/gnucash.txt \
        meeting-notes=data/synthetic/en/meeting_notes.txt --n 1000 --steps 8 16 --readme README.md

A held-out source is FILE (named after its stem) or NAME=FILE. With two or more, a
"held-out sources (mean)" row averages them with equal weight per source.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

import torch

import unembed
from unembed.runtime.allocator import reuse_freed_memory
from unembed.eval import evaluate

KEYS = ("token_accuracy", "token_f1", "bleu", "exact_match", "cosine", "cosine_floor")


def sample(path: str, n: int, seed: int = 0, lines: str = ":", seen: frozenset = frozenset()) -> list[str]:
    start, end = (int(x) if x else None for x in lines.split(":"))
    texts = [t for t in Path(path).read_text(encoding="utf-8").splitlines()[start:end] if t.strip() and t not in seen]
    random.Random(seed).shuffle(texts)
    return texts[:n]


def text_sets(heldout: str | None, lines: str, unseen_by: list[str], sources: list[str], n: int) -> dict:
    """The sets a report measures: "in-domain" (lines of a prepared held-out split that no
    `unseen_by` train.txt holds), then one "held-out: NAME" per `[NAME=]FILE` of `sources`."""
    sets = {"in-domain": sample(heldout, n, lines=lines, seen=seen_texts(unseen_by))} if heldout else {}
    for source in sources:
        name, _, path = source.rpartition("=")
        sets[f"held-out: {name or Path(path).stem}"] = sample(path, n)
    return sets


def seen_texts(train_files: list[str]) -> frozenset:
    """Every line of these train.txt files: texts a model being compared trained on."""
    return frozenset(t for f in train_files for t in Path(f).read_text(encoding="utf-8").splitlines())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--name", default=None, help="name in the output files (default: the model's)")
    p.add_argument("--heldout", required=True, help="in-domain held-out texts")
    p.add_argument("--heldout-lines", default="0:1744",
                   help="start:end lines of --heldout to sample from (the rest tunes decoding)")
    p.add_argument("--unseen-by", nargs="+", default=[], metavar="TRAIN_TXT",
                   help="keep only the in-domain texts absent from these train.txt files (prepared "
                        "folders'): a split held out from every model being compared")
    p.add_argument("--ood", required=True, nargs="+", metavar="[NAME=]FILE",
                   help="held-out sources: texts of sources never trained on, one file each")
    p.add_argument("--n", type=int, default=1000, help="texts per set")
    p.add_argument("--steps", type=int, nargs="+", default=[8, 16])
    p.add_argument("--out", default="docs")
    p.add_argument("--readme", help="rewrite this file's results block")
    p.add_argument("--precision", default="auto", help="auto | float32 | bfloat16 (the decoder's products)")
    args = p.parse_args()
    reuse_freed_memory()
    torch.set_num_threads(torch.get_num_threads())
    inverter = unembed.load(args.model, device="cpu", precision=args.precision)
    sets = text_sets(args.heldout, args.heldout_lines, args.unseen_by, args.ood, args.n)
    rows = []
    for set_name, texts in sets.items():
        for steps in args.steps:
            result = evaluate(inverter, texts, steps=steps, examples=6)
            rows.append({"set": set_name, **result})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "examples"}))
    if len(args.ood) > 1:
        for steps in args.steps:
            held = [r for r in rows if r["set"].startswith("held-out") and r["steps"] == steps]
            rows.append({"set": "held-out sources (mean)", "steps": steps, "n": sum(r["n"] for r in held),
                         "examples": [], **{k: sum(r[k] for r in held) / len(held) for k in KEYS + ("seconds",)}})
    name = args.name or Path(args.model).name
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"model": args.model, "n_per_set": args.n, "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "precision": inverter.precision, "date": time.strftime("%Y-%m-%d"),
            "command": "python scripts/report.py " + " ".join(
                f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in vars(args).items() if v is not None)}
    (out / f"results-{name}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    table = ["| set | n | steps | BLEU | token F1 | exact match | cosine | cosine floor | token accuracy | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['set']} | {r['n']} | {r['steps']} | {r['bleu']:.1f} | {r['token_f1']:.1%} | "
                     f"{r['exact_match']:.1%} | {r['cosine']:.3f} | {r['cosine_floor']:.3f} | {r['token_accuracy']:.1%} | "
                     f"{r['seconds']:.0f} |")
    lines = [f"# Results: `{name}`", "", f"Measured by `{meta['command']}` on {meta['date']} "
             f"({meta['threads']} CPU threads, {meta['precision']} matrix products), up to {args.n} texts per set "
             "(n: how many a set had).", "", *table]
    lines += ["", "## Examples (8 steps)", ""]
    for r in rows:
        if r["steps"] == args.steps[0]:
            lines += [f"**{r['set']}**", "", "| reference | reconstruction |", "|---|---|"]
            lines += [f"| {e['reference']} | {e['reconstruction']} |".replace("\n", " ") for e in r["examples"]]
            lines.append("")
    (out / f"results-{name}.md").write_text("\n".join(lines) + "\n")
    if args.readme:
        block = [f"Measured by `{meta['command']}` on {meta['date']} ({meta['precision']} matrix products).",
                 "", *table, "",
                 "Examples at 8 steps (the first of a seeded shuffle, not picked):", ""]
        for r in rows:
            if r["steps"] == args.steps[0]:
                block += [f"- {r['set']}: \"{e['reference']}\" -> \"{e['reconstruction']}\""
                          for e in r["examples"][:2]]
        rewrite_block(Path(args.readme), f"results-{name}", "\n".join(block))


def rewrite_block(path: Path, tag: str, body: str) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{path} has no {start} ... {end} block to rewrite")
    head, rest = text.split(start, 1)
    path.write_text(head + start + "\n" + body + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    main()
