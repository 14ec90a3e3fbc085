"""The mask-ratio distribution really spans (0, 1] (the reference's collapsed to 10%),
and padding is masked like any other position."""
import numpy as np
import torch

from unembed.model.config import ModelConfig
from unembed.diffusion import get_schedule, mdlm_loss, sample_mask, sample_times
from unembed.model import ConditionalMDLM
from unembed.text.vocabulary import MASK, PAD, UNK


def test_mask_ratios_are_uniform_over_many_batches():
    g = torch.Generator().manual_seed(0)
    schedule = get_schedule("linear")
    ratios = torch.cat([schedule.ratio(sample_times(64, g)) for _ in range(200)]).numpy()
    assert ratios.min() > 0 and ratios.max() <= 1
    assert abs(ratios.mean() - 0.5) < 0.02
    assert abs(ratios.std() - (1 / 12) ** 0.5) < 0.02          # the std of U(0, 1)
    deciles = np.histogram(ratios, bins=10, range=(0, 1))[0] / len(ratios)
    assert np.all(np.abs(deciles - 0.1) < 0.02), deciles


def test_masked_share_follows_the_ratio_and_reaches_every_position():
    g = torch.Generator().manual_seed(1)
    ratio = torch.rand(4000, generator=g).clamp(min=0.01)
    mask = sample_mask(ratio, 32, g)
    share = mask.float().mean(1)
    assert torch.all((share - ratio).abs() <= 1 / 32 + 1e-6)
    per_position = mask.float().mean(0)
    assert torch.all((per_position - ratio.mean()).abs() < 0.05)  # last positions too
    assert mask.sum(1).min() >= 1                                  # never an empty target


def test_cosine_schedule_is_monotone_and_ends_fully_masked():
    s = get_schedule("cosine")
    t = torch.linspace(0.001, 1, 100)
    r = s.ratio(t)
    assert torch.all(r[1:] > r[:-1]) and abs(r[-1].item() - 1) < 1e-6


class Spy(torch.nn.Module):
    """Records the noisy input a real model receives."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, codes, *args, **kwargs):
        self.seen.append(codes.clone())
        return self.model(codes, *args, **kwargs)


def test_loss_masks_padding_and_scores_only_masked_positions():
    model = ConditionalMDLM(ModelConfig(vocab_size=20, max_len=12, cond_dim=8, hidden=32,
                                        layers=1, heads=2, prefix_tokens=0, length_head=False))
    spy = Spy(model)
    codes = torch.full((64, 12), PAD)
    codes[:, :4] = torch.randint(3, 20, (64, 4))                     # 4 tokens, 8 pads
    g = torch.Generator().manual_seed(0)
    parts = mdlm_loss(spy, codes, torch.randn(64, 8), get_schedule("linear"), g)
    noisy = spy.seen[0]
    assert (noisy[:, 4:] == MASK).any(), "padding was never masked: the length would leak"
    assert torch.equal(noisy[noisy != MASK], codes[noisy != MASK])
    assert torch.isfinite(parts["loss"])


class KeepLogits(torch.nn.Module):
    """Keeps the logits a real model returns, to read their gradient."""

    def __init__(self, model):
        super().__init__()
        self.model, self.logits = model, None

    def forward(self, *args, **kwargs):
        out = self.model(*args, **kwargs)
        self.logits = out.logits
        self.logits.retain_grad()
        return out


def test_unk_targets_give_no_loss_and_no_gradient():
    torch.manual_seed(0)
    model = ConditionalMDLM(ModelConfig(vocab_size=20, max_len=8, cond_dim=8, hidden=32,
                                        layers=1, heads=2, prefix_tokens=0, length_head=False))
    keep = KeepLogits(model)
    codes = torch.randint(3, 20, (64, 8))
    codes[:, ::2] = UNK                                                # half the targets have no text
    g = torch.Generator().manual_seed(0)
    parts = mdlm_loss(keep, codes, torch.randn(64, 8), get_schedule("linear"), g, lexical_weight=0.0)
    parts["loss"].backward()
    g = torch.Generator().manual_seed(0)
    masked = sample_mask(get_schedule("linear").ratio(sample_times(64, g)), 8, g)
    targets = codes[masked]
    grad = keep.logits.grad.abs().sum(dim=1)                           # (n,)
    assert (targets == UNK).any() and (targets != UNK).any()
    assert torch.all(grad[targets == UNK] == 0) and torch.all(grad[targets != UNK] > 0)
    assert torch.isfinite(parts["loss"]) and parts["loss"] > 0
    only_unk = torch.full((4, 8), UNK)                                 # nothing to learn, no NaN
    parts = mdlm_loss(model, only_unk, torch.randn(4, 8), get_schedule("linear"), torch.Generator().manual_seed(1))
    assert parts["loss"].item() == 0.0
