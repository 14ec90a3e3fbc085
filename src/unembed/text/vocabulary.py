"""Decoder vocabulary: any Hugging Face tokenizer, narrowed to the tokens a corpus uses.

A 150k-260k tokenizer vocabulary would dominate a small model's compute, so the output
layer covers only the tokenizer ids seen in the training corpus plus three model-level
specials. `ids` (tokenizer space) and `codes` (model space) are kept apart by name.
"""
from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..files import atomic
from .codes import MASK, PAD, SPECIALS, UNK
from ..errors import UnembedError
from ..files.checkpoints import CORRECTOR_DIR
from .tokenizer_sources import OFFLINE_TOKENIZERS, offline_tokenizer

VOCAB_FILE = "vocab.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_GZ = "tokenizer.json.gz"  # what a model folder holds instead when the tokenizer is large
GZIP_OVER = 8_000_000  # bytes: Gemma's 262k-piece tokenizer.json is 33 MB, 5.6 MB gzipped


def train_bpe(texts: list[str], vocab_size: int) -> Tokenizer:
    """A cased byte-level BPE: lossless on any text, so nothing is ever unknown."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def prune_unigram(tokenizer: Tokenizer, texts: list[str], size: int) -> Tokenizer:
    """A unigram tokenizer (XLM-R, T5, ...) cut to its `size` pieces most used in `texts`, plus
    every single character the texts use: rarer words are then segmented, with the original
    scores, into kept pieces instead of each taking an output row of its own."""
    spec = json.loads(tokenizer.to_str())
    if spec["model"]["type"] != "Unigram":
        raise UnembedError(f"--prune-vocab needs a unigram tokenizer (XLM-R, T5); this one is "
                           f"{spec['model']['type']}: use --tokenizer bpe:{size} instead")
    pieces = spec["model"]["vocab"]
    counts = np.zeros(len(pieces), dtype=np.int64)
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        np.add.at(counts, np.asarray(encoding.ids, dtype=np.int64), 1)
    unk = spec["model"].get("unk_id")
    special = {t["id"] for t in spec["added_tokens"]} | ({unk} if unk is not None else set())
    top = np.argsort(-counts, kind="stable")[:size]
    keep = set(top[counts[top] > 0].tolist()) | special
    chars = {c for text in texts for c in text}
    keep |= {i for i, (piece, _) in enumerate(pieces) if len(piece.lstrip("\u2581")) <= 1
             and set(piece.lstrip("\u2581")) <= chars}
    kept = sorted(keep)
    new_id = {old: new for new, old in enumerate(kept)}
    spec["model"]["vocab"] = [pieces[i] for i in kept]
    spec["model"]["unk_id"] = new_id[unk] if unk is not None else None
    for token in spec["added_tokens"]:
        token["id"] = new_id[token["id"]]
    spec["post_processor"] = _remap_ids(spec["post_processor"], new_id)
    return Tokenizer.from_str(json.dumps(spec))


def _remap_ids(node, new_id: dict):
    """Special-token ids inside a post-processor spec, for the pruned vocabulary."""
    if isinstance(node, dict):
        return {k: ([v[0], new_id[v[1]]] if k in ("sep", "cls") and isinstance(v, list)
                    else [new_id[i] for i in v] if k == "ids" else _remap_ids(v, new_id))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_remap_ids(v, new_id) for v in node]
    return node


def read_tokenizer(folder: Path) -> Tokenizer:
    """A folder's tokenizer.json, or its tokenizer.json.gz."""
    if not (folder / TOKENIZER_FILE).is_file() and (folder / TOKENIZER_GZ).is_file():
        return Tokenizer.from_str(gzip.decompress((folder / TOKENIZER_GZ).read_bytes()).decode("utf-8"))
    return Tokenizer.from_file(str(folder / TOKENIZER_FILE))


def load_tokenizer(spec: str) -> Tokenizer:
    """A tokenizer.json file, a folder holding one, an offline tokenizer name (qwen3, xlm-r,
    gemma3: see tokenizer_sources), or a Hugging Face model name (online)."""
    if spec in OFFLINE_TOKENIZERS:
        return offline_tokenizer(spec)
    path = Path(spec)
    if path.is_dir():
        if (path / TOKENIZER_GZ).is_file() and not (path / TOKENIZER_FILE).is_file():
            return read_tokenizer(path)
        path = path / TOKENIZER_FILE
    if path.is_file():
        return Tokenizer.from_file(str(path))
    if path.suffix == ".json" or spec.startswith((".", "/")):
        raise UnembedError(f"tokenizer file not found: {spec}")
    try:
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(spec).backend_tokenizer
    except Exception as exc:  # hub unreachable, unknown name, ...
        raise UnembedError(f"cannot load tokenizer {spec!r}: give a tokenizer.json path "
                           f"or a model name reachable on the hub ({type(exc).__name__})") from exc


# the first word of a character's Unicode name that names its script, where it is not the script
SCRIPT_NAMES = {"CJK": "Han", "IDEOGRAPHIC": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana",
                "KATAKANA-HIRAGANA": "Kana", "HANGUL": "Hangul"}


COVERED = 20  # pieces of a script that a vocabulary needs before it counts as writing that script


def script_of(ch: str) -> str:
    """A character's script as Unicode names it ('Arabic', 'Han', 'Hangul'); 'Other' for
    symbols and unnamed characters."""
    name = unicodedata.name(ch, "")
    first = name.split(" ")[0] if name else ""
    if first in SCRIPT_NAMES:
        return SCRIPT_NAMES[first]
    if not ch.isalpha() or not first:
        return "Other"
    return first.title()


def _fewest_pieces(text: str, pieces: dict[str, int], longest: int) -> list[int]:
    """The codes of the fewest `pieces` (piece -> code) that concatenate to `text`, [] if none do."""
    best: list[list[int] | None] = [[]] + [None] * len(text)
    for start in range(len(text)):
        if best[start] is None:
            continue
        for end in range(start + 1, min(len(text), start + longest) + 1):
            code = pieces.get(text[start:end])
            if code is not None and (best[end] is None or len(best[start]) + 1 < len(best[end])):
                best[end] = best[start] + [code]
    return best[-1] or []


class Vocabulary:
    """Tokenizer + map between tokenizer ids and compact model codes."""

    def __init__(self, tokenizer: Tokenizer, kept_ids: list[int]):
        self.tokenizer = tokenizer
        self.kept_ids = np.asarray(sorted(set(int(i) for i in kept_ids)), dtype=np.int64)
        size = max(int(self.kept_ids.max()) + 1 if len(self.kept_ids) else 0,
                   tokenizer.get_vocab_size(with_added_tokens=True))
        self._code_of_id = np.full(size, UNK, dtype=np.int64)
        self._code_of_id[self.kept_ids] = np.arange(len(self.kept_ids)) + len(SPECIALS)

    @classmethod
    def from_corpus_ids(cls, tokenizer: Tokenizer, id_rows: np.ndarray, pad_id: int = -1, min_count: int = 1):
        """The ids the rows use (at least `min_count` times; rarer ones will be [UNK])."""
        kept, counts = np.unique(id_rows, return_counts=True)
        return cls(tokenizer, [int(i) for i, c in zip(kept, counts) if i != pad_id and c >= min_count])

    def grown(self, id_rows: list[np.ndarray], min_count: int, pad_id: int = -1) -> "Vocabulary":
        """This vocabulary and every further id that occurs at least `min_count` times in all of
        `id_rows` together: a model of this vocabulary can continue on the larger one
        (`Vocabulary.spellings`), its codes keep their tokens."""
        counts: dict[int, int] = {}
        for rows in id_rows:
            ids, n = np.unique(np.asarray(rows), return_counts=True)
            for i, c in zip(ids.tolist(), n.tolist()):
                counts[i] = counts.get(i, 0) + c
        extra = [i for i, c in counts.items() if i != pad_id and c >= min_count]
        return Vocabulary(self.tokenizer, self.kept_ids.tolist() + extra)

    def spellings(self, smaller: "Vocabulary") -> list[list[int]]:
        """For each code of this vocabulary, the codes of `smaller` (same tokenizer) that write
        its piece: its own code there if `smaller` has it, else the fewest of `smaller`'s pieces
        that spell it, else [] (a piece `smaller` cannot spell). Specials map to themselves."""
        spelled = {self.tokenizer.id_to_token(int(i)) or "": int(code)
                   for code, i in enumerate(smaller.kept_ids, start=len(SPECIALS))}
        longest = max(map(len, spelled), default=1)
        out = [[code] for code in range(len(SPECIALS))]
        for i in self.kept_ids.tolist():
            own = smaller._code_of_id[i] if i < len(smaller._code_of_id) else UNK
            piece = self.tokenizer.id_to_token(i) or ""
            out.append([int(own)] if own != UNK else _fewest_pieces(piece, spelled, longest))
        return out

    def __len__(self) -> int:
        return len(self.kept_ids) + len(SPECIALS)

    def same_as(self, other: "Vocabulary") -> bool:
        """The same tokenizer and the same kept ids: model codes mean the same tokens."""
        return (np.array_equal(self.kept_ids, other.kept_ids)
                and self.tokenizer.to_str() == other.tokenizer.to_str())

    # --- text <-> tokenizer ids ---------------------------------------------------------
    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def truncate(self, text: str, max_len: int) -> tuple[str, list[int]]:
        """Cut a text to max_len tokens and re-decode it, so text and ids agree exactly."""
        ids = self.tokenize([text])[0]
        for _ in range(3):  # re-encoding a cut text can segment differently; settle it
            if len(ids) <= max_len:
                break
            text = self.tokenizer.decode(ids[:max_len], skip_special_tokens=False)
            ids = self.tokenize([text])[0]
        return text, ids[:max_len]

    def cut(self, text: str, max_len: int) -> str:
        """The original text up to the end of its `max_len`-th token: what an inverter of that
        length could write back, in the text's own characters (none replaced by <unk>)."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= max_len:
            return text.strip()
        return text[:encoding.offsets[max_len - 1][1]].strip()

    def unknown(self, text: str) -> str:
        """The characters of `text` (spaces aside) that no model code can write: those the
        tokenizer maps to its unknown token or to ids outside the kept vocabulary."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        ids = np.asarray(encoding.ids, dtype=np.int64)
        if not len(ids):
            return ""
        missing = np.ones(len(ids), dtype=bool)
        inside = ids < len(self._code_of_id)
        missing[inside] = self._code_of_id[ids[inside]] == UNK
        missing |= ids == self._tokenizer_unk()
        spans = sorted({encoding.offsets[i] for i in np.flatnonzero(missing)})
        return "".join(ch for start, end in spans for ch in text[start:end] if not ch.isspace())

    def _tokenizer_unk(self) -> int:
        """The tokenizer's own unknown-token id (-1 if it has none, as a byte-level BPE)."""
        if not hasattr(self, "_unk_id"):
            model = json.loads(self.tokenizer.to_str())["model"]
            unk = model.get("unk_id") if model.get("type") == "Unigram" else (
                self.tokenizer.token_to_id(model["unk_token"]) if model.get("unk_token") else None)
            self._unk_id = -1 if unk is None else int(unk)
        return self._unk_id

    def warning(self, text: str) -> str | None:
        """One sentence saying what of `text` this vocabulary cannot write; None if nothing."""
        found = self.unsupported(text)
        if found is None:
            return None
        n, scripts = found["characters"], ", ".join(found["scripts"])
        return (f"{n} of its {found['of']} characters ({scripts}) {'is' if n == 1 else 'are'} outside the "
                f"model's vocabulary, so {'it' if n == 1 else 'they'} cannot be recovered")

    def scripts(self) -> set[str]:
        """The scripts this vocabulary writes: those of at least COVERED of its pieces (a piece
        counts for the script of its first letter)."""
        if not hasattr(self, "_scripts"):
            counts: dict[str, int] = {}
            for i in self.kept_ids:
                letter = next((ch for ch in self.tokenizer.decode([int(i)]) if ch.isalpha()), None)
                if letter is not None:
                    counts[script_of(letter)] = counts.get(script_of(letter), 0) + 1
            self._scripts = {script for script, n in counts.items() if n >= COVERED}
        return self._scripts

    def unsupported(self, text: str) -> dict | None:
        """None when every letter of `text` that the vocabulary cannot write is of a script it
        writes (a rare letter of a known script is only a miss); else how many letters are of
        the scripts it lacks, of all characters, and those scripts: {'characters', 'of', 'scripts'}."""
        lacking = {script_of(ch) for ch in self.unknown(text) if ch.isalpha()} - self.scripts()
        if not lacking:
            return None
        # every letter of such a script counts: the few byte pieces a vocabulary may hold of it
        # do not make it able to write that script
        missing = [ch for ch in text if ch.isalpha() and script_of(ch) in lacking]
        total = sum(not ch.isspace() for ch in text)
        return {"characters": len(missing), "of": total, "scripts": sorted({script_of(ch) for ch in missing})}

    # --- tokenizer ids <-> model codes ------------------------------------------------
    def encode(self, texts: list[str], max_len: int) -> np.ndarray:
        """(N, max_len) model codes, PAD after the text, UNK for ids outside the vocabulary."""
        out = np.full((len(texts), max_len), PAD, dtype=np.int64)
        for row, ids in enumerate(self.tokenize(texts)):
            ids = np.asarray(ids[:max_len], dtype=np.int64)
            known = ids < len(self._code_of_id)
            codes = np.full(len(ids), UNK, dtype=np.int64)
            codes[known] = self._code_of_id[ids[known]]
            out[row, :len(ids)] = codes
        return out

    def ids_to_codes(self, ids: np.ndarray, pad_id: int = -1) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        codes = np.full(ids.shape, UNK, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self._code_of_id))
        codes[inside] = self._code_of_id[ids[inside]]
        codes[ids == pad_id] = PAD
        return codes

    def decode(self, codes) -> str:
        """Model codes -> text; PAD and MASK are dropped, UNK is dropped too (it has no text)."""
        codes = np.asarray(codes, dtype=np.int64)
        codes = codes[codes >= len(SPECIALS)]
        return self.tokenizer.decode(self.kept_ids[codes - len(SPECIALS)].tolist())

    def pieces(self, codes) -> list[str]:
        """The text of each code on its own ('' for PAD and MASK): what a token grid shows."""
        return [self.decode([c]) if c >= len(SPECIALS) else "" for c in np.asarray(codes).tolist()]

    def token_strings(self) -> list[str]:
        return SPECIALS + [self.tokenizer.id_to_token(int(i)) or "" for i in self.kept_ids]

    # --- folder -------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        text = self.tokenizer.to_str(pretty=True)
        if len(text) > GZIP_OVER:
            (folder / TOKENIZER_GZ).write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        else:
            (folder / TOKENIZER_FILE).write_text(text, encoding="utf-8")
        self.save_codes(folder)

    def save_codes(self, folder: Path) -> None:
        """vocab.json alone: which tokenizer ids are the model's codes (written whole)."""
        atomic.write_bytes(Path(folder) / VOCAB_FILE, json.dumps(
            {"specials": SPECIALS, "kept_tokenizer_ids": self.kept_ids.tolist()}).encode())

    @classmethod
    def load(cls, folder: Path) -> "Vocabulary":
        """A model folder's vocabulary; a corrector folder inside its inverter's folder without one
        of its own shares its inverter's (shipped correctors carry no second copy)."""
        folder = Path(folder)
        if not (folder / VOCAB_FILE).is_file() and folder.name == CORRECTOR_DIR and (folder.parent / VOCAB_FILE).is_file():
            folder = folder.parent
        try:
            meta = json.loads((folder / VOCAB_FILE).read_text())
            tokenizer = read_tokenizer(folder)
            kept = [int(i) for i in meta["kept_tokenizer_ids"]]
        except FileNotFoundError as exc:
            raise UnembedError(f"{folder} has no vocabulary ({Path(exc.filename).name} missing)") from None
        except Exception as exc:  # malformed JSON or tokenizer file
            raise UnembedError(f"{folder}: unreadable vocabulary or tokenizer ({type(exc).__name__})") from None
        if meta.get("specials") != SPECIALS:
            raise UnembedError(f"{folder / VOCAB_FILE}: unknown special tokens {meta.get('specials')}")
        return cls(tokenizer, kept)


__all__ = ["MASK", "PAD", "UNK", "SPECIALS", "VOCAB_FILE", "TOKENIZER_FILE", "Vocabulary", "script_of", "train_bpe",
           "load_tokenizer", "prune_unigram"]
