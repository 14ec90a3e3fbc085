"""Maps from one embedding space into another, fitted on (source vector, target vector) pairs.

An inverter trained for encoder T can read encoder S's vectors once they are mapped into T's
space (ALGEN, Chen et al. 2025: a linear map from about 1k leaked pairs). The pairs are the same
texts embedded by both encoders: S's vectors as they leaked, T's made with T.

    amap = AlignMap.fit(source_vectors, target_vectors, method="lstsq")
    amap.save_pretrained("maps/e5-to-minilm"); AlignMap.from_pretrained(...)(new_source_vectors)  # -> unit vectors

Methods: `lstsq` (ridge least squares with a bias), `procrustes` (an orthogonal map after
centring and scaling: few parameters, so it needs fewer pairs) and `mlp` (the least-squares
map plus one GELU layer trained on cosine, for what does not map linearly, given enough pairs).
A map is a folder: config.json + map.safetensors.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..files import atomic, formats
from .config import AlignConfig
from ..errors import UnembedError
from ..vectors.geometry import unit_rows

METHODS = AlignConfig.METHODS
CONFIG_FILE, WEIGHTS_FILE = "config.json", "map.safetensors"


class AlignMap:
    """`amap(x)` maps (N, source_dim) vectors to unit (N, target_dim) vectors."""

    def __init__(self, method: str, tensors: dict[str, torch.Tensor], info: dict | None = None):
        self.method, self.tensors, self.info = method, tensors, dict(info or {})

    @property
    def source_dim(self) -> int:
        return int(self.tensors["source_mean"].shape[0])

    @property
    def target_dim(self) -> int:
        return int(self.tensors["target_mean"].shape[0])

    # --- fitting ------------------------------------------------------------------------
    @classmethod
    def fit(cls, source: np.ndarray, target: np.ndarray, cfg: AlignConfig | None = None,
            show_progress: bool = False, info: dict | None = None) -> "AlignMap":
        """`info`: what to record with the map (the encoders, a held-out score)."""
        cfg = (cfg or AlignConfig()).validate()
        if len(source) != len(target):
            raise UnembedError(f"{len(source)} source vectors but {len(target)} target vectors: "
                               "give the same texts embedded by both encoders")
        if len(source) < 2:
            raise UnembedError("alignment needs at least 2 (source, target) pairs")
        x = torch.as_tensor(np.asarray(source), dtype=torch.float64)
        y = torch.as_tensor(np.asarray(target), dtype=torch.float64)
        if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            raise UnembedError("alignment pairs contain NaN or infinity; remove or recompute them")
        tensors = {"source_mean": x.mean(0), "target_mean": y.mean(0)}
        xc, yc = x - tensors["source_mean"], y - tensors["target_mean"]
        if cfg.method in ("lstsq", "mlp"):
            # ridge on centred data, so the bias (the means) is not shrunk
            penalty = cfg.ridge * float((xc ** 2).sum(1).mean())
            gram = xc.T @ xc + penalty * torch.eye(x.shape[1], dtype=x.dtype)
            tensors["weight"] = torch.linalg.solve(gram, xc.T @ yc)                 # (S, T)
            if cfg.method == "mlp":
                linear = (xc @ tensors["weight"] + tensors["target_mean"]).float()
                tensors.update(_fit_mlp(xc.float(), linear, y.float(), cfg, show_progress))
        elif cfg.method == "procrustes":
            # W = U V^T maximises tr(W^T X^T Y) over (semi-)orthogonal W; a scale fits the norms
            u, _, vt = torch.linalg.svd(xc.T @ yc, full_matrices=False)
            weight = u @ vt                                                         # (S, T)
            scale = float((xc @ weight * yc).sum() / (xc ** 2).sum().clamp_min(1e-12))
            tensors["weight"] = weight * scale
        info = {"pairs": len(source), **(info or {})}
        return cls(cfg.method, {k: v.float().contiguous() for k, v in tensors.items()}, info)

    # --- use ----------------------------------------------------------------------------
    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if x.ndim != 2 or x.shape[1] != self.source_dim:
            raise UnembedError(f"the alignment map takes {self.source_dim}-d vectors, got shape "
                               f"{tuple(x.shape)}; fit a map for this encoder with `unembed align`")
        t = self.tensors
        xc = x - t["source_mean"]
        out = xc @ t["weight"] + t["target_mean"]
        if self.method == "mlp":
            out = out + _residual(xc, t["w1"], t["b1"], t["w2"], t["b2"])
        return unit_rows(out.numpy())

    # --- folder -------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file
        with atomic.folder(folder) as tmp:
            save_file(self.tensors, str(tmp / WEIGHTS_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(
                {**formats.header("align-map"), "method": self.method, "source_dim": self.source_dim, "target_dim": self.target_dim,
                 **self.info}, indent=2) + "\n")
        return Path(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "AlignMap":
        from safetensors.torch import load_file
        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
            raise UnembedError(f"{folder} is not an alignment map (config.json and map.safetensors); "
                               "make one with `unembed align`")
        try:
            info = json.loads((folder / CONFIG_FILE).read_text())
            tensors = load_file(str(folder / WEIGHTS_FILE))
        except Exception as exc:  # damaged JSON or safetensors
            raise UnembedError(f"{folder}: unreadable alignment map ({type(exc).__name__})") from None
        formats.check(info, "align-map", folder)
        for key in ("type", "format"):
            info.pop(key, None)
        method = info.pop("method", None)
        needed = {"weight", "w1", "b1", "w2", "b2"} if method == "mlp" else {"weight"}
        if method not in METHODS or not needed | {"source_mean", "target_mean"} <= tensors.keys():
            raise UnembedError(f"{folder}: not a known alignment map (method {method!r})")
        for key in ("source_dim", "target_dim"):
            info.pop(key, None)
        return cls(method, tensors, info)


def _residual(xc, w1, b1, w2, b2) -> torch.Tensor:
    return torch.nn.functional.gelu(xc @ w1 + b1) @ w2 + b2


def _fit_mlp(xc: torch.Tensor, linear: torch.Tensor, y: torch.Tensor, cfg: AlignConfig,
             show_progress: bool) -> dict:
    """A GELU layer added to the least-squares map (`linear`, (N, T)), trained on 1 - cosine
    in batches of `cfg.batch` pairs: it starts as the linear map and learns only what is not linear."""
    g = torch.Generator().manual_seed(cfg.seed)
    S, T = xc.shape[1], y.shape[1]
    w1 = torch.nn.Parameter(torch.randn(S, cfg.hidden, generator=g)
                              / xc.norm(dim=1).mean().clamp_min(1e-6))  # pre-activations ~ N(0, 1)
    b1 = torch.nn.Parameter(torch.zeros(cfg.hidden))
    w2 = torch.nn.Parameter(torch.zeros(cfg.hidden, T))   # zero: the fit starts at the linear map
    b2 = torch.nn.Parameter(torch.zeros(T))
    optimizer = torch.optim.AdamW([w1, b1, w2, b2], lr=cfg.lr, weight_decay=0.01)
    for _ in tqdm(range(cfg.steps), desc="fit mlp map", unit="step", disable=not show_progress):
        rows = (torch.randint(0, len(xc), (cfg.batch,), generator=g) if len(xc) > cfg.batch
                else slice(None))
        pred = linear[rows] + _residual(xc[rows], w1, b1, w2, b2)
        loss = 1 - torch.nn.functional.cosine_similarity(pred, y[rows], dim=-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return {"w1": w1.detach(), "b1": b1.detach(), "w2": w2.detach(), "b2": b2.detach()}


__all__ = ["AlignConfig", "AlignMap", "METHODS"]
