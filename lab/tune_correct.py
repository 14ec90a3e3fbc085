"""Try orders of `correct`'s proposals (DecodeConfig.proposals) and the push of its steers
(DecodeConfig.steer) on a slice of the same samples as bench/correction.py, at a few budgets; one JSON line per
set, order, push and budget. How their defaults were chosen (lab/experiments.md 15):

    python lab/tune_correct.py --heldout data/prepared/en-42k/heldout.txt \\
        --unseen-by data/prepared/en-broad/train.txt data/prepared/syn-103k/train.txt \\
        --ood data/corpus/en/manpages.txt --orders corrector steer-second steer-first \\
        --slice 0:128 --budgets 64
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import unembed
from unembed.search.config import SearchConfig
from unembed.eval import reference_of
from unembed.eval import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # report.py, the README's sampling
from report import sample, seen_texts  # noqa: E402

ORDERS = {
    "corrector": "rewrite:0,rewrite:1,rewrite:-1,edit:0.3,edit:0.15,edit:0.5",
    "steer-second": "rewrite:0,steer:0.3,rewrite:1,rewrite:-1,edit:0.3,steer:0.15",
    "steer-first": "steer:0.3,rewrite:0,steer:0.15,rewrite:1,rewrite:-1,edit:0.3",
    "steer-edit": "steer:0.3,rewrite:0,steer:0.5,edit:0.3,rewrite:1,rewrite:-1",
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--heldout", required=True, help="in-domain held-out texts")
    p.add_argument("--heldout-lines", default="0:1744")
    p.add_argument("--unseen-by", nargs="+", default=[], metavar="TRAIN_TXT")
    p.add_argument("--ood", required=True, help="texts of a source no model trained on")
    p.add_argument("--n", type=int, default=200, help="texts per set sampled (as bench/correction.py --n)")
    p.add_argument("--slice", default="0:128", help="start:end of those samples to score")
    p.add_argument("--orders", nargs="+", default=list(ORDERS), choices=list(ORDERS))
    p.add_argument("--steers", type=float, nargs="+", default=[SearchConfig.steer])
    p.add_argument("--budgets", type=int, nargs="+", default=[64])
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    inverter = unembed.load(args.model, device="cpu")
    start, end = (int(x) for x in args.slice.split(":"))
    sets = {"in-domain": sample(args.heldout, args.n, lines=args.heldout_lines, seen=seen_texts(args.unseen_by)),
            "held-out source": sample(args.ood, args.n)}
    L = inverter.model.config.max_len
    for set_name, texts in sets.items():
        texts = texts[start:end]
        vectors = inverter.encoder.encode([reference_of(inverter.vocab, t, L) for t in texts])
        for order in args.orders:
            for steer in args.steers:
                for budget in args.budgets:
                    began = time.time()
                    r = evaluate(inverter, texts, vectors=vectors, show_progress=False, strategy="correct",
                                 encoder_budget=budget, proposals=ORDERS[order], steer=steer)
                    print(json.dumps({"set": set_name, "order": order, "steer": steer, "budget": budget,
                                      "n": r["n"], "bleu": round(r["bleu"], 2), "token_f1": round(r["token_f1"], 4),
                                      "exact_match": r["exact_match"], "cosine": round(r["cosine"], 4),
                                      "token_accuracy": round(r["token_accuracy"], 4),
                                      "encoder_calls": r["encoder_calls"] / r["n"],
                                      "seconds": round(time.time() - began)}), flush=True)


if __name__ == "__main__":
    main()
