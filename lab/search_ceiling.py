"""How much better could `correct` answer if it chose better among the texts it already embeds?
For each text, the search's answer (best by cosine) against the best of the same candidates
by token F1 (an oracle that reads the reference): if the oracle is far ahead, the choice limits
the search; if not, the proposals do. Prints the metrics of the first guess, the answer and the
oracle, and how well cosine ranks token F1 within a text (mean Spearman).

    python lab/search_ceiling.py --model en --heldout data/prepared/en-42k/heldout.txt \
        --lines 1744: --unseen-by data/prepared/en-broad/train.txt data/prepared/syn-103k/train.txt data/prepared/syn-190k/train.txt \
        --n 100 --budget 64
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

import unembed
from unembed.eval import reference_of
from unembed.eval import metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # report.py, the README's sampling
from report import sample, seen_texts  # noqa: E402  (the same sampling as the README's results)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--heldout", required=True, help="texts, one per line")
    p.add_argument("--lines", default=":", help="start:end lines of --heldout to sample from")
    p.add_argument("--unseen-by", nargs="+", default=[], metavar="TRAIN_TXT",
                   help="keep only the texts absent from these train.txt files (as report.py)")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--budget", type=int, default=64, help="encoder calls per text")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    inverter = unembed.load(args.model, device="cpu")
    L = inverter.model.config.max_len
    texts = sample(args.heldout, args.n, lines=args.lines, seen=seen_texts(args.unseen_by))
    references = [reference_of(inverter.vocab, t, L) for t in texts]
    vectors = torch.from_numpy(inverter.encoder.encode(references))
    search = inverter.searcher(inverter.settings_with(strategy="correct", encoder_budget=args.budget))
    seen = []
    for start in range(0, len(references), 64):
        seen += search.search(vectors[start:start + 64]).seen
    codes = lambda text: inverter.vocab.tokenize([text])[0][:L]  # noqa: E731
    first, answer, oracle, rho = [], [], [], []
    for reference, candidates in zip(references, seen):
        texts = list(candidates)                     # in the order embedded: the first guess first
        f1 = np.array([metrics.token_f1(codes(reference), codes(t)) for t in texts])
        cosine = np.array([candidates[t].cosine for t in texts])
        first.append(texts[0])
        answer.append(texts[int(cosine.argmax())])
        oracle.append(texts[int(f1.argmax())])
        if len(texts) > 3 and f1.std() > 0 and cosine.std() > 0:
            rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731
            rho.append(float(np.corrcoef(rank(f1), rank(cosine))[0, 1]))

    def scores(hypotheses):
        return {"bleu": round(metrics.bleu(references, hypotheses), 2),
                "token_f1": round(float(np.mean([metrics.token_f1(codes(r), codes(h))
                                                 for r, h in zip(references, hypotheses)])), 4),
                "exact_match": round(float(np.mean([metrics.exact_match(r, h)
                                                    for r, h in zip(references, hypotheses)])), 4)}
    print(json.dumps({"command": "python " + " ".join(sys.argv), "n": len(references),
                      "candidates_per_text": float(np.mean([len(s) for s in seen])),
                      "first_guess": scores(first), "answer_by_cosine": scores(answer),
                      "oracle_by_token_f1": scores(oracle), "spearman_f1_cosine": round(float(np.mean(rho)), 3)},
                     indent=1))


if __name__ == "__main__":
    main()
