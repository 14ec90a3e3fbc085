"""`unembed train`: the MDLM objective on a prepared dataset, single process or torchrun."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..files import atomic, formats
from ..text.codes import SPECIALS
from ..model.config import ModelConfig
from .config import TrainConfig
from ..config import from_dict, to_dict
from ..data import cache
from ..runtime.devices import local_rank, resolve_device
from ..diffusion import get_schedule
from ..encoders import ENCODER_FIELDS
from ..errors import UnembedError
from .heldout import HeldOutEvaluator
from ..files.checkpoints import resolve_checkpoint
from ..inverter import Inverter
from ..vectors.matryoshka import cut_at_random, parse_widths
from ..runtime.memory import resident_mb
from ..model import ConditionalMDLM
from ..model.layers import AdaLNZeroBlock
from ..model.lexical_init import init_lexical_prior
from ..model.pretrained_init import init_from_bert
from ..runtime.precision import resolve_precision
from ..text.vocabulary import Vocabulary
from . import distributed as dist
from .batches import Batches, LengthBuckets
from .checkpoint import find_checkpoint, load_checkpoint, save_checkpoint, write_failed
from .ema import EMA
from .examples import Examples
from .lr import lr_at
from .step import train_step

logger = logging.getLogger(__name__)


def _model_config(cfg: TrainConfig, base: ModelConfig, meta: dict, vocab: Vocabulary) -> ModelConfig:
    existing = find_checkpoint(Path(cfg.out)) if cfg.resume else None
    if existing is not None:  # a resumed run keeps the architecture it started with
        return from_dict(ModelConfig, json.loads((existing / "model" / "config.json").read_text()))
    # corrections data (`unembed corrections`) trains a corrector
    role = {"hypothesis": meta.get("kind") == "corrections", "feedback": base.feedback}
    if cfg.warm_start:        # a warm start keeps the architecture of the model it continues
        folder = resolve_checkpoint(cfg.warm_start)
        own = Vocabulary.load(folder)
        if not own.same_as(vocab) and not _grows_into(own, vocab):
            raise UnembedError(f"--warm-start {cfg.warm_start}: its vocabulary differs from {cfg.data}'s; "
                               f"prepare the data with --vocab {cfg.warm_start} (or grow its vocabulary with "
                               f"`unembed vocabulary`), or train anew")
        values = json.loads((folder / "config.json").read_text())
        if cfg.deepen:
            if cfg.deepen % values["layers"]:
                raise UnembedError(f"--deepen {cfg.deepen}: must be a multiple of {cfg.warm_start}'s "
                                   f"{values['layers']} blocks")
            values["layers"] = cfg.deepen
        return from_dict(ModelConfig, {**values, "vocab_size": len(vocab), **role})
    recorded = {k: meta[k] for k in ENCODER_FIELDS if k in meta}
    return from_dict(ModelConfig, {**to_dict(base), "vocab_size": len(vocab), "max_len": meta["max_len"],
                                   "cond_dim": meta["dim"], **recorded, **role})


def _mixed_in(folder: str, meta: dict, vocab: Vocabulary, kinds: tuple[str, ...]) -> Examples:
    """The train split of a --mix folder, which must speak the same vocabulary and encoder; of
    corrections data, its hypotheses of `kinds` (Examples.joined checks the two folders match)."""
    other = cache.read_meta(Path(folder))
    if not Vocabulary.load(Path(folder)).same_as(vocab):
        raise UnembedError(f"--mix {folder}: its vocabulary differs from --data's; prepare it with "
                           "--vocab (the model being continued) or the same tokenizer")
    differ = [k for k in ("dim", "max_len", *ENCODER_FIELDS) if other.get(k) != meta.get(k)]
    if differ:
        raise UnembedError(f"--mix {folder}: prepared with another {', '.join(differ)} than --data; "
                           "prepare both with the same encoder and --max-len")
    return Examples.load(folder, "train", vocab, kinds)


def _grows_into(own: Vocabulary, vocab: Vocabulary) -> bool:
    """`vocab` is `own` grown (`unembed vocabulary`): the same tokenizer, every code of `own` kept."""
    return (own.tokenizer.to_str() == vocab.tokenizer.to_str()
            and bool(np.isin(own.kept_ids, vocab.kept_ids).all()))


def grown_rows(state: dict, own: Vocabulary, vocab: Vocabulary) -> dict:
    """A state dict of vocabulary `own` laid out for the larger `vocab`: each kept piece keeps
    its rows; a new piece starts as the pieces that spell it (the mean of their embeddings, and
    the lowest of their output biases: a whole is never more frequent than its rarest part);
    one they cannot spell, as the mean embedding and the lowest bias."""
    spell = vocab.spellings(own)
    state = dict(state)
    for key, pool in (("tok_emb.weight", lambda rows: rows.mean(dim=0)),
                      ("out_bias", lambda rows: rows.min(dim=0).values)):
        old = state[key]
        fallback = pool(old[len(SPECIALS):])
        state[key] = torch.stack([pool(old[codes]) if codes else fallback for codes in spell])
    return state


def deepened(state: dict, layers: int, into: int) -> dict:
    """A state dict of `layers` blocks laid out for `into` (a multiple): block i becomes blocks
    i*k .. i*k+k-1, the first its own and the rest copies whose two gates are zero. A block with
    zero gates is the identity (AdaLN-Zero), so the deeper model computes what the shallower one
    did, and its copies start from weights that already read this text (stacking, as in
    progressive BERT training) rather than from noise."""
    k = into // layers
    out = {key: value for key, value in state.items() if not key.startswith("blocks.")}
    for key, value in state.items():
        if not key.startswith("blocks."):
            continue
        _, i, rest = key.split(".", 2)
        for j in range(k):
            copy = value.clone()
            if j and rest.startswith("ada.1."):  # the copy's two gates
                hidden = copy.shape[0] // len(AdaLNZeroBlock.MODULATIONS)
                for gate in ("gate1", "gate2"):
                    copy[AdaLNZeroBlock.rows(gate, hidden)] = 0
            out[f"blocks.{int(i) * k + j}.{rest}"] = copy
    return out


def warm_start_weights(model: ConditionalMDLM, name_or_path: str, vocab: Vocabulary) -> None:
    """The weights of a trained model; a corrector started from an inverter keeps its own
    zero-initialised extras (segment, feedback), so it begins as that inverter. A model whose
    vocabulary `vocab` grew (`unembed vocabulary`) gets rows for the new pieces (`grown_rows`);
    a deeper one (`--deepen`) gets its blocks repeated (`deepened`)."""
    folder = resolve_checkpoint(name_or_path)
    shallow = ConditionalMDLM.from_pretrained(folder)
    source = shallow.state_dict()
    own = Vocabulary.load(folder)
    if not own.same_as(vocab):
        source = grown_rows(source, own, vocab)
        logger.info("vocabulary grown from %d to %d codes", len(own), len(vocab))
    if model.config.layers != shallow.config.layers:
        source = deepened(source, shallow.config.layers, model.config.layers)
        logger.info("blocks repeated: %d -> %d", shallow.config.layers, model.config.layers)
    missing, unexpected = model.load_state_dict(source, strict=False)
    extras = ("segment", "feedback.", "feedback_prefix.")
    if unexpected or any(not key.startswith(extras) for key in missing):
        raise UnembedError(f"--warm-start {name_or_path}: its weights do not fit this model "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


def trim_log(path: Path, step: int) -> None:
    """Drop what a killed run logged after its last checkpoint (those steps run again on resume),
    and a line cut short by the kill."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("step", 0) <= step:
            kept.append(line)
    atomic.write_bytes(path, "".join(k + "\n" for k in kept).encode())


class Trainer:
    """One run's state, set up by the constructor; `train` below is the loop over it. Reads top
    to bottom: devices, data, model and optimizer (fresh, warm-started or resumed), then step,
    evaluate, checkpoint."""

    def __init__(self, cfg: TrainConfig, model_cfg: ModelConfig | None = None):
        self.cfg, self.folder = cfg.validate(), Path(cfg.out)
        # 1. devices, threads, processes
        device = resolve_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.rank, self.world = dist.setup(device)
        if device.type == "cuda":
            device = torch.device("cuda", local_rank())
            torch.cuda.set_device(device)
        self.device = device
        self.precision = resolve_precision(cfg.precision, device)  # a bad name stops here, before any file
        logger.info("matrix products in %s", self.precision)

        # 2. data
        self.meta = cache.read_meta(Path(cfg.data))
        self.vocab = Vocabulary.load(Path(cfg.data))
        self.examples = Examples.load(cfg.data, "train", self.vocab, cfg.kind_names())
        for folder, repeats in cfg.mix_parts():
            self.examples = self.examples.joined(_mixed_in(folder, self.meta, self.vocab, cfg.kind_names()), repeats)

        # 3. model, optimizer, EMA: fresh, warm-started or resumed
        torch.manual_seed(cfg.seed)
        self.mcfg = mcfg = _model_config(cfg, model_cfg or ModelConfig(), self.meta, self.vocab)
        self.widths = parse_widths(mcfg.matryoshka)  # Matryoshka cuts trained on, () for none
        lengths = self.examples.lengths                                          # (N,)
        self.batches = (LengthBuckets(lengths.numpy(), cfg.batch_tokens, cfg.seed, self.rank, self.world)
                        if mcfg.length_head else Batches(len(lengths), cfg.batch_size, cfg.seed, self.rank, self.world))
        self.model = ConditionalMDLM(mcfg).to(device)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}],
                                           lr=cfg.lr, betas=tuple(cfg.betas), fused=device.type in ("cuda", "cpu"))
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + self.rank)  # masks and times
        self.schedule = get_schedule(cfg.mask_schedule)
        self.step, self.best = 0, -1.0
        self.spent = {"elapsed": 0.0, "cpu_seconds": 0.0}  # by earlier invocations of this run
        existing = find_checkpoint(self.folder) if cfg.resume else None
        self.resumed = existing is not None
        self._initial_weights(existing)
        self.ema = EMA(self.model, cfg.ema_decay)
        if existing is not None:
            self._resume(existing)
        self.net = (torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=[device] if device.type == "cuda" else None) if self.world > 1 else self.model)
        self.eval_model = ConditionalMDLM(mcfg).to(device).eval()
        self.evaluator = self._evaluator() if self.rank == 0 else None
        self.started, self.cpu_started = time.time(), time.process_time()

    def _initial_weights(self, existing: Path | None) -> None:
        cfg = self.cfg
        if existing is not None:
            return  # the checkpoint's, loaded by _resume
        if cfg.warm_start:
            warm_start_weights(self.model, cfg.warm_start, self.vocab)
            logger.info("weights from %s", cfg.warm_start)
        elif cfg.init_from:
            init_from_bert(self.model, cfg.init_from, self.vocab)
        if cfg.lexical_init and not cfg.warm_start and self.rank == 0:  # DDP copies rank 0's weights to all
            init_lexical_prior(self.model, self.examples.codes.numpy(), self.examples.vectors.numpy())

    def _resume(self, existing: Path) -> None:
        state = load_checkpoint(existing, self.model, self.optimizer, self.generator)
        self.step, self.best = state["step"], state.get("best", -1.0)
        self.spent = {k: state.get(k, 0.0) for k in self.spent}
        self.batches.epoch, self.batches.position = state["epoch"], state["position"]
        self.ema.shadow = {k: v.float() for k, v in
                           ConditionalMDLM.from_pretrained(existing / "model").state_dict().items()}
        logger.info("resumed %s at step %d", existing, self.step)

    def _evaluator(self) -> HeldOutEvaluator:
        held = Examples.load(self.cfg.data, "heldout", self.vocab, kinds=("greedy",))
        texts = ([self.vocab.decode(row) for row in held.codes[:self.cfg.eval_texts].numpy()] if held.corrects else
                 (Path(self.cfg.data) / "heldout.txt").read_text(encoding="utf-8").splitlines())
        return HeldOutEvaluator(self.cfg, self.vocab, self.meta, self.device, held, texts)

    def clocks(self) -> dict:
        """Wall and CPU seconds (all threads of this process) since the run began, across resumes."""
        return {"elapsed": self.spent["elapsed"] + time.time() - self.started,
                "cpu_seconds": self.spent["cpu_seconds"] + time.process_time() - self.cpu_started}

    def write_run_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(self.folder / "config.json", json.dumps(
            {**formats.header("run"), "train": to_dict(self.cfg), "model": to_dict(self.mcfg), "data": self.meta,
             "train_rows": len(self.examples), "world": self.world,
             "parameters": self.model.num_parameters(), "parameters_with_vocab": self.model.num_parameters(False)},
            indent=2).encode())
        logger.info("model: %.2fM parameters (%.2fM without vocabulary), vocabulary %d",
                    self.model.num_parameters(False) / 1e6, self.model.num_parameters() / 1e6, len(self.vocab))

    def train_step(self) -> dict:
        """One batch: draw it, set the rate, step the optimizer, update the EMA."""
        cfg, lengths = self.cfg, self.examples.lengths
        idx = torch.from_numpy(self.batches.next())
        width = int(lengths[idx].max()) if self.mcfg.length_head else self.examples.codes.shape[1]  # one length per batch
        codes, vectors, extra = self.examples.batch(idx, width, self.device)
        vectors = cut_at_random(vectors, self.widths, self.generator)
        lr = lr_at(self.step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
        length_sample = None
        if self.mcfg.length_head:  # a random sample of all lengths for the length head
            pick = torch.from_numpy(np.random.default_rng([cfg.seed, self.rank, self.step]).integers(
                0, len(lengths), cfg.length_sample))
            length_sample = (cut_at_random(self.examples.vectors[pick], self.widths, self.generator).to(self.device),
                             lengths[pick].to(self.device))
        parts, grad_norm = train_step(self.model, self.optimizer, codes, vectors, self.schedule, self.generator,
                                      lr=lr, grad_clip=cfg.grad_clip, precision=self.precision, net=self.net,
                                      weighting=cfg.loss_weighting, lexical_weight=cfg.lexical_weight,
                                      length_sample=length_sample, **extra)
        self.ema.update(self.model, self.step)
        self.step += 1
        return {"lr": lr, "grad_norm": float(grad_norm), "tokens": int(lengths[idx].sum()) * self.world,
                **{k: float(v.detach()) for k, v in parts.items()}}

    def save_ema_model(self, folder: Path) -> None:
        self.ema.copy_to(self.eval_model)
        Inverter(self.eval_model, self.vocab).save_pretrained(folder)

    def evaluate(self) -> dict:
        """Rank 0: score the EMA weights on held-out texts; keep them in best/ when they do best."""
        self.ema.copy_to(self.eval_model)
        result = {"step": self.step, **self.clocks(), **self.evaluator(self.eval_model, self.schedule)}
        logger.info("eval %s", result)
        if result.get("eval_token_accuracy", -1) > self.best:
            try:
                with atomic.folder(self.folder / "best") as tmp:
                    self.save_ema_model(tmp)
            except Exception as exc:  # disk full: as a failed checkpoint, one line and nothing half-written
                raise write_failed("best/", self.step, self.folder, "best/ and last/ are as they were", exc) from None
            self.best = result["eval_token_accuracy"]
        return result

    def checkpoint(self) -> None:
        if self.rank == 0:
            save_checkpoint(self.folder, self.save_ema_model, self.model, self.optimizer,
                            {"step": self.step, "epoch": self.batches.epoch, "position": self.batches.position,
                             "best": self.best, "world": self.world, **self.clocks()}, self.generator)
        dist.barrier()


def train(cfg: TrainConfig, model_cfg: ModelConfig | None = None) -> Path:
    """Train (or resume) a run; returns the run folder. Its last/model is the EMA model."""
    run = Trainer(cfg, model_cfg)
    lead = run.rank == 0
    if lead:
        run.write_run_config()
        if run.resumed:
            trim_log(run.folder / "log.jsonl", run.step)  # what a killed run logged past its checkpoint
    log = open(run.folder / "log.jsonl", "a") if lead else None
    tokens, stop = 0, False
    bar = tqdm(total=cfg.steps, initial=run.step, desc="train", unit="step", disable=not lead)
    try:
        while run.step < cfg.steps and not stop:
            # a. one optimizer step
            parts = run.train_step()
            tokens += parts.pop("tokens")  # text tokens, padding not counted
            # b. log
            if lead:
                bar.update(1)
                bar.set_postfix(loss=f"{parts['loss']:.3f}", acc=f"{parts['masked_acc']:.3f}")
                if run.step % 50 == 0 or run.step == 1:
                    log.write(json.dumps({"step": run.step, "lr": parts.pop("lr"), "grad_norm": parts.pop("grad_norm"),
                                          "tokens_per_s": tokens / (time.time() - run.started), **run.clocks(),
                                          "rss_mb": resident_mb(), **parts}) + "\n")
                    log.flush()
            stop = (cfg.time_budget > 0 and (time.time() - run.started) / 60 > cfg.time_budget) \
                or run.step == cfg.stop_at
            stop = dist.any_true(stop, run.device)
            # c. evaluate, save
            if run.step % cfg.eval_every == 0 or run.step == cfg.steps or stop:
                if lead:
                    log.write(json.dumps(run.evaluate()) + "\n")
                    log.flush()
                dist.barrier()
            if run.step % cfg.save_every == 0 or run.step == cfg.steps or stop:
                run.checkpoint()
    finally:  # an error (a full disk) is the last thing printed, after the bar
        bar.close()
        if log:
            log.close()
    dist.cleanup()
    return run.folder
