"""Per-language results of a multilingual inverter: for each held-out file LANG.txt, token
accuracy, BLEU, cosine, and the share of reconstructions a language identifier puts in LANG.
Writes docs/results-<name>.{json,md}; with --readme, rewrites the README's block between
`<!-- results-<name>:start -->` and `<!-- results-<name>:end -->`.

    python scripts/report_languages.py --model multilingual \
        --heldout data/corpus/multilingual/heldout --n 300 --readme README.md

`reference in LANG` is the same identifier on the (truncated) references: the ceiling the
output share can be read against, since short texts are sometimes misidentified.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import unembed
from unembed.allocator import reuse_freed_memory
from unembed.eval import cosine_rows, reference_of, score
from unembed.eval.language import BLEU_TOKENIZE, identify

sys.path.insert(0, str(Path(__file__).parent))
from report import rewrite_block, sample  # noqa: E402


def measure(inverter, language: str, texts: list[str], steps: int) -> dict:
    L = inverter.model.config.max_len
    references = [reference_of(inverter.vocab, t, L) for t in texts]
    targets = inverter.encoder.encode(references, batch_size=64)
    start = time.perf_counter()
    hypotheses = inverter.invert(targets, steps=steps)
    seconds = time.perf_counter() - start
    result = score(inverter, references, hypotheses, targets, inverter.encoder,
                   bleu_tokenize=BLEU_TOKENIZE.get(language, "13a"))
    out_langs, ref_langs = identify(hypotheses), identify(references)
    # e5's cosines are high between any two texts: the cosine to another text of the same
    # language is the floor a reconstruction's cosine should be read against.
    unrelated = float(np.mean(cosine_rows(targets, np.roll(targets, 1, axis=0))))
    return {"language": language, "n": len(texts), "steps": steps, **result, "cosine_unrelated": unrelated,
            "output_in_language": sum(c == language for c in out_langs) / len(texts),
            "reference_in_language": sum(c == language for c in ref_langs) / len(texts),
            "output_languages": {c: out_langs.count(c) for c in sorted(set(out_langs))},
            "invert_seconds": seconds,
            "examples": [{"reference": r, "reconstruction": h} for r, h in zip(references[:4], hypotheses[:4])]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="multilingual")
    p.add_argument("--name", default=None, help="name in the output files (default: the model's)")
    p.add_argument("--heldout", default="data/corpus/multilingual/heldout", help="folder of LANG.txt files")
    p.add_argument("--n", type=int, default=300, help="texts per language")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--out", default="docs")
    p.add_argument("--readme", help="rewrite this file's results block")
    p.add_argument("--precision", default="auto", help="auto | float32 | bfloat16 (the decoder's products)")
    args = p.parse_args()
    reuse_freed_memory()
    inverter = unembed.load(args.model, device="cpu", precision=args.precision)
    files = sorted(Path(args.heldout).glob("*.txt"))
    if not files:
        sys.exit(f"{args.heldout}: no LANG.txt files; run scripts/build_corpus_multilingual.py")
    rows = []
    for f in files:
        rows.append(measure(inverter, f.stem, sample(str(f), args.n), args.steps))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "examples"}), flush=True)
    english = next((r["token_accuracy"] for r in rows if r["language"] == "en"), None)
    for r in rows:
        r["vs_english"] = r["token_accuracy"] / english if english else None

    name = args.name or Path(args.model).name
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = (f"python scripts/report_languages.py --model {args.model} --heldout {args.heldout} "
               f"--n {args.n} --steps {args.steps} --precision {args.precision}")
    meta = {"model": args.model, "n_per_language": args.n, "steps": args.steps, "command": command,
            "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "precision": inverter.precision, "date": time.strftime("%Y-%m-%d"), "bleu_tokenize": BLEU_TOKENIZE}
    (out / f"results-{name}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2,
                                                         ensure_ascii=False) + "\n")
    table = ["| language | token accuracy | vs English | token F1 | BLEU | cosine | cosine, unrelated text | "
             "output in the input's language | reference identified |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['vs_english']:.2f}" if r["vs_english"] is not None else ""
        table.append(f"| {r['language']} | {r['token_accuracy']:.1%} | {ratio} | {r['token_f1']:.1%} | "
                     f"{r['bleu']:.1f} | {r['cosine']:.3f} | {r['cosine_unrelated']:.3f} | {r['output_in_language']:.1%} | "
                     f"{r['reference_in_language']:.1%} |")
    note = (f"{args.n} held-out texts per language (never trained on), {args.steps} denoising steps, "
            "no encoder calls. BLEU is sacreBLEU's, tokenised by `zh` for Chinese and by character "
            "for Japanese; language identification by py3langid. \"Cosine, unrelated text\": between "
            "each reference's vector and another reference's of the same language, the floor to read "
            "the cosine against.")
    lines = [f"# Results per language: `{name}`", "", f"Measured by `{command}` on {meta['date']} "
             f"({meta['threads']} CPU threads, {meta['precision']} matrix products). {note}", "", *table, "", "## Examples", "",
             "The first texts of a seeded shuffle, not picked.", "",
             "| language | reference | reconstruction |", "|---|---|---|"]
    for r in rows:
        lines += [f"| {r['language']} | {e['reference']} | {e['reconstruction']} |".replace("\n", " ")
                  for e in r["examples"]]
    (out / f"results-{name}.md").write_text("\n".join(lines) + "\n")
    if args.readme:
        block = [f"Measured by `{command}` on {meta['date']} ({meta['precision']} matrix products). {note}",
                 "", *table, "",
                 "Examples (the first of a seeded shuffle, not picked):", ""]
        block += [f"- {r['language']}: \"{r['examples'][0]['reference']}\" -> "
                  f"\"{r['examples'][0]['reconstruction']}\"" for r in rows]
        rewrite_block(Path(args.readme), f"results-{name}", "\n".join(block))


if __name__ == "__main__":
    main()
