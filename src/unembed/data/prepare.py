"""`unembed prepare`: corpus -> cleaned, truncated, re-decoded texts -> token ids + vectors,
cached in shards. Resumable; under torchrun each process embeds its own shards."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .config import DataConfig
from ..config import to_dict
from ..runtime.devices import rank_world, resolve_device
from ..encoders import PACKAGED, find_preset, load_encoder, read_pairs
from ..eval.roundtrip import reference_of
from ..files.checkpoints import resolve_checkpoint
from ..errors import UnembedError
from ..text.codes import UNK
from ..text.vocabulary import TOKENIZER_FILE, Vocabulary, load_tokenizer, prune_unigram, train_bpe
from ..files import atomic, formats
from . import cache
from .corpus import clean, read_texts, split_heldout

logger = logging.getLogger(__name__)
SPLITS = ("train", "heldout")
RUNTIME_ONLY = ("device", "batch_size")  # change how, not what, is prepared


def _settings(cfg: DataConfig) -> dict:
    return {k: v for k, v in to_dict(cfg).items() if k not in RUNTIME_ONLY}


def _wait_for(path: Path, what: str, timeout: float = 24 * 3600) -> None:
    start = time.time()
    while not path.exists():
        if time.time() - start > timeout:
            raise UnembedError(f"gave up waiting for {what} ({path})")
        time.sleep(1.0)


def _truncate_all(vocab: Vocabulary, texts: list[str], max_len: int) -> list[str]:
    """Texts cut after their max_len-th token (eval's rule), so the vector is of the
    recoverable text."""
    out = []
    for text, ids in zip(texts, vocab.tokenize(texts)):
        out.append(text if len(ids) <= max_len else reference_of(vocab, text, max_len))
    return out


def _decoder_tokenizer(cfg: DataConfig, pairs: str | None) -> str:
    """What `--tokenizer encoder` means: the encoder's own tokenizer, from its preset's offline
    source, its local folder, or the hub; black-box vectors have no encoder, so a BPE. With
    --vocab, the tokenizer of that model."""
    if cfg.vocab:
        return str(resolve_checkpoint(cfg.vocab))  # its folder: tokenizer.json or .json.gz
    if cfg.tokenizer != "encoder":
        return cfg.tokenizer
    if pairs:
        return "bpe:16384"
    if cfg.encoder in PACKAGED and not cfg.encoder_path:
        return PACKAGED[cfg.encoder][2]
    folder = cfg.encoder_path or (cfg.encoder if Path(cfg.encoder).is_dir() else "")
    preset = None if Path(cfg.encoder).is_dir() else find_preset(cfg.encoder)
    if preset and preset.decoder_tokenizer != "encoder":
        return preset.decoder_tokenizer
    if folder and (Path(folder) / TOKENIZER_FILE).is_file():
        return str(Path(folder) / TOKENIZER_FILE)
    return preset.model_id if preset else cfg.encoder


def _plan(cfg: DataConfig, sources: list[str], pairs: str | None, folder: Path) -> None:
    """Rank 0: decide the texts of each split, the tokenizer, and save them."""
    if pairs:
        raw_texts, raw_vectors = read_pairs(pairs)
    else:
        raw_texts = [t for source in sources for t in read_texts(source)]
        raw_vectors = None
    index_of = {}
    for i, text in enumerate(raw_texts):
        index_of.setdefault(" ".join(text.split()), i)
    texts = clean(raw_texts, cfg.min_words)
    if len(texts) < 2:
        raise UnembedError(f"only {len(texts)} usable texts in {sources or pairs}; need at least 2")
    train, heldout = split_heldout(texts, cfg.heldout, cfg.seed)  # shuffled
    if cfg.limit:
        train = train[:max(1, cfg.limit - len(heldout))]

    spec = _decoder_tokenizer(cfg, pairs)
    if spec.startswith("bpe:"):
        logger.info("training a %s-token BPE on %d texts", spec[4:], len(train))
        tokenizer = train_bpe(train, int(spec[4:]))
    else:
        logger.info("decoder tokenizer: %s", spec)
        tokenizer = load_tokenizer(spec)
    if cfg.prune_vocab:
        tokenizer = prune_unigram(tokenizer, train, cfg.prune_vocab)
        logger.info("pruned the tokenizer to %d pieces", tokenizer.get_vocab_size())
    vocab = Vocabulary(tokenizer, [])
    folder.mkdir(parents=True, exist_ok=True)  # only now: bad input above leaves no folder
    tokenizer.save(str(folder / TOKENIZER_FILE))
    for split, split_texts in (("train", train), ("heldout", heldout)):
        truncated = _truncate_all(vocab, split_texts, cfg.max_len)
        if raw_vectors is not None:
            rows = [index_of[t] for t in split_texts]
            atomic.save_npy(folder / f"{split}.pairs.npy", raw_vectors[rows])
        atomic.write_bytes(folder / f"{split}.txt", ("\n".join(truncated) + "\n").encode())
    atomic.write_bytes(folder / "plan.json", json.dumps(
        {"config": _settings(cfg), "sources": sources, "pairs": pairs}, indent=2).encode())


def _embed_shards(cfg: DataConfig, folder: Path, encoder, rank: int, world: int) -> None:
    vocab = Vocabulary(load_tokenizer(str(folder / TOKENIZER_FILE)), [])
    for split in SPLITS:
        texts = (folder / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        pairs_path = folder / f"{split}.pairs.npy"
        pair_vectors = np.load(pairs_path, mmap_mode="r") if pairs_path.exists() else None
        n_shards = (len(texts) + cfg.shard_size - 1) // cfg.shard_size
        mine = [i for i in range(n_shards) if i % world == rank and not cache.shard_done(folder, split, i)]
        todo = sum(len(texts[i * cfg.shard_size:(i + 1) * cfg.shard_size]) for i in mine)
        with tqdm(total=todo, desc=f"embed {split}" + (f" [rank {rank}]" if world > 1 else ""),
                  unit="text", disable=todo == 0) as bar:
            for i in mine:
                chunk = texts[i * cfg.shard_size:(i + 1) * cfg.shard_size]
                ids = np.full((len(chunk), cfg.max_len), cache.PAD_ID, dtype=np.int32)
                for row, token_ids in enumerate(vocab.tokenize(chunk)):
                    token_ids = token_ids[:cfg.max_len]
                    ids[row, :len(token_ids)] = token_ids
                if pair_vectors is not None:
                    vectors = np.asarray(pair_vectors[i * cfg.shard_size:i * cfg.shard_size + len(chunk)])
                    bar.update(len(chunk))
                else:  # in pieces, so that the bar moves within a shard (minutes with a large encoder)
                    step = cfg.batch_size * 8
                    pieces = []
                    for start in range(0, len(chunk), step):
                        pieces.append(np.asarray(encoder.encode(chunk[start:start + step], batch_size=cfg.batch_size)))
                        bar.update(len(pieces[-1]))
                    vectors = np.concatenate(pieces)
                cache.write_shard(folder, split, i, ids, vectors)


def prepare(cfg: DataConfig, out: str | Path, sources: list[str] = (), pairs: str | None = None,
            encoder=None) -> Path:
    """Write (or finish writing) a prepared dataset folder; returns it."""
    folder = Path(out)
    rank, world = rank_world()
    sources = list(sources)
    if not sources and not pairs:
        raise UnembedError("give at least one corpus file (or --pairs FILE)")
    if encoder is None and not pairs:  # first: a missing or wrong encoder writes nothing
        encoder = load_encoder(cfg.encoder, device=str(resolve_device(cfg.device)), path=cfg.encoder_path,
                               prompt=cfg.encoder_prompt, dim=cfg.encoder_dim, precision=cfg.encoder_precision)
    plan_file = folder / "plan.json"
    if rank == 0:
        if plan_file.exists():
            plan = json.loads(plan_file.read_text())
            if plan["config"] != _settings(cfg) or plan["sources"] != sources or plan["pairs"] != pairs:
                raise UnembedError(f"{folder} holds a preparation with other settings; "
                                   "choose another --out or delete that folder")
            logger.info("resuming the preparation in %s", folder)
        else:
            _plan(cfg, sources, pairs, folder)
    else:
        _wait_for(plan_file, "the plan written by rank 0")
    _embed_shards(cfg, folder, encoder, rank, world)

    if rank != 0:
        return folder
    counts = {s: len((folder / f"{s}.txt").read_text(encoding="utf-8").splitlines()) for s in SPLITS}
    n_shards = {s: (counts[s] + cfg.shard_size - 1) // cfg.shard_size for s in SPLITS}
    for split in SPLITS:
        for i in range(n_shards[split]):
            _wait_for(cache.shard_paths(folder, split, i)[1], f"{split} shard {i}")
    train_ids = np.concatenate([np.load(cache.shard_paths(folder, "train", i)[0])
                                for i in range(n_shards["train"])])
    if cfg.vocab:  # the model's own codes, so that training can continue it
        vocab = Vocabulary.load(resolve_checkpoint(cfg.vocab))
        used = np.unique(train_ids[train_ids != cache.PAD_ID])
        unknown = np.isin(train_ids, used[~np.isin(used, vocab.kept_ids)])
        logger.info("--vocab %s: %.3f%% of the train tokens fall outside it ([UNK])",
                    cfg.vocab, 100 * unknown.sum() / max(1, (train_ids != cache.PAD_ID).sum()))
    else:
        vocab = Vocabulary.from_corpus_ids(load_tokenizer(str(folder / TOKENIZER_FILE)), train_ids,
                                           pad_id=cache.PAD_ID, min_count=cfg.vocab_min_count)
    vocab.save(folder)
    dim = int(np.load(cache.shard_paths(folder, "train", 0)[1], mmap_mode="r").shape[1])
    if pairs:
        recipe = {"encoder": "black-box:" + str(pairs)}
    elif hasattr(encoder, "settings"):
        recipe = encoder.settings()
    else:
        recipe = {"encoder": getattr(encoder, "name", cfg.encoder)}
    meta = {**formats.header("prepared"), "max_len": cfg.max_len, "dim": dim, **recipe, "counts": counts, "shards": n_shards,
            "vocab_size": len(vocab), "config": to_dict(cfg)}
    atomic.write_bytes(folder / "meta.json", json.dumps(meta, indent=2).encode())
    logger.info("prepared %s: %s texts, vocabulary %d", folder, counts, len(vocab))
    return folder


def grow_vocabulary(folders: list[str], keep: str, min_count: int) -> dict:
    """Give prepared folders one vocabulary: the model `keep`'s, grown by every tokenizer id
    their train splits use at least `min_count` times together, so that `train --warm-start
    keep` continues on them with fewer [UNK] targets (the new rows start from the pieces that
    spell them; see train/loop.py). The shards hold tokenizer ids, so nothing is embedded
    again: each folder's vocab.json and meta.json are rewritten. -> what changed"""
    if min_count < 1:
        raise UnembedError(f"--min-count must be at least 1, got {min_count}")
    if not folders:
        raise UnembedError("give at least one prepared folder")
    base = Vocabulary.load(resolve_checkpoint(keep))
    rows = []
    for folder in folders:
        meta = cache.read_meta(Path(folder))
        if meta.get("type") != formats.header("prepared")["type"]:
            raise UnembedError(f"{folder} is not a prepared dataset; give folders written by `unembed prepare`")
        if Vocabulary.load(Path(folder)).tokenizer.to_str() != base.tokenizer.to_str():
            raise UnembedError(f"{folder} was prepared with another tokenizer than {keep}'s; "
                               f"prepare it with --vocab {keep}")
        rows.append(cache.load_split(Path(folder), "train")[0])
    grown = base.grown(rows, min_count, cache.PAD_ID)
    held = [cache.load_split(Path(folder), "heldout")[0] for folder in folders]   # grown without them

    def unknown(vocab: Vocabulary, split: list) -> float:
        tokens = sum(int((r != cache.PAD_ID).sum()) for r in split)
        return round(sum(int((vocab.ids_to_codes(r, cache.PAD_ID) == UNK).sum()) for r in split) / max(1, tokens), 5)

    for folder in folders:   # vocab.json first, meta.json (which marks a whole folder) last
        meta = cache.read_meta(Path(folder))
        grown.save_codes(Path(folder))
        meta.update(vocab_size=len(grown), vocab_grown={"from": keep, "min_count": min_count,
                                                        "folders": [str(f) for f in folders]})
        atomic.write_bytes(Path(folder) / "meta.json", json.dumps(meta, indent=2).encode())
    return {"folders": [str(f) for f in folders], "vocab_size": {"before": len(base), "after": len(grown)},
            "unknown_train_tokens": {"before": unknown(base, rows), "after": unknown(grown, rows)},
            "unknown_heldout_tokens": {"before": unknown(base, held), "after": unknown(grown, held)}}
