"""Script gate: which writing systems a vector's text is in, read from the vector.

A decoder given a vector it cannot read (text unlike anything it trained on) falls back on what
it wrote most in training, and a multilingual one then answers a Chinese vector in Devanagari.
Which scripts a text uses is far easier to read from its vector than the text itself: one
logistic unit per script does it, where the bag-of-tokens prior cannot (it gives Devanagari
about the same mass on Hindi and on Chinese vectors). Decoding then never writes a piece with a
letter of a script the gate puts below `--script-gate` (DecodeConfig, default THRESHOLD); pieces without letters,
and scripts the gate was not fitted for, are never held back.

A gate is a folder inside its model folder, `script_gate/`: config.json + gate.safetensors,
fitted by `unembed script-gate` on the model's prepared folders (Matryoshka models: on random
cuts of their vectors, as they were trained).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..files import atomic, formats
from .config import ScriptGateConfig
from ..errors import UnembedError
from ..vectors.matryoshka import cut_at_random, matryoshka_cut, pad_prefixes, parse_widths
from ..text.vocabulary import Vocabulary, script_of

GATE_DIR = "script_gate"   # its place in a model folder
THRESHOLD = 0.05           # the default --script-gate: scripts below this probability are not written
CONFIG_FILE, WEIGHTS_FILE = "config.json", "gate.safetensors"


def text_scripts(text: str) -> set[str]:
    """The scripts of a text's letters ('Latin', 'Han', ...)."""
    return {script_of(ch) for ch in text if ch.isalpha()} - {"Other"}


class ScriptGate:
    """`gate.probabilities(vectors)`: (B, S) the chance each of `scripts` is in each vector's text."""

    def __init__(self, scripts: list[str], weight: torch.Tensor, bias: torch.Tensor, info: dict | None = None):
        self.scripts, self.weight, self.bias, self.info = list(scripts), weight, bias, dict(info or {})

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def probabilities(self, vectors: torch.Tensor) -> torch.Tensor:
        # unit vectors scaled to unit-size components: one learning rate suits every width
        x = F.normalize(vectors.float(), dim=-1) * math.sqrt(self.dim)
        return torch.sigmoid(x @ self.weight.to(x.device).T + self.bias.to(x.device))

    def piece_scripts(self, vocab: Vocabulary) -> torch.Tensor:
        """(S, V) bool: whether model code v's piece has a letter of script s."""
        index = {s: i for i, s in enumerate(self.scripts)}
        table = torch.zeros(len(self.scripts), len(vocab), dtype=torch.bool)
        for code, piece in enumerate(vocab.pieces(range(len(vocab)))):
            for script in text_scripts(piece):
                if script in index:
                    table[index[script], code] = True
        return table

    def blocked(self, vectors: torch.Tensor, pieces: torch.Tensor, threshold: float) -> torch.Tensor | None:
        """(B, V) bool: the pieces each row may not write, from `pieces` (S, V); None when none."""
        if threshold <= 0:
            return None
        off = self.probabilities(vectors) < threshold                      # (B, S)
        if not off.any():
            return None
        return (off.float() @ pieces.to(off.device).float()) > 0

    # --- fitting ------------------------------------------------------------------------
    @classmethod
    def fit(cls, vectors: np.ndarray, texts: list[str], cfg: ScriptGateConfig, widths: tuple[int, ...] = (),
            show_progress: bool = False, info: dict | None = None) -> "ScriptGate":
        """Fit on (N, D) vectors and their texts; the scripts of at least cfg.min_texts texts
        get a unit. With `widths`, each batch's vectors are cut as Matryoshka training cuts
        them. A share cfg.heldout of the rows is kept out and reported on (info["heldout"])."""
        cfg.validate()
        found = [text_scripts(t) for t in texts]
        counts: dict[str, int] = {}
        for scripts in found:
            for s in scripts:
                counts[s] = counts.get(s, 0) + 1
        scripts = sorted(s for s, n in counts.items() if n >= cfg.min_texts)
        if len(scripts) < 2:
            raise UnembedError(f"the texts are in {', '.join(scripts) or 'no script'} alone (scripts with at least "
                               f"{cfg.min_texts} texts): a script gate needs two or more to tell apart")
        labels = torch.tensor([[s in f for s in scripts] for f in found], dtype=torch.float32)
        x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        g = torch.Generator().manual_seed(cfg.seed)
        order = torch.randperm(len(x), generator=g)
        n_held = int(len(x) * cfg.heldout)
        held, fit_rows = order[:n_held], order[n_held:]
        rate = labels[fit_rows].mean(0).clamp(1e-4, 1 - 1e-4)
        weight = torch.nn.Parameter(torch.zeros(len(scripts), x.shape[1]))
        bias = torch.nn.Parameter(torch.log(rate / (1 - rate)))           # starts at each script's base rate
        optimizer = torch.optim.Adam([weight, bias], lr=cfg.lr)
        scale = math.sqrt(x.shape[1])
        for _ in tqdm(range(cfg.steps), desc="fit script gate", unit="step", disable=not show_progress):
            rows = fit_rows[torch.randint(len(fit_rows), (min(cfg.batch, len(fit_rows)),), generator=g)]
            inputs = F.normalize(cut_at_random(x[rows], widths, g), dim=-1) * scale
            loss = F.binary_cross_entropy_with_logits(inputs @ weight.T + bias, labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        gate = cls(scripts, weight.detach().clone(), bias.detach().clone(),
                   {"texts": {s: counts[s] for s in scripts}, **(info or {})})
        if n_held:
            gate.info["heldout"] = gate.report(x[held].numpy(), labels[held].bool(), widths)
        return gate

    def report(self, vectors: np.ndarray, labels: torch.Tensor, widths: tuple[int, ...]) -> dict:
        """Per width, at the default threshold: `missed`, the share of texts with a script of
        theirs held back (what the gate can cost), and `held_back`, the share of the absent
        scripts that are held back (what it does)."""
        threshold = THRESHOLD
        out = {"threshold": threshold, "texts": len(vectors)}
        for width in widths + (vectors.shape[1],):
            cut = pad_prefixes(matryoshka_cut(vectors, width), vectors.shape[1], widths)   # as the model reads it
            off = self.probabilities(torch.from_numpy(cut)) < threshold
            out[str(width)] = {"missed": round(float((off & labels).any(1).float().mean()), 4),
                               "held_back": round(float(off[~labels].float().mean()), 4)}
        return out

    # --- folder -------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file
        with atomic.folder(folder) as tmp:
            save_file({"weight": self.weight.contiguous(), "bias": self.bias.contiguous()}, str(tmp / WEIGHTS_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(
                {**formats.header("script-gate"), "scripts": self.scripts, "dim": self.dim, **self.info},
                indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return Path(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ScriptGate":
        from safetensors.torch import load_file
        folder = Path(folder)
        try:
            info = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / WEIGHTS_FILE))
        except Exception as exc:  # missing, damaged JSON or safetensors
            raise UnembedError(f"{folder}: unreadable script gate ({type(exc).__name__}); fit it again "
                               "with `unembed script-gate` or delete the folder") from None
        formats.check(info, "script-gate", folder)
        scripts = info.pop("scripts", None)
        weight, bias = tensors.get("weight"), tensors.get("bias")
        if (not isinstance(scripts, list) or weight is None or bias is None
                or tuple(weight.shape) != (len(scripts), info.get("dim")) or tuple(bias.shape) != (len(scripts),)):
            raise UnembedError(f"{folder}: not a script gate (its scripts and weights disagree)")
        for key in ("type", "format", "dim"):
            info.pop(key, None)
        return cls(scripts, weight.float(), bias.float(), info)


def fit_for_model(inverter, folders: list[str], cfg: ScriptGateConfig, show_progress: bool = False) -> ScriptGate:
    """A gate for `inverter`, fitted on the train splits of prepared `folders` of its encoder."""
    from ..data.cache import load_split, read_meta   # data/ loads models (inverter.py), which load gates
    config = inverter.model.config
    vectors, texts = [], []
    for folder in map(Path, folders):
        meta = read_meta(folder)
        if meta["dim"] != config.cond_dim or (config.encoder and meta.get("encoder") != config.encoder):
            raise UnembedError(f"{folder} holds {meta['dim']}-d vectors of {meta.get('encoder')!r}, but the model "
                               f"reads {config.cond_dim}-d vectors of {config.encoder!r}: give its own prepared folders")
        vectors.append(load_split(folder, "train")[1])
        texts += (folder / "train.txt").read_text(encoding="utf-8").splitlines()
    vectors = np.concatenate(vectors)
    if len(texts) != len(vectors):
        raise UnembedError(f"{', '.join(folders)}: train.txt and the vectors disagree; prepare the folder again")
    return ScriptGate.fit(vectors, texts, cfg, parse_widths(config.matryoshka), show_progress,
                          info={"data": [str(f) for f in folders]})


__all__ = ["GATE_DIR", "ScriptGate", "fit_for_model", "text_scripts"]
