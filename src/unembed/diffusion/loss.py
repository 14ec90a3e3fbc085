"""The MDLM training objective, with logits computed only at masked positions."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..text.codes import MASK, PAD, UNK
from .schedule import MaskSchedule, sample_mask, sample_times


def mdlm_loss(model, codes: torch.Tensor, vectors: torch.Tensor, schedule: MaskSchedule,
              generator: torch.Generator, weighting: str = "uniform",
              lexical_weight: float = 1.0,
              length_sample: tuple[torch.Tensor, torch.Tensor] | None = None,
              **hypothesis) -> dict[str, torch.Tensor]:
    """codes (B, L) clean model codes (PAD after the text; none for a model with a length
    head, which trains on batches of equal-length texts); vectors (B, D).

    weighting "uniform": mean cross-entropy over masked positions.
    weighting "elbo": MDLM's bound, each sample's summed CE times ratio'(t)/ratio(t) / L.
    The lexical prior is trained as a distribution over the set of tokens in each text
    (cross-entropy against the normalised bag, PAD included as it tells the length): unlike
    a per-token BCE over a large vocabulary, its scale matches the main loss.
    length_sample (vectors (E, D), lengths (E,)): extra rows for the length head's loss.
    A corrector's `hypothesis` (B, H) and `hypothesis_vectors` (B, D) pass to the model."""
    B, L = codes.shape
    t = sample_times(B, generator, device=codes.device)
    ratio = schedule.ratio(t)
    masked = sample_mask(ratio, L, generator)                           # (B, L)
    noisy = codes.masked_fill(masked, MASK)
    extra = length_sample[0] if length_sample is not None else None
    logits, lexical, length = model(noisy, vectors, ratio, select=masked, length_vectors=extra, **hypothesis)
    targets = codes[masked]                                             # (n,)
    logits = logits.float()  # bfloat16 under autocast; argmax too is far faster in float32 on CPU
    # [UNK] (a piece outside the vocabulary) is masked and kept as context but never a target:
    # decoding never writes it (it has no text), so learning to predict it is wasted capacity
    scored = (targets != UNK).float()                                   # (n,)
    ce = F.cross_entropy(logits, targets, reduction="none") * scored    # (n,)
    count = scored.sum().clamp(min=1)
    if weighting == "elbo":
        rows = masked.nonzero(as_tuple=True)[0]
        per_sample = torch.zeros(B, device=codes.device).index_add_(0, rows, ce)
        loss = (per_sample * schedule.elbo_weight(t)).mean() / L
    elif weighting == "uniform":
        loss = ce.sum() / count
    else:
        raise ValueError(f"unknown loss weighting {weighting!r}; use uniform or elbo")
    out = {"ce": (ce.sum() / count).detach(),
           "masked_acc": (((logits.argmax(-1) == targets).float() * scored).sum() / count).detach(),
           "mask_ratio": ratio.mean().detach()}
    if lexical is not None and lexical_weight > 0:
        bag = torch.zeros_like(lexical, dtype=torch.float32).scatter_(1, codes, 1.0)  # (B, V)
        bag[:, UNK] = 0.0                                               # as above; PAD stays (the length)
        bag = bag / bag.sum(dim=1, keepdim=True).clamp(min=1)          # a row of only [UNK]: no term
        lex = -(bag * F.log_softmax(lexical.float(), dim=-1)).sum(dim=1).mean()
        loss = loss + lexical_weight * lex
        out["lexical"] = lex.detach()
    if length is not None:
        true_length = (codes != PAD).sum(dim=1)                         # (B,)
        if length_sample is not None:
            true_length = torch.cat([true_length, length_sample[1].to(true_length)])
        length_ce = F.cross_entropy(length.float(), true_length - 1)
        loss = loss + length_ce
        out["length"] = length_ce.detach()
        out["length_acc"] = (length.argmax(-1) == true_length - 1).float().mean().detach()
    out["loss"] = loss
    return out


__all__ = ["mdlm_loss"]


@torch.no_grad()
def heldout_loss(model, codes: torch.Tensor, vectors: torch.Tensor, schedule: MaskSchedule,
                 seeds: tuple[int, ...] = (1234,), **hypothesis) -> dict[str, float]:
    """The objective on held-out rows with fixed maskings (one per seed), so that two calls
    compare weights, not draws: mean cross-entropy, accuracy at masked positions and length
    accuracy, per text. A model with a length head sees each length apart, as it trained.
    codes (N, L), vectors (N, D); a corrector's hypothesis rows (N, H) and vectors (N, D)."""
    if len(codes) == 0:
        return {"ce": float("inf"), "masked_acc": 0.0, "length_acc": 0.0}
    was_training = model.training
    model.eval()
    lengths = (codes != PAD).sum(dim=1).cpu()
    groups = ([((lengths == n).nonzero()[:, 0], int(n)) for n in lengths.unique()] if model.config.length_head
              else [(torch.arange(len(codes)), codes.shape[1])])
    totals = {"ce": 0.0, "masked_acc": 0.0, "length_acc": 0.0}
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        for rows, width in groups:
            rows = rows.to(codes.device)
            extra = {k: v[rows] for k, v in hypothesis.items()}
            parts = mdlm_loss(model, codes[rows, :width], vectors[rows], schedule, g, lexical_weight=0.0, **extra)
            for key in totals:
                totals[key] += float(parts.get(key, 0.0)) * len(rows)
    model.train(was_training)
    return {k: v / (len(seeds) * len(codes)) for k, v in totals.items()}
