"""Does the LM's own likelihood choose better than the cosine alone? `correct` embeds up to
`budget` texts per vector and answers the one of highest cosine; here the top `--top` of them
by cosine are rescored by cosine + weight * (mean log-probability per token under the LM
corrector's language model, reading "Text:" and nothing else), for each weight, and scored.

    python lab/lm_likelihood.py --lm-corrector runs/lm-words33/last/model --n 64 --skip 96 \
        --sets meeting-notes=data/synthetic/en/meeting_notes.txt insurance-claims=data/synthetic/en/insurance_claim.txt \
        --proposals lm:0,steer:0.3,rewrite:0,steer:0.5 --out lab/lm-likelihood.json

--skip 96 leaves out the texts lab/lm_paired.py measures on: these are tuning texts."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import unembed
from unembed.eval import metrics, reference_of
from unembed.eval.roundtrip import round_trip

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from report import sample  # noqa: E402


@torch.no_grad()
def mean_log_prob(lm, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Mean log-probability per token of " text" + EOS after "Text:", under the corrector's LM."""
    tok, out = lm.tokenizer, []
    prompt = tok("Text:", add_special_tokens=False)["input_ids"]
    for s in range(0, len(texts), batch_size):
        answers = [ids + [lm.eos] for ids in tok([" " + t for t in texts[s:s + batch_size]],
                                                   add_special_tokens=False)["input_ids"]]
        T = max(len(prompt) + len(a) for a in answers)
        ids = torch.full((len(answers), T), lm.eos, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for b, a in enumerate(answers):
            ids[b, :len(prompt) + len(a)] = torch.tensor(prompt + a)
            mask[b, :len(prompt) + len(a)] = 1
        logp = F.log_softmax(lm.lm(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), dim=-1)
        got = logp.gather(-1, ids[:, 1:, None])[..., 0]
        for b, a in enumerate(answers):
            out.append(got[b, len(prompt) - 1:len(prompt) - 1 + len(a)].mean().item())
    return np.array(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--lm-corrector", required=True)
    p.add_argument("--sets", nargs="+", required=True, metavar="NAME=FILE")
    p.add_argument("--proposals", required=True)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--skip", type=int, default=96, help="texts of each set's sample left to the evaluation")
    p.add_argument("--budget", type=int, default=64)
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--weights", type=float, nargs="+", default=[0, 0.005, 0.01, 0.02, 0.04, 0.08])
    p.add_argument("--out", required=True)
    args = p.parse_args()
    inverter = unembed.load(args.model, device="cpu", lm_corrector=args.lm_corrector)
    lm = inverter.lm_corrector
    L = inverter.max_len
    report = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d"), "sets": {}}
    for spec in args.sets:
        name, path = spec.split("=", 1)
        references = [reference_of(inverter.vocab, t, L) for t in sample(path, args.skip + args.n)[args.skip:]]
        vectors = torch.from_numpy(inverter.encoder.encode(references))
        search = inverter.searcher(inverter.settings_with(strategy="correct", encoder_budget=args.budget,
                                                          proposals=args.proposals))
        population = search.search(torch.from_numpy(inverter.to_model_space(vectors.numpy())))
        tops = [sorted(population.seen[b].values(), key=lambda c: -c.cosine)[:args.top] for b in range(len(references))]
        flat = [c.text for top in tops for c in top]
        lp = mean_log_prob(lm, flat)
        rows, k = {}, 0
        scored = []
        for top in tops:
            scored.append([(c.text, c.cosine, lp[k + i]) for i, c in enumerate(top)])
            k += len(top)
        for w in args.weights:
            picks = [max(s, key=lambda x: x[1] + w * x[2])[0] for s in scored]
            f1 = np.mean([r["token_f1"] for r in round_trip(inverter.vocab, L, picks, references)])
            rows[str(w)] = {"bleu": metrics.bleu(references, picks), "token_f1": float(f1),
                            "cosine": float(np.mean([max(s, key=lambda x: x[1] + w * x[2])[1] for s in scored])),
                            "changed": float(np.mean([p != s[0][0] for p, s in zip(picks, scored)]))}
            print(f"{name} weight {w}: BLEU {rows[str(w)]['bleu']:.2f} F1 {100 * f1:.1f} "
                  f"cos {rows[str(w)]['cosine']:.3f} changed {100 * rows[str(w)]['changed']:.0f}%", flush=True)
        report["sets"][name] = rows
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
