"""Encoder calls against quality: `correct` and `refine` at 0, 1, 2, 4, ... 64 encoder calls per
text, on the in-domain held-out split and a held-out source, plus ablated correctors at a few
budgets. Every metric and the seconds per text; writes <out>.{json,md,png}.

    python bench/correction.py --model en --heldout data/prepared/en/heldout.txt \
        --ood data/corpus/en/manpages.txt --n 100 --out docs/correction-en \
        --ablation no-feedback=runs/corrector-nofb/last/model

With --lm-corrector FOLDER, mixes of --ablation-proposals may name `lm:T` proposals (an LM
corrector, lm/rewriter.py), and each set also gets an `lm-alone` row: the LM's greedy rewrite
of the plain decode, with no encoder call. --ood takes several sources, as NAME=FILE.
--render JSON rewrites the report (and --readme) from a saved run without measuring.
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
from unembed.eval import reference_of, score
from unembed.eval import evaluate
from unembed.lm import content_words
from unembed.inverter import Inverter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from report import text_sets  # noqa: E402  (the same samples as the README's results)

METRICS = ("bleu", "token_f1", "exact_match", "cosine", "token_accuracy")


def row_text(r: dict) -> str:
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    return (f"| {r['set']} | {r['strategy']} | {r['corrector']} | {r['budget']} | {r['encoder_calls'] / r['n']:.1f} | "
            f"{r['bleu']:.1f} | {pct(r['token_f1'])} | {pct(r['exact_match'])} | {r['cosine']:.3f} | "
            f"{pct(r['token_accuracy'])} | {r['invert_seconds'] / r['n']:.2f} |")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sets = sorted({r["set"] for r in rows}, key=lambda s: s != "in-domain")
    fig, axes = plt.subplots(len(sets), 3, figsize=(13, 3.6 * len(sets)), squeeze=False)
    for i, name in enumerate(sets):
        for j, metric in enumerate(("bleu", "token_f1", "cosine")):
            ax = axes[i][j]
            for strategy in ("correct", "refine"):
                line = sorted((r for r in rows if r["set"] == name and r["corrector"] in ("main", "-")
                               and (r["strategy"] == strategy or r["budget"] == 0)), key=lambda r: r["budget"])
                if any(r["strategy"] == strategy for r in line):
                    ax.plot([max(r["budget"], 0.5) for r in line], [r[metric] for r in line], "o-", label=strategy)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("encoder calls per text (budget; 0 drawn at 0.5)")
            ax.set_title(f"{name}: {metric}")
            ax.grid(alpha=0.3)
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def lm_alone(inverter, set_name: str, texts: list[str], vectors) -> dict:
    """The LM corrector's greedy rewrite of each plain decode, scored as it is (no encoder call:
    the embeddings it reads are the target's and the decode's, which a search would have made)."""
    L = inverter.model.config.max_len
    start = time.perf_counter()
    target = torch.from_numpy(inverter.to_model_space(vectors))
    decodes = inverter.invert(vectors)
    landed = torch.from_numpy(inverter.encoder.encode(decodes))
    words = content_words(inverter, target, inverter.lm_corrector.config.words)
    rewrites = [r[0] for r in inverter.lm_corrector.rewrite(decodes, words, target, landed)]
    seconds = time.perf_counter() - start
    references = [reference_of(inverter.vocab, t, L) for t in texts]
    result = score(inverter, references, rewrites, vectors, inverter.encoder)
    return {"set": set_name, "strategy": "lm-alone", "budget": 0, "corrector": "lm", "n": len(texts),
            "encoder_calls": 0, "invert_seconds": seconds, **result,
            "examples": [{"reference": r, "decode": d, "reconstruction": w}
                         for r, d, w in list(zip(references, decodes, rewrites))[:3]]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--corrector", help="the corrector folder (default: the model's own)")
    p.add_argument("--ablation", action="append", default=[], metavar="NAME=FOLDER",
                   help="another corrector, measured at --ablation-budgets")
    p.add_argument("--heldout", help="in-domain held-out texts (none: the held-out sources alone)")
    p.add_argument("--heldout-lines", default="0:1744", help="lines of --heldout to sample (as report.py)")
    p.add_argument("--unseen-by", nargs="+", default=[], metavar="TRAIN_TXT",
                   help="keep only the in-domain texts absent from these train.txt files (as report.py)")
    p.add_argument("--ood", nargs="+", default=[], metavar="[NAME=]FILE",
                   help="texts of sources no model trained on (one: the set 'held-out source')")
    p.add_argument("--lm-corrector", help="an LM corrector folder (`unembed train-lm`) for lm proposals")
    p.add_argument("--n", type=int, default=100, help="texts per set")
    p.add_argument("--budgets", type=int, nargs="+", default=[0, 1, 2, 4, 8, 16, 32, 64])
    p.add_argument("--ablation-proposals", action="append", default=[], metavar="NAME=SPEC",
                   help="`correct` with the main corrector and this --proposals mix, measured at --ablation-budgets")
    p.add_argument("--without-steers", action="store_true",
                   help="shorthand: --ablation-proposals no-steers=(the model's mix less its steers)")
    p.add_argument("--ablation-budgets", type=int, nargs="+", default=[4, 16])
    p.add_argument("--ablation-sets", nargs="+", default=None, help="sets the ablations run on (default: all)")
    p.add_argument("--strategies", nargs="+", default=["correct", "refine"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--out", default="docs/correction-en", help="path without extension")
    p.add_argument("--readme", help="rewrite this file's block between <!-- correction-en:start/end -->")
    p.add_argument("--render", metavar="JSON", help="only rewrite the report (and --readme) from this saved run")
    args = p.parse_args()
    if args.render:       # from a saved run: the same files, nothing measured
        saved = json.loads(Path(args.render).read_text())
        write_report(Path(args.render).with_suffix(""), saved["meta"], saved["results"], args.readme)
        return
    if not args.ood:
        p.error("--ood is needed to measure")
    reuse_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    inverter = unembed.load(args.model, device="cpu", corrector=args.corrector, lm_corrector=args.lm_corrector)
    correctors = {"main": inverter.corrector}
    for spec in args.ablation:
        name, folder = spec.split("=", 1)
        correctors[name] = Inverter.from_pretrained(folder, device="cpu")
    mixes = dict(spec.split("=", 1) for spec in args.ablation_proposals)
    if args.without_steers:   # the model's own proposals less the base model's steers
        mixes["no-steers"] = ",".join(p for p in inverter.search.proposals.split(",") if not p.startswith("steer"))
    sets = text_sets(args.heldout, args.heldout_lines, args.unseen_by, args.ood, args.n)
    rows = []

    def run(set_name, texts, vectors, strategy, budget, corrector):
        """`corrector`: "-" (none), a name of `correctors`, or a name of `mixes` (the main corrector
        with that proposal mix)."""
        if corrector != "-":
            inverter.corrector = correctors[corrector if corrector in correctors else "main"]
        settings = {"strategy": strategy} if budget == 0 else {"strategy": strategy, "encoder_budget": budget}
        if corrector in mixes:
            settings["proposals"] = mixes[corrector]
        result = evaluate(inverter, texts, vectors=vectors, show_progress=False, examples=3, **settings)
        rows.append({"set": set_name, "budget": budget, "corrector": corrector, **result})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "examples"}), flush=True)

    for set_name, texts in sets.items():
        L = inverter.model.config.max_len
        vectors = inverter.encoder.encode([reference_of(inverter.vocab, t, L) for t in texts])
        run(set_name, texts, vectors, "confidence", 0, "-")
        for strategy in args.strategies:
            for budget in (b for b in args.budgets if b > 0):
                run(set_name, texts, vectors, strategy, budget, "main" if strategy == "correct" else "-")
        if args.lm_corrector:
            rows.append(lm_alone(inverter, set_name, texts, vectors))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "examples"}), flush=True)
        ablations = list(correctors)[1:] + list(mixes)
        for name in ablations if args.ablation_sets is None or set_name in args.ablation_sets else []:
            for budget in args.ablation_budgets:
                run(set_name, texts, vectors, "correct", budget, name)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": args.model, "n_per_set": args.n, "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "precision": inverter.precision,
            "date": time.strftime("%Y-%m-%d"), "command": "python " + " ".join(sys.argv)}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    write_report(out, meta, rows, args.readme)


def write_report(out: Path, meta: dict, rows: list[dict], readme: str | None) -> None:
    """The curve, the markdown of every row with examples, and the README's block."""
    plot(rows, out.with_suffix(".png"))
    head = ("| set | strategy | corrector | budget | encoder calls/text | BLEU | token F1 | exact | cosine | "
            "token acc | s/text |")
    lines = [f"# Encoder calls against quality: `{meta['model']}`", "",
             f"Measured by `{meta['command']}` on {meta['date']} ({meta['threads']} CPU threads, "
             f"{meta['precision']} matrix products), {meta['n_per_set']} texts per set, 8 denoising steps per decode. "
             "Budget 0 is the plain greedy decode; `s/text` is the decoding wall time (encoder calls included)."
             + (f" {meta['note']}" if meta.get("note") else ""),
             "", f"![curve]({out.with_suffix('.png').name})", "", head, "|" + "---|" * (head.count("|") - 1)]
    lines += [row_text(r) for r in rows]
    lines += ["", "## Examples (the largest budget of `correct`)", ""]
    for set_name in dict.fromkeys(r["set"] for r in rows):
        best = max((r for r in rows if r["set"] == set_name and r["strategy"] == "correct"
                    and r["corrector"] == "main"), key=lambda r: r["budget"], default=None)
        if best:
            lines += [f"**{set_name}**", "", "| reference | reconstruction |", "|---|---|"]
            lines += [f"| {e['reference']} | {e['reconstruction']} |".replace("\n", " ") for e in best["examples"]]
            lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    if readme:
        write_readme(Path(readme), rows, meta, out)
    print(out.with_suffix(".md"))


def write_readme(readme: Path, rows: list[dict], meta: dict, out: Path) -> None:
    """The README's summary: the plain decode and every strategy at 4, 16 and 64 calls."""
    start, end = "<!-- correction-en:start -->", "<!-- correction-en:end -->"
    head = "| set | strategy | corrector | budget | BLEU | token F1 | exact | cosine | token acc | s/text |"
    keep = [r for r in rows if r["budget"] in (0, 4, 16, 64)]
    block = [start, f"Measured by `{meta['command']}` on {meta['date']} ({meta['threads']} CPU threads, "
             f"{meta['n_per_set']} texts per set); every budget in [{out.with_suffix('.md')}]({out.with_suffix('.md')}).",
             "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in keep:
        block.append(f"| {r['set']} | {r['strategy']} | {r['corrector']} | {r['budget']} | {r['bleu']:.1f} | "
                     f"{100 * r['token_f1']:.1f}% | {100 * r['exact_match']:.1f}% | {r['cosine']:.3f} | "
                     f"{100 * r['token_accuracy']:.1f}% | {r['invert_seconds'] / r['n']:.2f} |")
    block.append(end)
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} block")
    readme.write_text(text[:text.index(start)] + "\n".join(block) + text[text.index(end) + len(end):])


if __name__ == "__main__":
    main()
