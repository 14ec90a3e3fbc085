"""Per-language results of a multilingual inverter: for each held-out file LANG.txt, token
accuracy, token F1, BLEU, exact match, cosine with its floor, and the share of reconstructions a
language identifier puts in LANG; per Matryoshka width with --dims, per set of held-out files
with --sets. Writes docs/results-<name>.{json,md}; with --readme, rewrites the README's block
between `<!-- results-<name>:start -->` and `<!-- results-<name>:end -->`.

    python scripts/report_languages.py --model multilingual \
        --heldout data/corpus/multilingual/heldout --n 300 --readme README.md
    python scripts/report_languages.py --model gemma --n 64 --dims 768 512 256 128 \
        --heldout data/corpus/gemma/heldout --sets held-out-source=data/corpus/gemma/heldout-source

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

import torch

import unembed
from unembed.runtime.allocator import reuse_freed_memory
from unembed.eval import reference_of, score
from unembed.eval.language import BLEU_TOKENIZE, identify
from unembed.vectors.matryoshka import matryoshka_cut

sys.path.insert(0, str(Path(__file__).parent))
from report import rewrite_block, sample  # noqa: E402


def measure(inverter, language: str, texts: list[str], steps: int, dims: list[int], set_name: str) -> list[dict]:
    """One row per width: the texts embedded once, cut to each width (renormalised), inverted."""
    L = inverter.model.config.max_len
    references = [reference_of(inverter.vocab, t, L) for t in texts]
    full = inverter.encoder.encode(references, batch_size=64)
    ref_langs = identify(references)
    return [measure_width(inverter, language, references, matryoshka_cut(full, d), steps, set_name, ref_langs)
            for d in dims]


def measure_width(inverter, language, references, targets, steps, set_name, ref_langs) -> dict:
    start = time.perf_counter()
    hypotheses = inverter.invert(targets, steps=steps)
    seconds = time.perf_counter() - start
    result = score(inverter, references, hypotheses, targets, inverter.encoder,
                   bleu_tokenize=BLEU_TOKENIZE.get(language, "13a"))
    out_langs = identify(hypotheses)
    # score's cosine_floor: e5's and Gemma's cosines are high between any two texts of a language
    return {"set": set_name, "language": language, "dim": int(targets.shape[1]), "n": len(references),
            "steps": steps, **result,
            "output_in_language": sum(c == language for c in out_langs) / len(references),
            "reference_in_language": sum(c == language for c in ref_langs) / len(references),
            "output_languages": {c: out_langs.count(c) for c in sorted(set(out_langs))},
            "invert_seconds": seconds,
            "examples": [{"reference": r, "reconstruction": h} for r, h in zip(references[:4], hypotheses[:4])]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="multilingual")
    p.add_argument("--name", default=None, help="name in the output files (default: the model's)")
    p.add_argument("--heldout", default="data/corpus/multilingual/heldout", help="folder of LANG.txt files")
    p.add_argument("--sets", nargs="*", default=[], metavar="NAME=FOLDER",
                   help="more folders of LANG.txt files, measured at the full width only (e.g. held-out sources)")
    p.add_argument("--dims", nargs="*", type=int, default=[0],
                   help="Matryoshka widths to measure --heldout at (0 = the full vector)")
    p.add_argument("--encoder-precision", default="float32", choices=["float32", "bfloat16"],
                   help="of the encoder that embeds references and reconstructions (bfloat16: faster, "
                        "vectors within cosine 0.9999)")
    p.add_argument("--n", type=int, default=300, help="texts per language")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--out", default="docs")
    p.add_argument("--readme", help="rewrite this file's results block")
    p.add_argument("--precision", default="auto", help="auto | float32 | bfloat16 (the decoder's products)")
    p.add_argument("--render", action="store_true",
                   help="only rewrite docs/results-NAME.md and the README block from docs/results-NAME.json")
    args = p.parse_args()
    if args.render:
        name = args.name or Path(args.model).name
        saved = json.loads((Path(args.out) / f"results-{name}.json").read_text(encoding="utf-8"))
        return render(saved["meta"], saved["results"], name, Path(args.out), args.readme)
    reuse_freed_memory()
    inverter = unembed.load(args.model, device="cpu", precision=args.precision)
    if args.encoder_precision != "float32":
        inverter.encoder.model.to(torch.bfloat16)
    full = inverter.model.config.cond_dim
    dims = [d or full for d in args.dims]
    sets = [("held-out lines", args.heldout, dims)] + [
        (name, folder, [full]) for name, _, folder in (s.partition("=") for s in args.sets)]
    rows = []
    for set_name, folder, set_dims in sets:
        files = sorted(Path(folder).glob("*.txt"))
        if not files:
            sys.exit(f"{folder}: no LANG.txt files; run scripts/build_corpus_multilingual.py")
        for f in files:
            texts = sample(str(f), args.n)
            if not texts:
                continue
            for row in measure(inverter, f.stem, texts, args.steps, set_dims, set_name):
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "examples"}, ensure_ascii=False), flush=True)
    for r in rows:
        english = next((e["token_f1"] for e in rows if e["language"] == "en" and e["set"] == r["set"]
                        and e["dim"] == r["dim"]), None)
        widest = next(e["token_f1"] for e in rows if e["language"] == r["language"] and e["set"] == r["set"]
                      and e["dim"] == full) if r["set"] == sets[0][0] and full in dims else None
        r["vs_english"] = r["token_f1"] / english if english else None
        r["vs_full_width"] = r["token_f1"] / widest if widest else None

    name = args.name or Path(args.model).name
    command = (f"python scripts/report_languages.py --model {args.model}"
               + (f" --name {args.name}" if args.name else "")   # else a rerun writes the model's own report
               + f" --heldout {args.heldout} --n {args.n} --steps {args.steps} --precision {args.precision}"
               + (f" --dims {' '.join(map(str, args.dims))}" if args.dims != [0] else "")
               + (f" --sets {' '.join(args.sets)}" if args.sets else "")
               + (f" --encoder-precision {args.encoder_precision}" if args.encoder_precision != "float32" else ""))
    meta = {"model": args.model, "n_per_language": args.n, "steps": args.steps, "command": command,
            "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "precision": inverter.precision, "date": time.strftime("%Y-%m-%d"), "bleu_tokenize": BLEU_TOKENIZE}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"results-{name}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2,
                                                         ensure_ascii=False) + "\n")
    render(meta, rows, name, out, args.readme)


def render(meta: dict, rows: list[dict], name: str, out: Path, readme: str | None) -> None:
    """docs/results-NAME.md (every row) and, with `readme`, its block: the means per set and
    width, then one row per language at the full width."""
    first, full = "held-out lines", max(r["dim"] for r in rows)
    pct = lambda v: f"{v:.1%}" if v is not None else "-"  # noqa: E731
    ratio = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
    table = ["| set | language | dim | token F1 | F1 vs English | F1 vs full width | BLEU | exact | cosine | "
             "cosine floor | token accuracy | output in the input's language | reference identified |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["set"] != first, -r["dim"], r["set"])):
        table.append(f"| {r['set']} | {r['language']} | {r['dim']} | {r['token_f1']:.1%} | {ratio(r['vs_english'])} | "
                     f"{ratio(r['vs_full_width'])} | {r['bleu']:.1f} | {r['exact_match']:.1%} | {r['cosine']:.3f} | "
                     f"{r['cosine_floor']:.3f} | {r['token_accuracy']:.1%} | {r['output_in_language']:.1%} | "
                     f"{r['reference_in_language']:.1%} |")
    note = (f"{meta['n_per_language']} held-out texts per language (never trained on), {meta['steps']} "
            "denoising steps, no encoder calls. BLEU is sacreBLEU's, tokenised by `zh` for Chinese and by "
            "character for Japanese and Thai (languages written without spaces); language identification by "
            "py3langid. \"Cosine floor\": the mean cosine between two different references' vectors of "
            "the same language and width, what a reconstruction that recovered nothing would score.")
    measured = f"Measured by `{meta['command']}` on {meta['date']}"
    lines = [f"# Results per language: `{name}`", "", f"{measured} ({meta['threads']} CPU threads, "
             f"{meta['precision']} matrix products). {note}", "", *table, "", "## Examples", "",
             "The first texts of a seeded shuffle, not picked.", "",
             "| language | reference | reconstruction |", "|---|---|---|"]
    widest = [r for r in rows if r["dim"] == full and r["set"] == first]
    for r in widest:
        lines += [f"| {r['language']} | {e['reference']} | {e['reconstruction']} |".replace("\n", " ")
                  for e in r["examples"]]
    (out / f"results-{name}.md").write_text("\n".join(lines) + "\n")
    if not readme:
        return
    means = ["| set | dim | languages | token F1 | BLEU | exact | cosine | cosine floor | token accuracy | "
             "output in the input's language |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted({(r["set"], r["dim"]) for r in rows}, key=lambda k: (k[0] != first, -k[1])):
        group = [r for r in rows if (r["set"], r["dim"]) == key]
        mean = lambda k: sum(r[k] for r in group) / len(group)  # noqa: E731
        means.append(f"| {key[0]} | {key[1]} | {len(group)} | {mean('token_f1'):.1%} | {mean('bleu'):.1f} | "
                     f"{mean('exact_match'):.1%} | {mean('cosine'):.3f} | {mean('cosine_floor'):.3f} | "
                     f"{mean('token_accuracy'):.1%} | {mean('output_in_language'):.1%} |")
    narrow = min(r["dim"] for r in rows)
    widths, sets = narrow < full, any(r["set"] != first for r in rows)  # columns only where measured
    head = ["language", "token F1", "BLEU", "exact", "cosine", "cosine floor", "token accuracy",
            "output in the input's language"] + [f"F1 at {narrow}-d / {full}-d"] * widths \
        + ["held-out source: token F1"] * sets
    per = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in widest:
        cut = next((x for x in rows if x["set"] == first and x["language"] == r["language"] and x["dim"] == narrow), None)
        apart = next((x for x in rows if x["set"] != first and x["language"] == r["language"]), None)
        cells = [r["language"], f"{r['token_f1']:.1%}", f"{r['bleu']:.1f}", f"{r['exact_match']:.1%}",
                 f"{r['cosine']:.3f}", f"{r['cosine_floor']:.3f}", f"{r['token_accuracy']:.1%}",
                 f"{r['output_in_language']:.1%}"] + [ratio(cut and cut["vs_full_width"])] * widths \
            + [pct(apart and apart["token_f1"])] * sets
        per.append("| " + " | ".join(cells) + " |")
    block = [f"{measured} ({meta['precision']} matrix products). {note} Every row, with examples: "
             f"[docs/results-{name}.md](docs/results-{name}.md).", "", *means, "", *per, "",
             "Examples (the first of a seeded shuffle, not picked):", ""]
    block += [f"- {r['language']}: \"{r['examples'][0]['reference']}\" -> "
              f"\"{r['examples'][0]['reconstruction']}\"" for r in widest]
    rewrite_block(Path(readme), f"results-{name}", "\n".join(block))

if __name__ == "__main__":
    main()
