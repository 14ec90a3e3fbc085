"""Reading and cleaning corpora: .txt (one text per line), .jsonl ('text' key), or a Hugging
Face `datasets` name when online."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Iterable

from ..errors import UnembedError

_SPACE = re.compile(r"\s+")


def read_texts(source: str) -> list[str]:
    path = Path(source)
    if path.is_file():
        try:
            if path.suffix == ".jsonl":
                with open(path, encoding="utf-8") as f:
                    return [json.loads(line)["text"] for line in f if line.strip()]
            return path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError) as exc:
            raise UnembedError(f"cannot read {path}: {type(exc).__name__} (expected UTF-8 text, "
                               "one text per line, or JSON lines with a 'text' key)") from None
    if path.suffix in (".txt", ".jsonl") or source.startswith((".", "/")):
        raise UnembedError(f"corpus file not found: {source}")
    try:
        import datasets
        return list(datasets.load_dataset(source, split="train")["text"])
    except Exception as exc:
        raise UnembedError(f"{source!r} is neither a file nor a loadable dataset "
                           f"({type(exc).__name__})") from None


def clean(texts: Iterable[str], min_words: int = 1) -> list[str]:
    """Collapse white space, drop empty and short texts, deduplicate keeping first order."""
    seen, out = set(), []
    for text in texts:
        text = _SPACE.sub(" ", text or "").strip()
        if text and len(text.split()) >= min_words and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def split_heldout(texts: list[str], heldout: int, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle once with `seed`; the last `heldout` texts are held out."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    heldout = min(heldout, len(texts) // 2)
    cut = len(order) - heldout
    return [texts[i] for i in order[:cut]], [texts[i] for i in order[cut:]]
