"""Choose a model's default decoding settings on a tuning slice of held-out texts, kept
apart from the texts the results are reported on.

    python lab/tune_sampling.py --model runs/en/last/model \
        --texts data/prepared/en/heldout.txt --lines 1744:2000 --penalties 0 1 2 4
"""
from __future__ import annotations

import argparse
import json

import unembed
from unembed.eval import evaluate


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--texts", required=True)
    p.add_argument("--lines", default="1744:2000", help="start:end lines of --texts to tune on")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--penalties", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    p.add_argument("--schedules", nargs="+", default=["cosine", "linear"])
    args = p.parse_args()
    start, end = map(int, args.lines.split(":"))
    texts = open(args.texts, encoding="utf-8").read().splitlines()[start:end]
    inverter = unembed.load(args.model, device="cpu")
    rows = []
    for schedule in args.schedules:
        for penalty in args.penalties:
            r = evaluate(inverter, texts, steps=args.steps, show_progress=False, examples=0,
                         repetition_penalty=penalty, reveal_schedule=schedule)
            rows.append({"schedule": schedule, "repetition_penalty": penalty,
                         **{k: round(r[k], 4) for k in ("token_accuracy", "token_f1", "bleu", "cosine")}})
            print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: r["token_accuracy"])
    print("best:", json.dumps(best))


if __name__ == "__main__":
    main()
