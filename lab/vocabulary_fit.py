"""Does a model's vocabulary fit new text, or is a fresh one worth a fresh start? For each set of
texts: tokens per text under the model's tokenizer and under a BPE of the same size trained on
the new training text, the share of texts over the model's length, and the share of tokens
outside the model's codes (they would train as [UNK]).

    python lab/vocabulary_fit.py --model en --train data/corpus/en/{commentary,vim,...}.txt \
        --sets data/corpus/en/manpages.txt data/corpus/en/gnucash.txt --out docs/vocabulary-fit-en.json
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from unembed.files.checkpoints import resolve_checkpoint
from unembed.text.vocabulary import Vocabulary, train_bpe


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--train", nargs="+", required=True, help="the new training text (the fresh BPE learns on it)")
    p.add_argument("--sets", nargs="+", required=True, help="texts to measure on, one file each")
    p.add_argument("--bpe-texts", type=int, default=300_000, help="texts the fresh BPE is trained on")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    folder = resolve_checkpoint(args.model)
    model = Vocabulary.load(folder)
    max_len = json.loads((folder / "config.json").read_text())["max_len"]
    texts = [t for f in args.train for t in Path(f).read_text(encoding="utf-8").splitlines() if t.strip()]
    random.Random(0).shuffle(texts)
    fresh = train_bpe(texts[:args.bpe_texts], model.tokenizer.get_vocab_size())
    kept = set(model.kept_ids.tolist())
    rows = []
    for path in args.sets:
        lines = [t for t in Path(path).read_text(encoding="utf-8").splitlines() if t.strip()]
        ours = [e.ids for e in model.tokenizer.encode_batch(lines, add_special_tokens=False)]
        theirs = [e.ids for e in fresh.encode_batch(lines, add_special_tokens=False)]
        rows.append({"set": path, "texts": len(lines),
                     "tokens_per_text": float(np.mean([len(r) for r in ours])),
                     "fresh_bpe_tokens_per_text": float(np.mean([len(r) for r in theirs])),
                     "over_max_len": float(np.mean([len(r) > max_len for r in ours])),
                     "fresh_bpe_over_max_len": float(np.mean([len(r) > max_len for r in theirs])),
                     "outside_model_codes": sum(i not in kept for r in ours for i in r) / max(1, sum(map(len, ours)))})
        print(json.dumps(rows[-1]))
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "bpe_texts": min(len(texts), args.bpe_texts),
                                              "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
