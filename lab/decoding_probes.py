"""Small decoding experiments behind lab/experiments.md section 6, on the tuning slice of
the held-out split (kept apart from the reported texts). Each prints one JSON line per variant.

    python lab/decoding_probes.py refine-variants --n 48 --threads 1
    python lab/decoding_probes.py oracle-length --n 128 --threads 1
    python lab/decoding_probes.py int8 --n 64 --threads 1
    python lab/decoding_probes.py oracle-selection --n 128 --threads 1
    python lab/decoding_probes.py doubt --texts data/prepared/en-42k/heldout.txt --n 256 --threads 1
    python lab/decoding_probes.py guidance --texts data/prepared/en-42k/heldout.txt --n 256 --threads 1
    python lab/decoding_probes.py interpolate --other OLD_MODEL --texts data/prepared/en-42k/heldout.txt --n 256
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings

import numpy as np
import torch

import unembed
from unembed.eval import reference_of, score
from unembed.eval import evaluate, metrics

REFINE_VARIANTS = {  # name: refine's search settings (search/config.py PRESETS)
    "no steering": {"steer": 0.0},
    "steer 1 (shipped)": {"steer": 1.0},
    "steer 2": {"steer": 2.0},
    "shares 5/15/30%": {"proposals": "steer:0.05,steer:0.15,steer:0.3"},
    "shares 30/50/70%": {"proposals": "steer:0.3,steer:0.5,steer:0.7"},
}


def summary(result: dict) -> dict:
    return {k: round(result[k], 4) for k in ("token_accuracy", "token_f1", "bleu", "cosine", "exact_match")}


def refine_variants(inverter, texts, vectors):
    print(json.dumps({"variant": "confidence, no encoder",
                      **summary(evaluate(inverter, texts, vectors=vectors, show_progress=False))}))
    for name, settings in REFINE_VARIANTS.items():
        r = evaluate(inverter, texts, vectors=vectors, show_progress=False, strategy="refine", **settings)
        print(json.dumps({"variant": name, **summary(r), "encoder_calls_per_text": r["encoder_calls"] / len(texts)}))


def oracle_length(inverter, texts, vectors):
    """Every metric with the length head's guess against the true length."""
    L = inverter.model.config.max_len
    refs = [reference_of(inverter.vocab, t, L) for t in texts]
    v = torch.from_numpy(vectors)
    true = torch.tensor([min(L, len(ids)) for ids in inverter.vocab.tokenize(refs)])
    for name, lengths in (("length head", None), ("true length", true)):
        codes = inverter.generate(v, inverter.decoding, lengths=lengths).numpy()
        hyps = [inverter.vocab.decode(c) for c in codes]
        print(json.dumps({"lengths": name, **summary(score(inverter, refs, hyps, vectors, inverter.encoder))}))


def oracle_selection(inverter, texts, vectors, candidates: int = 64):
    """What choosing among `candidates` texts can buy at best: every text a `refine` search with
    that budget embeds for each vector, scored three ways: the greedy default, the text the
    encoder ranks first (the search's answer), and the text of highest token accuracy (an
    oracle that reads the reference). lab/search_ceiling.py asks the same of `correct`."""
    L = inverter.model.config.max_len
    refs = [reference_of(inverter.vocab, t, L) for t in texts]
    ref_ids = [ids[:L] for ids in inverter.vocab.tokenize(refs)]
    settings = inverter.settings_with(strategy="refine", candidates=min(candidates, 8), encoder_budget=candidates)
    search = inverter.searcher(settings)
    default = evaluate(inverter, texts, vectors=vectors, show_progress=False)["token_accuracy"]
    rows = {"by cosine": [], "oracle": [], "greedy first candidate": []}
    for start in range(0, len(texts), 8):
        seen = search.search(torch.from_numpy(vectors[start:start + 8])).seen
        for b, found in enumerate(seen):
            found = list(found.values())            # in the order embedded: the first guess first
            acc = [metrics.token_accuracy(ref_ids[start + b], ids[:L])
                   for ids in inverter.vocab.tokenize([c.text for c in found])]
            rows["by cosine"].append(acc[int(np.argmax([c.cosine for c in found]))])
            rows["oracle"].append(max(acc))
            rows["greedy first candidate"].append(acc[0])
    print(json.dumps({"candidates": candidates, "texts": len(texts), "default (confidence, 8 steps)": round(default, 4),
                      **{k: round(float(np.mean(x)), 4) for k, x in rows.items()}}))


def int8(inverter, texts, vectors):
    """Dynamic int8 quantisation of the transformer's linear layers: speed and accuracy."""
    def speed():
        inverter.invert(vectors[:1])
        start = time.perf_counter()
        for i in range(20):
            inverter.invert(vectors[i:i + 1])
        per_text = (time.perf_counter() - start) / 20
        start = time.perf_counter()
        inverter.invert(vectors[:64], batch_size=64)
        return 1000 * per_text, 64 / (time.perf_counter() - start)
    for name in ("float32", "int8 linears"):
        if name != "float32":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inverter.model = torch.ao.quantization.quantize_dynamic(inverter.model, {torch.nn.Linear},
                                                                        dtype=torch.qint8)
        ms, per_s = speed()
        print(json.dumps({"weights": name, "ms_per_text_batch1": round(ms, 1), "inversions_per_s_batch64":
                          round(per_s, 1), **summary(evaluate(inverter, texts, vectors=vectors, show_progress=False))}))


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    _, group, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2)[group]          # each tie group's mean 1-based rank
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def doubt(inverter, texts, vectors):
    """Which signal tells the wrong tokens of the greedy decode from the right ones (a token is
    right when the reference holds it): the decoder's confidence when it wrote the token, the
    bag-of-tokens prior's log-probability of the token under the target vector, or the gap
    between the prior under the target and under the decode's own embedding. AUC of each."""
    from unembed.text.codes import PAD
    from unembed.sampling import make_sampler
    L = inverter.model.config.max_len
    greedy = dataclasses.replace(inverter.decoding, strategy="confidence")
    v = torch.from_numpy(vectors)
    sampler = make_sampler(greedy)
    codes = inverter.denoise(v, inverter.blank(v), sampler, greedy.steps)
    hyps = [inverter.vocab.decode(row[row != PAD]) for row in codes.numpy()]
    with torch.no_grad():
        prior = inverter.model.bag_of_tokens(v)
        prior_hyp = inverter.model.bag_of_tokens(torch.from_numpy(inverter.own_encoder.encode(hyps)))
    refs = inverter.vocab.encode([reference_of(inverter.vocab, t, L) for t in texts], L)
    right, signals = [], {"confidence": [], "prior log-probability": [], "prior gap (target - decode)": []}
    for b, row in enumerate(codes.tolist()):
        in_ref = set(refs[b].tolist()) - {PAD}
        for i, c in enumerate(row):
            if c == PAD:
                continue
            right.append(c in in_ref)
            signals["confidence"].append(float(sampler.confidence[b, i]))
            signals["prior log-probability"].append(float(prior[b, c]))
            signals["prior gap (target - decode)"].append(float(prior[b, c] - prior_hyp[b, c]))
    right = np.array(right)
    signals["both (log confidence + prior log-probability)"] = (
        np.log(np.clip(signals["confidence"], 1e-6, None)) + np.array(signals["prior log-probability"]))
    print(json.dumps({"texts": len(texts), "tokens": len(right), "right": round(float(right.mean()), 4),
                      **{f"AUC {k}": round(auc(np.array(x), right), 4) for k, x in signals.items()}}))


class Guided:
    """The model with guidance against a 'null' vector at every step, as classifier-free
    guidance does against an unconditional model: logits + w (logits - logits under `null`).
    `prior` scales the bag-of-tokens prior's share of the logits."""

    def __init__(self, model, null: torch.Tensor, weight: float, prior: float = 1.0):
        self.model, self.null, self.weight, self.prior = model, null, weight, prior

    def __getattr__(self, name):
        return getattr(self.model, name)

    def conditioning(self, vectors, hypothesis_vectors=None):
        def scaled(c):
            return c._replace(lexical=c.lexical * self.prior)
        null = self.null.to(vectors.dtype).expand(vectors.shape[0], -1)
        return scaled(self.model.conditioning(vectors)), scaled(self.model.conditioning(null))

    def __call__(self, codes, vectors, mask_ratio, conditioning=None, **kwargs):
        out = self.model(codes, vectors, mask_ratio, conditioning=conditioning[0], **kwargs)
        if not self.weight:
            return out
        null = self.model(codes, vectors, mask_ratio, conditioning=conditioning[1], **kwargs).logits.float()
        logits = out.logits.float()
        gap = logits - torch.nan_to_num(null, neginf=0.0)  # -inf (never written) stays -inf
        return out._replace(logits=torch.where(torch.isfinite(logits), logits + self.weight * gap, logits))


def guidance(inverter, texts, vectors):
    """Guidance against a null vector (the mean of the texts' vectors, or zero) at a few
    weights, and the bag-of-tokens prior scaled up and down. The model was never trained
    without its vector, so the null is whatever it reads from these."""
    model = inverter.model
    mean = torch.from_numpy(vectors.mean(axis=0, keepdims=True))
    variants = [("as shipped", mean, 0.0, 1.0), ("mean vector, w 0.5", mean, 0.5, 1.0),
                ("zero vector, w 0.5", torch.zeros_like(mean), 0.5, 1.0), ("mean vector, w 1.5", mean, 1.5, 1.0),
                ("prior x0.7", mean, 0.0, 0.7), ("prior x1.3", mean, 0.0, 1.3), ("prior x1.6", mean, 0.0, 1.6)]
    for name, null, weight, prior in variants:
        inverter.model = Guided(model, null, weight, prior)
        print(json.dumps({"variant": name, **summary(evaluate(inverter, texts, vectors=vectors, show_progress=False))}))
    inverter.model = model


def interpolate(inverter, texts, vectors, other: str):
    """Weights (1 - a) * other + a * model, for a model and an earlier one of its lineage
    (the same architecture and vocabulary): does a point between them keep both's strengths?"""
    theirs = unembed.load(other, device="cpu").model.state_dict()
    ours = {k: v.float().clone() for k, v in inverter.model.state_dict().items()}
    for a in (1.0, 0.7, 0.5, 0.0):
        inverter.model.load_state_dict({k: (a * v + (1 - a) * theirs[k].float()).to(v.dtype)
                                        for k, v in ours.items()})
        print(json.dumps({"model share": a, **summary(evaluate(inverter, texts, vectors=vectors, show_progress=False))}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("probe", choices=["refine-variants", "oracle-length", "int8", "oracle-selection", "doubt",
                                     "guidance", "interpolate"])
    p.add_argument("--other", help="interpolate: the earlier model folder")
    p.add_argument("--model", default="en")
    p.add_argument("--texts", default="data/prepared/en/heldout.txt")
    p.add_argument("--start", type=int, default=1744, help="first line of --texts (the tuning slice)")
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = open(args.texts, encoding="utf-8").read().splitlines()[args.start:args.start + args.n]
    inverter = unembed.load(args.model, device="cpu")
    L = inverter.model.config.max_len
    vectors = inverter.encoder.encode([reference_of(inverter.vocab, t, L) for t in texts])
    if args.probe == "interpolate":
        if not args.other:
            p.error("interpolate needs --other MODEL")
        interpolate(inverter, texts, vectors, args.other)
        return
    {"refine-variants": refine_variants, "oracle-length": oracle_length, "int8": int8,
     "oracle-selection": oracle_selection, "doubt": doubt, "guidance": guidance}[args.probe](
        inverter, texts, vectors)


if __name__ == "__main__":
    main()
