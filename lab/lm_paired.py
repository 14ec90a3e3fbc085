"""Paired comparison of `correct` proposal mixes on the same texts, with bootstrap intervals of
each mix's difference from the first, and what wrote the answers (the decode, a steer, the LM...).

    python lab/lm_paired.py --lm-corrector runs/lm-words33/last/model --n 96 --budget 64 \
        --sets meeting-notes=data/synthetic/en/meeting_notes.txt insurance-claims=data/synthetic/en/insurance_claim.txt \
        --mixes main=steer:0.3,rewrite:0,steer:0.5,edit:0.3 lm=lm:0.8,steer:0.3,rewrite:0,steer:0.5 \
        --out lab/lm-paired.json

32 texts a set could not tell the LM's +1 BLEU from noise (docs/lm-corrector.md); the same texts
under each mix, resampled together, can. `--against` compares with runs saved before."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import unembed
from unembed.eval import metrics, reference_of, score
from unembed.eval.roundtrip import round_trip

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from report import sample  # noqa: E402  (the benches' samples)


def per_text(inverter, references: list[str], hypotheses: list[str]) -> dict:
    rows = round_trip(inverter.vocab, inverter.max_len, hypotheses, references)
    return {"token_f1": np.array([r["token_f1"] for r in rows]),
            "names": np.array([np.nan if v is None else v for v in
                               (metrics.recovered_share(r, h, metrics.NAME) for r, h in zip(references, hypotheses))])}


def bootstrap(refs: list[str], base: list[str], other: list[str], f1: tuple, names: tuple, draws: int, seed: int) -> dict:
    """95% intervals of other - base: corpus BLEU, mean token F1, mean name recovery."""
    rng = np.random.default_rng(seed)
    n = len(refs)
    out = {"bleu": [], "token_f1": [], "names": []}
    for _ in range(draws):
        i = rng.integers(n, size=n)
        out["bleu"].append(metrics.bleu([refs[k] for k in i], [other[k] for k in i])
                           - metrics.bleu([refs[k] for k in i], [base[k] for k in i]))
        out["token_f1"].append(100 * (f1[1][i].mean() - f1[0][i].mean()))
        out["names"].append(100 * (np.nanmean(names[1][i]) - np.nanmean(names[0][i])))
    return {k: [round(float(np.percentile(v, 2.5)), 2), round(float(np.percentile(v, 97.5)), 2)] for k, v in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--lm-corrector", required=True)
    p.add_argument("--sets", nargs="+", required=True, metavar="NAME=FILE")
    p.add_argument("--mixes", nargs="*", default=[], metavar="NAME=PROPOSALS", help="the first is the baseline")
    p.add_argument("--against", nargs="*", default=[], metavar="JSON",
                   help="runs saved by earlier calls on the same texts, compared without measuring again "
                        "(they come first: the first of them is the baseline)")
    p.add_argument("--n", type=int, default=96)
    p.add_argument("--budget", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    inverter = unembed.load(args.model, device="cpu", lm_corrector=args.lm_corrector)

    L = inverter.max_len
    mixes = [m.split("=", 1) for m in args.mixes]
    if not mixes and not args.against:
        raise SystemExit("give --mixes, --against or both")
    report = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d"), "n": args.n,
              "budget": args.budget, "sets": {}}
    for spec in args.sets:
        name, path = spec.split("=", 1)
        references = [reference_of(inverter.vocab, t, L) for t in sample(path, args.n)]
        vectors = inverter.encoder.encode(references)
        runs = {}
        for saved in map(json.loads, map(Path.read_text, map(Path, args.against))):
            if name in saved["sets"] and saved["sets"][name]["references"] == references:
                for mix_name, r in saved["sets"][name]["runs"].items():
                    runs[mix_name] = {**{k: v for k, v in r.items() if not k.startswith("vs_")},
                                      "per_text": per_text(inverter, references, r["hypotheses"])}
        for mix_name, mix in mixes:
            search = inverter.searcher(inverter.settings_with(strategy="correct", encoder_budget=args.budget,
                                                              proposals=mix))
            start, best = time.perf_counter(), []
            for s in range(0, len(vectors), args.batch_size):
                population = search.search(torch.from_numpy(inverter.to_model_space(vectors[s:s + args.batch_size])))
                best += [population.best(b)[0] for b in range(len(population.seen))]
            seconds = time.perf_counter() - start
            hyps = [c.text for c in best]
            kinds = Counter(c.kind for c in best)
            means = score(inverter, references, hyps, vectors, inverter.encoder)
            runs[mix_name] = {"hypotheses": hyps, "seconds_per_text": seconds / len(hyps),
                              "written_by": {k: v / len(hyps) for k, v in kinds.most_common()},
                              **{k: means[k] for k in ("bleu", "token_f1", "exact_match", "cosine", "name_recovery",
                                                       "number_recovery")},
                              "per_text": per_text(inverter, references, hyps)}
            r = runs[mix_name]
            print(f"{name} {mix_name}: BLEU {r['bleu']:.1f} F1 {100 * r['token_f1']:.1f} names "
                  f"{100 * r['name_recovery']:.1f} cos {r['cosine']:.3f} {r['seconds_per_text']:.2f} s/text "
                  f"written by {', '.join(f'{k} {100 * v:.0f}%' for k, v in r['written_by'].items())}", flush=True)
        base_name, *others = runs
        for mix_name in others:
            a, b = runs[base_name], runs[mix_name]
            b["vs_" + base_name] = bootstrap(references, a["hypotheses"], b["hypotheses"],
                                             (a["per_text"]["token_f1"], b["per_text"]["token_f1"]),
                                             (a["per_text"]["names"], b["per_text"]["names"]), args.draws, 0)
            print(f"  {mix_name} - {base_name}, 95% intervals: {b['vs_' + base_name]}", flush=True)
        for r in runs.values():
            r.pop("per_text")
        report["sets"][name] = {"references": references, "runs": runs}
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")   # after each set: a stop keeps what was done


if __name__ == "__main__":
    main()
