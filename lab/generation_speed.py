"""The synthetic-text generator's speed on this machine, per engine and number format.

    python lab/generation_speed.py --engines torch:float32 ctranslate2:int8 --batch-size 256 --threads 2
    python lab/generation_speed.py --engines torch:float32 ctranslate2:int8 --quality --batch-index 30 31

Generates batches of scripts/build_synthetic.py's own prompts (--batch-index) with each engine and
prints generations per second, with the CPU's bfloat16 support, as one JSON line each. Nothing is
written but CTranslate2's converted weights (in --cache, as build_synthetic.py keeps them).

--quality adds what a faster engine may cost: the share of pieces the script's filters keep, kept
pieces per generation, and the mean negative log-likelihood per token of the generated replies
under the float32 torch model (its own samples score lowest; garbled text scores far higher)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import build_synthetic as synthetic  # noqa: E402
from unembed.runtime.precision import cpu_has_bfloat16  # noqa: E402

ENGINES = ("torch:float32", "torch:bfloat16", "torch:int8", "ctranslate2:int8")


def open_engine(spec: str, cache: Path, threads: int):
    """torch:int8 is torch's dynamic quantisation of the linear layers, measured here only:
    build_synthetic.py does not offer it (see CTranslate2Generator)."""
    engine, precision = spec.split(":")
    if engine == "ctranslate2":
        return synthetic.CTranslate2Generator(cache, threads)
    generator = synthetic.TorchGenerator(threads, "float32" if precision == "int8" else precision)
    if precision == "int8":
        generator.model = torch.ao.quantization.quantize_dynamic(generator.model, {torch.nn.Linear}, torch.qint8)
        generator.dtype = "int8"
    return generator


def survival(texts: list[str], cfg: synthetic.SyntheticConfig) -> tuple[int, int]:
    """(kept pieces, pieces) by the script's own cleaning and filters, duplicates aside."""
    import py3langid
    kept = pieces = 0
    for text in texts:
        body = synthetic.clean(text)
        for piece in (synthetic.pieces(body, cfg.max_words) or [body]) if body else []:
            pieces += 1
            kept += synthetic.verdict(piece, cfg, lambda t: py3langid.classify(t)[0]) == ""
    return kept, pieces


def nll_per_token(prompts: list[str], replies: list[str], tokenizer, model) -> float:
    """Mean negative log-likelihood of each reply's tokens given its prompt, one row at a time."""
    total = count = 0.0
    with torch.inference_mode():
        for prompt, reply in zip(prompts, replies):
            head = tokenizer(synthetic.chats(tokenizer, [prompt])[0], return_tensors="pt")["input_ids"]
            tail = tokenizer(reply, return_tensors="pt", add_special_tokens=False)["input_ids"]
            if tail.shape[1] == 0:
                continue
            logits = model(torch.cat([head, tail], dim=1)).logits[0, head.shape[1] - 1:-1]
            total -= logits.log_softmax(-1).gather(-1, tail[0][:, None]).sum().item()
            count += tail.shape[1]
    return total / max(count, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engines", nargs="+", default=["torch:float32", "ctranslate2:int8"], choices=ENGINES)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--batch-index", type=int, nargs="+", default=[5000],
                   help="whose prompts (5000: not a batch the sets use)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quality", action="store_true", help="also filter survival and NLL under float32")
    p.add_argument("--cache", type=Path, default=Path("data/synthetic/en/engines"),
                   help="CTranslate2's converted weights, as build_synthetic.py keeps them")
    args = p.parse_args()
    cfg = synthetic.SyntheticConfig(batch_size=args.batch_size).validate()
    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = [r["prompt"] for b in args.batch_index for r in synthetic.prompts_for(b, cfg)]
    scorer = synthetic.load_gguf()[1:] if args.quality else None
    for spec in args.engines:
        generator = open_engine(spec, args.cache, args.threads)
        start, texts = time.perf_counter(), []
        for i, b in enumerate(args.batch_index):
            texts += generator(prompts[i * cfg.batch_size:(i + 1) * cfg.batch_size], cfg,
                               seed=cfg.seed * 1000003 + b)
        seconds = time.perf_counter() - start
        row = {"engine": generator.engine, "precision": generator.dtype, "batch_size": cfg.batch_size,
               "generations": len(texts), "threads": args.threads or torch.get_num_threads(),
               "cpu_has_bfloat16": cpu_has_bfloat16(), "seconds": round(seconds, 1),
               "generations_per_s": round(len(texts) / seconds, 2)}
        if scorer:
            kept, pieces = survival(texts, cfg)
            row.update(survival=round(kept / max(pieces, 1), 3), kept_per_generation=round(kept / len(texts), 3),
                       nll_per_token_under_float32=round(nll_per_token(prompts, texts, *scorer), 3))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
