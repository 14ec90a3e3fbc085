"""ConditionalMDLM: predicts the tokens at masked positions from the partly masked sequence
and the target embedding. The embedding conditions every block through AdaLN-Zero, and
optionally through a few prefix tokens and a bag-of-tokens prior. A length head reads the
text's length from the vector, so the decoder writes exactly that many tokens (no padding
to predict, and no compute spent on it).

A corrector (`ModelConfig.hypothesis`) is the same model reading two more things: a
hypothesis text, as a second segment after the text being written (same positions, plus a
segment vector), and, with `feedback`, the hypothesis's own embedding and its gap to the
target, added to the condition. It writes the whole text anew, so it may change its length."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..files import formats
from .config import ModelConfig
from ..config import from_dict, to_dict
from ..errors import UnembedError
from ..text.codes import MASK, PAD
from .layers import AdaLNZeroBlock, FinalNorm, timestep_embedding
from . import weights
from .packing import Packing

CONFIG_FILE = "config.json"
WEIGHTS_FILE = weights.WEIGHTS_FILE


class DenoiserOutput(NamedTuple):
    logits: torch.Tensor               # (B, L, V), or (n, V) at the selected positions
    lexical: torch.Tensor | None       # bag-of-tokens prior logits (B, V)
    length: torch.Tensor | None        # length logits (B, max_len); index i means i + 1 tokens


class Conditioning(NamedTuple):
    """What the vector alone decides: computed once per decode, not at every step."""
    v: torch.Tensor                    # (B, D) unit vectors scaled by sqrt(D)
    adaln: torch.Tensor                # (B, C) the AdaLN condition before the time embedding
    prefix: torch.Tensor | None        # (B, P, C) prefix tokens
    lexical: torch.Tensor | None       # (B, C) the bag-of-tokens prior in token-embedding space:
                                       # its logits are this times the token table


class ConditionalMDLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.vocab_size <= MASK:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.hidden)
        self.pos_emb = nn.Parameter(torch.zeros(c.prefix_tokens + c.max_len, c.hidden))
        # cond: vector -> AdaLN condition (the name is in every checkpoint's weights)
        self.cond = nn.Sequential(nn.Linear(c.cond_dim, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.hidden))
        self.time = (nn.Sequential(nn.Linear(256, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.hidden))
                     if c.time_conditioning else None)
        self.prefix = nn.Linear(c.cond_dim, c.prefix_tokens * c.hidden) if c.prefix_tokens else None
        self.lexical = nn.Linear(c.cond_dim, c.hidden) if c.lexical_prior else None
        self.length = (nn.Sequential(nn.Linear(c.cond_dim, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.max_len))
                       if c.length_head else None)
        # a corrector's extras; zero-initialised, so a warm start from an inverter begins as it
        self.segment = nn.Parameter(torch.zeros(c.hidden)) if c.hypothesis else None
        reads_feedback = c.hypothesis and c.feedback
        self.feedback = nn.Linear(2 * c.cond_dim, c.hidden) if reads_feedback else None
        self.feedback_prefix = (nn.Linear(2 * c.cond_dim, c.prefix_tokens * c.hidden)
                                if reads_feedback and c.prefix_tokens else None)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(c.hidden, c.heads, c.mlp_ratio, c.dropout)
                                    for _ in range(c.layers))
        self.final = FinalNorm(c.hidden)
        self.out_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.initialize_weights()

    def initialize_weights(self):
        """Small normal weights, zero biases; then every AdaLN modulation to zero, so each
        block starts as the identity (DiT's AdaLN-Zero)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
        nn.init.normal_(self.pos_emb, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.final.ada[-1].weight)
        nn.init.zeros_(self.final.ada[-1].bias)
        for extra in (self.feedback, self.feedback_prefix):
            if extra is not None:
                nn.init.zeros_(extra.weight)

    def num_parameters(self, exclude_vocab: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - (self.tok_emb.weight.numel() + self.out_bias.numel() if exclude_vocab else 0)

    def scaled(self, vectors: torch.Tensor) -> torch.Tensor:
        """Unit-normalised vectors scaled by sqrt(dim), so entries have unit variance. (B, D)"""
        return F.normalize(vectors.float(), dim=-1) * math.sqrt(vectors.shape[-1])

    def predict_length(self, vectors: torch.Tensor) -> torch.Tensor:
        """Length logits (B, max_len) from the vector alone; index i means i + 1 tokens."""
        if self.length is None:
            raise ValueError("this model has no length head: it pads every text to max_len")
        return self.length(self.scaled(vectors))

    def bag_of_tokens(self, vectors: torch.Tensor) -> torch.Tensor:
        """The prior's log-probabilities (B, V): how likely each piece is to be in the text a
        vector embeds, read from the vector alone (it is trained as a distribution over each
        text's set of pieces)."""
        if self.lexical is None:
            raise ValueError("this model has no bag-of-tokens prior")
        prior = F.linear(self.lexical(F.normalize(vectors.float(), dim=-1)), self.tok_emb.weight.float())
        return F.log_softmax(prior, dim=-1)

    def conditioning(self, vectors: torch.Tensor, hypothesis_vectors: torch.Tensor | None = None) -> Conditioning:
        """vectors (B, D); a corrector with feedback also takes its hypotheses' embeddings (B, D)."""
        B, P = vectors.shape[0], self.config.prefix_tokens
        v = self.scaled(vectors)
        adaln = self.cond(v)
        prefix = self.prefix(v).view(B, P, -1) if P else None
        if self.feedback is not None:
            if hypothesis_vectors is None:
                raise ValueError("this corrector reads the hypothesis's embedding: pass hypothesis_vectors")
            v_hat = self.scaled(hypothesis_vectors)
            gap = torch.cat([v_hat, v - v_hat], dim=-1)                    # (B, 2D)
            adaln = adaln + self.feedback(gap)
            if prefix is not None:
                prefix = prefix + self.feedback_prefix(gap).view(B, P, -1)
        lexical = self.lexical(F.normalize(vectors.float(), dim=-1)) if self.lexical is not None else None
        return Conditioning(v, adaln, prefix, lexical)

    def forward(self, codes: torch.Tensor, vectors: torch.Tensor, mask_ratio: torch.Tensor,
                select: torch.Tensor | None = None, lengths: torch.Tensor | None = None,
                length_vectors: torch.Tensor | None = None,
                conditioning: Conditioning | None = None,
                hypothesis: torch.Tensor | None = None,
                hypothesis_vectors: torch.Tensor | None = None) -> DenoiserOutput:
        """codes (B, L) with MASK where unknown; vectors (B, D); mask_ratio (B,).
        `select` (B, L): compute logits only where True. `lengths` (B,): rows shorter than L
        are padded; their padding takes no part in attention (needs a length head).
        `length_vectors` (E, D): more vectors for the length head only (its logits then
        cover B + E rows). Training batches hold one length each, so the head learns from
        these, a random sample, and not from a batch whose answer is the same for every row.
        `conditioning`: `self.conditioning(vectors)` computed beforehand, as decoding does
        once for all its steps; the length logits are then left out (None).
        A corrector also takes `hypothesis` (B, H) codes, PAD after each text, and with
        feedback `hypothesis_vectors` (B, D), their embeddings."""
        B, L = codes.shape
        given = conditioning is not None
        v, adaln, prefix, lexical = conditioning if given else self.conditioning(vectors, hypothesis_vectors)
        c = adaln if self.time is None else adaln + self.time(timestep_embedding(mask_ratio, 256))
        x = self.tok_emb(codes)                                   # (B, L, C)
        P = self.config.prefix_tokens
        if P:
            x = torch.cat([prefix, x], dim=1)                     # (B, P + L, C)
        x = x + self.pos_emb[:P + L]
        packing = None
        if self.segment is not None:
            if hypothesis is None:
                raise ValueError("a corrector rewrites a hypothesis: pass hypothesis codes")
            if lengths is None:
                lengths = torch.full((B,), L, device=codes.device)
            x, lengths = self.append_hypothesis(x, lengths, hypothesis)
        if lengths is not None:  # the blocks see only each row's prefix and text
            packing = Packing(P + lengths, x.shape[1])
            x = packing.pack(x)                                   # (N, C)
        for block in self.blocks:
            x = block(x, c, packing)
        h = self.final(x, c, packing)
        h = (packing.unpack(h) if packing is not None else h)[:, P:P + L]   # (B, L, C)
        if select is not None:
            rows = select.nonzero(as_tuple=True)[0]
            h = h[select]                                         # (n, C)
        if lexical is not None:  # prior logits + logits = (lexical + h) W^T: add before the head
            h = h + (lexical[rows] if select is not None else lexical[:, None])
        logits = F.linear(h, self.tok_emb.weight, self.out_bias)
        logits[..., MASK] = float("-inf")                         # never predict [MASK]
        if self.length is not None:
            logits[..., PAD] = float("-inf")                      # the length head sets the length
        length = None
        if self.length is not None and not given:
            length = self.length(v if length_vectors is None else
                                 torch.cat([v, self.scaled(length_vectors)]))
        prior = F.linear(lexical, self.tok_emb.weight) if lexical is not None and not given else None
        return DenoiserOutput(logits, prior, length)

    def append_hypothesis(self, x: torch.Tensor, lengths: torch.Tensor, hypothesis: torch.Tensor):
        """Each row's hypothesis tokens right after its text: x (B, P + L, C) with text lengths
        (B,) -> (B, T, C) and the lengths of text and hypothesis together. The hypothesis reuses
        the text's positions (token i of either is at position i) and adds the segment vector."""
        P = self.config.prefix_tokens
        L, H = x.shape[1] - P, hypothesis.shape[1]
        hyp_lengths = (hypothesis != PAD).sum(dim=1)                       # (B,)
        hyp = self.tok_emb(hypothesis) + self.pos_emb[P:P + H] + self.segment   # (B, H, C)
        both = torch.cat([x, hyp], dim=1)                                  # (B, P + L + H, C)
        total = lengths + hyp_lengths
        T = P + max(int(total.max()), L)
        k = torch.arange(T, device=x.device)[None]                        # (1, T)
        text_end = P + lengths[:, None]                                    # (B, 1)
        # position k of the new row: the prefix and text where k < P + length, then the hypothesis
        source = torch.where(k < text_end, k, (P + L + k - text_end).clamp(max=P + L + H - 1))
        return both.gather(1, source[..., None].expand(-1, -1, x.shape[2])), total

    # --- folders ----------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, storage: str | None = None) -> None:
        """config.json + model.safetensors; `storage`: float32, float16, bfloat16 or int8 (per-row
        scales, see weights.py); None keeps the weights' own type."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("model-*-of-*.safetensors"), folder / weights.INDEX_FILE, folder / WEIGHTS_FILE]:
            old.unlink(missing_ok=True)   # a folder saved again holds one layout, not two
        tensors, metadata = weights.pack(self.state_dict(), storage)
        weights.write(folder, tensors, metadata)
        (folder / CONFIG_FILE).write_text(json.dumps({**formats.header("model"), **to_dict(self.config)},
                                                     indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> "ConditionalMDLM":
        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file() or not weights.present(folder):
            raise UnembedError(f"{folder} is not a model folder (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        try:
            values = json.loads((folder / CONFIG_FILE).read_text())
            if not isinstance(values, dict):
                raise ValueError("expected a JSON object")
            formats.check(values, "model", folder)  # another kind of folder is said as such
            values.setdefault("length_head", False)  # folders written before the length head existed
            config = from_dict(ModelConfig, values).validate()
            model = cls(config)
        except UnembedError:
            raise
        except (ValueError, TypeError) as exc:  # bad JSON, or values no model can have
            raise UnembedError(f"{folder / CONFIG_FILE} is not a valid model config: {exc}") from None
        try:
            state = weights.read(folder)
        except ValueError as exc:
            raise UnembedError(str(exc)) from None
        try:
            model.load_state_dict(weights.unpack(state))
        except (RuntimeError, ValueError) as exc:
            raise UnembedError(f"{folder}: the weights file does not match its config.json: "
                               f"{str(exc).splitlines()[0]}") from None
        return model.to(device).eval()
