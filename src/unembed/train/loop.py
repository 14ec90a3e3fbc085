"""`unembed train`: the MDLM objective on a prepared dataset, single process or torchrun."""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import ModelConfig, TrainConfig, from_dict, to_dict
from ..data import cache
from ..encoders import ENCODER_FIELDS
from ..diffusion import get_schedule, mdlm_loss
from ..errors import UnembedError
from ..eval.metrics import cosine_rows, token_accuracy
from ..model import ConditionalMDLM
from ..pipeline import Inverter, resolve_checkpoint, resolve_device
from ..precision import autocast, resolve_precision
from ..vocabulary import PAD, Vocabulary
from . import distributed as dist
from .batches import Batches, LengthBuckets
from .checkpoint import find_checkpoint, load_checkpoint, replace_dir, save_checkpoint
from .ema import EMA
from .examples import Examples
from .lr import lr_at

logger = logging.getLogger(__name__)


class Evaluator:
    """Decode held-out vectors from all-[MASK] and score them; rank 0 only. A corrector
    rewrites the base model's greedy decodes of them, whose own score is reported beside."""

    def __init__(self, cfg: TrainConfig, vocab: Vocabulary, meta: dict, device):
        held = Examples.load(cfg.data, "heldout", vocab, kinds=("greedy",))
        n = min(cfg.eval_texts, len(held))
        self.codes = held.codes[:n].to(device)
        self.vectors = held.vectors[:n].numpy()
        self.hypotheses = held.hypotheses[:n] if held.corrects else None
        self.hypothesis_vectors = held.hypothesis_vectors[:n] if held.corrects else None
        self.texts = ([vocab.decode(row) for row in held.codes[:n].numpy()] if held.corrects else
                      (Path(cfg.data) / "heldout.txt").read_text(encoding="utf-8").splitlines()[:n])
        L = held.codes.shape[1]
        self.references = [ids[:L] for ids in vocab.tokenize(self.texts)]
        self.cfg, self.vocab, self.meta, self.device = cfg, vocab, meta, device
        self.encoder = None

    def decode(self, model: ConditionalMDLM) -> list[str]:
        inverter = Inverter(model, self.vocab, device=self.device)
        if self.hypotheses is None:
            return inverter.invert(self.vectors, steps=self.cfg.eval_steps)
        sampling = inverter.sampling_with(steps=self.cfg.eval_steps)
        texts = []
        for start in range(0, len(self.vectors), 64):
            part = slice(start, start + 64)
            codes = inverter.generate(torch.from_numpy(self.vectors[part]).to(self.device), sampling,
                                      hypothesis=self.hypotheses[part].to(self.device),
                                      hypothesis_vectors=self.hypothesis_vectors[part].to(self.device))
            texts += [self.vocab.decode(row) for row in codes.cpu().numpy()]
        return texts

    def accuracy(self, texts: list[str]) -> float:
        L = self.codes.shape[1]
        return float(np.mean([token_accuracy(r, h[:L]) for r, h in zip(self.references, self.vocab.tokenize(texts))]))

    @torch.no_grad()
    def __call__(self, model: ConditionalMDLM, schedule) -> dict:
        if not self.texts:
            return {}
        hyps = self.decode(model)
        out = {"eval_token_accuracy": self.accuracy(hyps),
               "eval_exact_match": float(np.mean([h.strip() == t.strip() for h, t in zip(hyps, self.texts)])),
               "eval_example": hyps[0]}
        if self.hypotheses is not None:
            out["eval_base_token_accuracy"] = self.accuracy([self.vocab.decode(r) for r in self.hypotheses.numpy()])
        out.update(self.masked_loss(model, schedule))
        if self.cfg.eval_cosine and not str(self.meta.get("encoder", "")).startswith("black-box:"):
            if self.encoder is None:
                from ..encoders import load_encoder_from
                self.encoder = load_encoder_from(self.meta)
            out["eval_cosine"] = float(cosine_rows(self.vectors, self.encoder.encode(hyps)).mean())
        return out

    def masked_loss(self, model: ConditionalMDLM, schedule) -> dict:
        """Mean CE and accuracy at masked positions (averaged per text), with the same masks at
        every evaluation. A model with a length head sees each length apart, as in training."""
        g = torch.Generator().manual_seed(1234)
        vectors = torch.from_numpy(self.vectors).to(self.device)
        if not model.config.length_head:
            groups = [(torch.arange(len(self.codes)), self.codes.shape[1])]
        else:
            lengths = (self.codes != PAD).sum(dim=1).cpu()
            groups = [((lengths == n).nonzero()[:, 0], int(n)) for n in lengths.unique()]
        totals = {"eval_ce": 0.0, "eval_masked_acc": 0.0, "eval_length_acc": 0.0}
        for rows, n in groups:
            extra = {} if self.hypotheses is None else {
                "hypothesis": self.hypotheses[rows].to(self.device),
                "hypothesis_vectors": self.hypothesis_vectors[rows].to(self.device)}
            parts = mdlm_loss(model, self.codes[rows, :n], vectors[rows], schedule, g, **extra)
            totals["eval_ce"] += float(parts["ce"]) * len(rows)
            totals["eval_masked_acc"] += float(parts["masked_acc"]) * len(rows)
            totals["eval_length_acc"] += float(parts.get("length_acc", 0.0)) * len(rows)
        return {k: v / len(self.codes) for k, v in totals.items()}


def _model_config(cfg: TrainConfig, base: ModelConfig, meta: dict, vocab: Vocabulary) -> ModelConfig:
    existing = find_checkpoint(Path(cfg.out)) if cfg.resume else None
    if existing is not None:  # a resumed run keeps the architecture it started with
        return from_dict(ModelConfig, json.loads((existing / "model" / "config.json").read_text()))
    # corrections data (`unembed corrections`) trains a corrector
    role = {"hypothesis": meta.get("kind") == "corrections", "feedback": base.feedback}
    if cfg.warm_start:        # a warm start keeps the architecture of the model it continues
        folder = resolve_checkpoint(cfg.warm_start)
        if not Vocabulary.load(folder).same_as(vocab):
            raise UnembedError(f"--warm-start {cfg.warm_start}: its vocabulary differs from {cfg.data}'s; "
                               f"prepare the data with its tokenizer.json and the same corpus, or train anew")
        return from_dict(ModelConfig, {**json.loads((folder / "config.json").read_text()), **role})
    recorded = {k: meta[k] for k in ENCODER_FIELDS if k in meta}
    return from_dict(ModelConfig, {**to_dict(base), "vocab_size": len(vocab), "max_len": meta["max_len"],
                                   "cond_dim": meta["dim"], **recorded, **role})


def warm_start_weights(model: ConditionalMDLM, name_or_path: str) -> None:
    """The weights of a trained model; a corrector started from an inverter keeps its own
    zero-initialised extras (segment, feedback), so it begins as that inverter."""
    source = ConditionalMDLM.from_pretrained(resolve_checkpoint(name_or_path)).state_dict()
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
    cache.atomic_write_bytes(path, "".join(k + "\n" for k in kept).encode())


def train(cfg: TrainConfig, model_cfg: ModelConfig | None = None) -> Path:
    """Train (or resume) a run; returns the run folder. Its last/model is the EMA model."""
    # 1. devices, threads, processes
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rank, world = dist.setup(device)
    if device.type == "cuda":
        device = torch.device("cuda", dist.local_rank())
        torch.cuda.set_device(device)
    run = Path(cfg.out)
    precision = resolve_precision(cfg.precision, device)  # a bad name stops here, before any file
    logger.info("matrix products in %s", precision)

    # 2. data
    meta = cache.read_meta(Path(cfg.data))
    vocab = Vocabulary.load(Path(cfg.data))
    examples = Examples.load(cfg.data, "train", vocab, cfg.kind_names())
    codes, vectors = examples.codes, examples.vectors                     # (N, L), (N, D)

    # 3. model, optimizer, EMA
    torch.manual_seed(cfg.seed)
    mcfg = _model_config(cfg, model_cfg or ModelConfig(), meta, vocab)
    lengths = examples.lengths                                    # (N,)
    batches = (LengthBuckets(lengths.numpy(), cfg.batch_tokens, cfg.seed, rank, world) if mcfg.length_head
               else Batches(len(codes), cfg.batch_size, cfg.seed, rank, world))
    model = ConditionalMDLM(mcfg).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.lr, betas=tuple(cfg.betas), fused=device.type in ("cuda", "cpu"))
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)  # masks and times
    schedule = get_schedule(cfg.schedule)
    step, best, spent = 0, -1.0, {"elapsed": 0.0, "cpu_seconds": 0.0}  # spent: by earlier invocations
    existing = find_checkpoint(run) if cfg.resume else None
    if cfg.warm_start and existing is None:
        warm_start_weights(model, cfg.warm_start)
        logger.info("weights from %s", cfg.warm_start)
    elif cfg.init_from and existing is None:
        from ..model.pretrained_init import init_from_bert
        init_from_bert(model, cfg.init_from, vocab)
    if cfg.lexical_init and existing is None and not cfg.warm_start and rank == 0:  # DDP copies rank 0's weights to all
        from ..model.lexical_init import init_lexical_prior
        init_lexical_prior(model, codes.numpy(), vectors.numpy())
    if existing is not None:
        state = load_checkpoint(existing, model, optimizer, generator)
        step, best = state["step"], state.get("best", -1.0)
        spent = {k: state.get(k, 0.0) for k in spent}
        batches.epoch, batches.position = state["epoch"], state["position"]
        logger.info("resumed %s at step %d", existing, step)
    ema = EMA(model, cfg.ema_decay)
    if existing is not None:
        ema.shadow = {k: v.float() for k, v in
                      ConditionalMDLM.from_pretrained(existing / "model").state_dict().items()}
    ddp_model = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
                 if world > 1 else model)
    eval_model = ConditionalMDLM(mcfg).to(device).eval()
    evaluator = Evaluator(cfg, vocab, meta, device) if rank == 0 else None

    def save_ema_model(folder: Path) -> None:
        ema.copy_to(eval_model)
        Inverter(eval_model, vocab).save_pretrained(folder)

    def checkpoint() -> None:
        if rank == 0:
            save_checkpoint(run, save_ema_model, model, optimizer,
                            {"step": step, "epoch": batches.epoch, "position": batches.position,
                             "best": best, "world": world, **clocks()}, generator)
        dist.barrier()

    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps(
            {"train": to_dict(cfg), "model": to_dict(mcfg), "data": meta, "world": world,
             "parameters": model.num_parameters(), "parameters_with_vocab": model.num_parameters(False)},
            indent=2))
        logger.info("model: %.2fM parameters (%.2fM without vocabulary), vocabulary %d",
                    model.num_parameters(False) / 1e6, model.num_parameters() / 1e6, len(vocab))
        if existing is not None:
            trim_log(run / "log.jsonl", step)
    log = open(run / "log.jsonl", "a") if rank == 0 else None

    # 4. the loop
    start, cpu_start, tokens, stop = time.time(), time.process_time(), 0, False

    def clocks() -> dict:
        """Wall and CPU seconds (all threads of this process) since the run began, across resumes."""
        return {"elapsed": spent["elapsed"] + time.time() - start,
                "cpu_seconds": spent["cpu_seconds"] + time.process_time() - cpu_start}
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", disable=rank != 0)
    try:
        while step < cfg.steps and not stop:
            #   a. batch and learning rate
            idx = torch.from_numpy(batches.next())
            width = int(lengths[idx].max()) if mcfg.length_head else codes.shape[1]  # one length per batch
            batch_codes, batch_vectors, extra = examples.batch(idx, width, device)
            lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            #   b. forward, backward, clip, update
            model.train()
            with autocast(device, precision):
                length_sample = None
                if mcfg.length_head:  # a random sample of all lengths for the length head
                    pick = torch.from_numpy(np.random.default_rng([cfg.seed, rank, step]).integers(
                        0, len(codes), cfg.length_sample))
                    length_sample = (vectors[pick].to(device), lengths[pick].to(device))
                parts = mdlm_loss(ddp_model, batch_codes, batch_vectors, schedule, generator,
                                  cfg.loss_weighting, cfg.lexical_weight, length_sample, **extra)
            optimizer.zero_grad(set_to_none=True)
            parts["loss"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            ema.update(model, step)
            step += 1
            tokens += int(lengths[idx].sum()) * world  # text tokens, padding not counted
            #   c. log, evaluate, save
            if rank == 0:
                bar.update(1)
                bar.set_postfix(loss=f"{parts['loss'].item():.3f}", acc=f"{parts['masked_acc'].item():.3f}")
                if step % 50 == 0 or step == 1:
                    log.write(json.dumps({"step": step, "lr": lr, "grad_norm": float(grad_norm),
                                          "tokens_per_s": tokens / (time.time() - start), **clocks(),
                                          **{k: float(v.detach()) for k, v in parts.items()}}) + "\n")
                    log.flush()
            stop = (cfg.time_budget > 0 and (time.time() - start) / 60 > cfg.time_budget) \
                or step == cfg.stop_at
            stop = dist.any_true(stop, device)
            if step % cfg.eval_every == 0 or step == cfg.steps or stop:
                if rank == 0:
                    ema.copy_to(eval_model)
                    result = {"step": step, **clocks(), **evaluator(eval_model, schedule)}
                    logger.info("eval %s", result)
                    log.write(json.dumps(result) + "\n")
                    log.flush()
                    if result.get("eval_token_accuracy", -1) > best:
                        best = result["eval_token_accuracy"]
                        tmp = run / ".best-tmp"
                        if tmp.exists():
                            shutil.rmtree(tmp)
                        save_ema_model(tmp)
                        replace_dir(tmp, run / "best")
                dist.barrier()
            if step % cfg.save_every == 0 or step == cfg.steps or stop:
                checkpoint()
    finally:  # an error (a full disk) is the last thing printed, after the bar
        bar.close()
        if log:
            log.close()
    dist.cleanup()
    return run
