"""`unembed train`'s settings."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, check_types
from ..corrector.data import KINDS
from ..diffusion.schedule import SCHEDULES
from ..errors import UnembedError
from ..runtime.precision import PRECISIONS


@dataclass
class TrainConfig:
    data: str = "data/prepared/en"   # folder written by `unembed prepare`; its held-out split is the one evaluated
    mix: str = ""                    # more folders (prepared, or corrections for a corrector) whose train splits join data's, each repeated N times: DIR[:N],DIR[:N] (same vocabulary and encoder)
    out: str = "runs/en"             # run folder: checkpoints, log, resolved config
    steps: int = 20000               # optimizer steps
    batch_size: int = 64             # texts per step per process (models without a length head)
    batch_tokens: int = 1024         # tokens per step per process: equal-length texts (length head)
    length_sample: int = 256         # random texts per step for the length head's loss
    lr: float = 1e-3                 # peak learning rate
    min_lr_ratio: float = 0.1        # cosine decays to lr * this
    warmup: int = 500                # linear warmup steps
    weight_decay: float = 0.01
    betas: tuple = (0.9, 0.98)
    grad_clip: float = 1.0
    ema_decay: float = 0.999         # EMA of weights; the saved model uses EMA weights
    mask_schedule: str = "linear"    # the share masked at each training time: linear | cosine (decoding's curve is --reveal-schedule)
    loss_weighting: str = "uniform"  # uniform: mean CE over masked; elbo: MDLM 1/t weighting
    lexical_weight: float = 1.0      # weight of the bag-of-tokens loss
    init_from: str = ""              # BERT-style encoder whose weights start the model ('' = random)
    warm_start: str = ""             # inverter folder or shipped name whose weights start the model (same vocabulary); fresh optimizer
    deepen: int = 0                  # with warm_start: this many blocks, a multiple of its own; each block is followed by copies whose gates start at zero, so training begins from the model it continues (0 = its own depth)
    lexical_init: bool = True        # start the bag-of-tokens prior from a ridge fit on the data
    eval_every: int = 1000           # steps between evaluations (decoding from all-mask)
    eval_texts: int = 256            # held-out texts per evaluation
    eval_steps: int = 8              # denoising steps in evaluation
    eval_cosine: bool = True         # re-embed reconstructions in evaluation (needs the encoder)
    save_every: int = 500            # steps between checkpoints
    time_budget: float = 0.0         # stop after this many minutes (0 = no limit)
    stop_at: int = 0                 # stop this invocation at this step, resumable (0 = steps)
    threads: int = 0                 # torch threads (0 = all cores)
    device: str = "auto"             # auto | cpu | cuda
    precision: str = "auto"          # matrix products: auto (bfloat16 on a GPU or a bfloat16 CPU) | float32 | bfloat16
    seed: int = 0
    resume: bool = True              # continue from the run folder's last checkpoint
    kinds: str = "greedy,sampled,corrupted,searched"  # corrections data: the hypotheses to learn from

    RENAMED = {"schedule": "mask_schedule"}   # run folders and flags before the split

    def validate(self) -> "TrainConfig":
        """The one check of what a training run was asked, before anything is read or written."""
        check_types(self)
        unknown = set(self.kind_names()) - set(KINDS)
        check([
            (self.deepen < 0, f"--deepen must be 0 or a number of blocks, got {self.deepen}"),
            (bool(self.deepen) and not self.warm_start,
             "--deepen repeats the blocks of the model a run continues: give --warm-start"),
            (self.mask_schedule not in SCHEDULES,
             f"--mask-schedule must be one of {', '.join(SCHEDULES)}, got {self.mask_schedule!r}"),
            (self.loss_weighting not in ("uniform", "elbo"), "--loss-weighting must be uniform or elbo"),
            (self.precision not in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (min(self.steps, self.batch_size, self.batch_tokens, self.eval_every, self.save_every) < 1,
             "steps, batch-size, batch-tokens, eval-every and save-every must be at least 1"),
            (not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1 or self.warmup < 0,
             "lr must be above 0, min-lr-ratio between 0 and 1, warmup 0 or more"),
            (not 0 <= self.ema_decay < 1, f"--ema-decay must be at least 0 and below 1, got {self.ema_decay}"),
            (min(self.length_sample, self.eval_texts, self.time_budget, self.stop_at, self.threads) < 0,
             "length-sample, eval-texts, time-budget, stop-at and threads must be 0 or more"),
            (not 1 <= self.eval_steps <= 4096, "--eval-steps must be at least 1"),
            (bool(unknown), f"--kinds: unknown {', '.join(sorted(unknown))}; choose from {', '.join(KINDS)}"),
        ])
        self.mix_parts()
        return self

    def kind_names(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.kinds.split(",") if k.strip())

    def mix_parts(self) -> list[tuple[str, int]]:
        """`mix` as (folder, repeats); one line of error for a malformed entry."""
        parts = []
        for entry in filter(None, (e.strip() for e in self.mix.split(","))):
            folder, _, repeats = entry.rpartition(":") if ":" in entry else (entry, "", "1")
            if not folder or not repeats.isdigit() or int(repeats) < 1:
                raise UnembedError(f"--mix {entry!r}: expected DIR or DIR:N with N a positive whole number")
            parts.append((folder, int(repeats)))
        return parts
