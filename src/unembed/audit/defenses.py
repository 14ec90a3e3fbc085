"""Defenses a vector store can apply to its embeddings, and what each leaves an attacker.

A defense maps the clean vectors (N, D) to what the store keeps:

    stored = defense.store(documents, rng)   # what leaks
    search = defense.query(queries)          # how queries are mapped before the search
    seen   = defense.attacker_view(stored)   # (N, D): what an attacker who knows the mechanism,
                                             # but no secret, gives an inverter of the clean space

Search ranks documents by cosine between `query(q)` and `stored`. Noise is added to stored
documents only; the deterministic parts (quantisation, truncation, rotation) apply to both.
Written as a spec: `noise:0.01`, `int8`, `binary`, `truncate:128`, `pca:64`, `rotation[:KEY]`,
and several joined by `+` (applied left to right), e.g. `rotation+noise:0.01`.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnembedError
from ..vectors.geometry import unit_rows




class Defense:
    spec = "none"

    def unfit(self, vectors: np.ndarray) -> str | None:
        """Why this defense cannot apply to this collection (too few vectors), or None."""
        return None

    def fit(self, vectors: np.ndarray) -> "Defense":
        """Learn what the defense needs from the collection (PCA's basis, int8's ranges)."""
        return self

    def store(self, vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.query(vectors)

    def query(self, vectors: np.ndarray) -> np.ndarray:
        return vectors

    def attacker_view(self, stored: np.ndarray) -> np.ndarray:
        return stored


class GaussianNoise(Defense):
    """Adds N(0, sigma^2) to every coordinate of stored documents (vec2text's defense)."""

    def __init__(self, sigma: float):
        if not sigma >= 0:
            raise UnembedError(f"noise: sigma must be 0 or more, got {sigma}")
        self.sigma, self.spec = sigma, f"noise:{sigma:g}"

    def store(self, vectors, rng):
        return vectors + rng.normal(0.0, self.sigma, vectors.shape).astype(vectors.dtype)


class Int8(Defense):
    """Scalar quantisation to 256 levels per dimension between the collection's minimum and
    maximum (as vector stores and sentence-transformers' `quantize_embeddings` do). Values
    are kept dequantised: every stored coordinate is one of the 256 levels."""
    spec = "int8"

    def fit(self, vectors):
        self.low = vectors.min(axis=0)
        self.step = np.maximum(vectors.max(axis=0) - self.low, 1e-12) / 255
        return self

    def codes(self, vectors: np.ndarray) -> np.ndarray:
        """(N, D) uint8: what the store holds."""
        return np.clip(np.rint((vectors - self.low) / self.step), 0, 255).astype(np.uint8)

    def query(self, vectors):
        return (self.codes(vectors) * self.step + self.low).astype(np.float32)


class Binary(Defense):
    """One bit per dimension (the sign), as a unit vector: cosine search is Hamming search."""
    spec = "binary"

    def query(self, vectors):
        signs = np.where(vectors >= 0, 1.0, -1.0).astype(np.float32)
        return signs / np.sqrt(vectors.shape[1])


class Truncate(Defense):
    """Matryoshka: keep the first k dimensions, renormalised. The attacker pads with zeros."""

    def __init__(self, k: int):
        self.k, self.spec = k, f"truncate:{k}"

    def fit(self, vectors):
        if not 1 <= self.k <= vectors.shape[1]:
            raise UnembedError(f"{self.spec}: k must be between 1 and the dimension {vectors.shape[1]}")
        self.dim = vectors.shape[1]
        return self

    def query(self, vectors):
        return unit_rows(vectors[:, :self.k])

    def attacker_view(self, stored):
        return unit_rows(np.pad(stored, ((0, 0), (0, self.dim - stored.shape[1]))))


class PCA(Defense):
    """Keep the coordinates on the collection's top-k principal directions. The basis is not
    treated as a secret: the attacker maps stored coordinates back with it (a worst case for
    the defender, and close to what one gets by fitting a PCA on similar public text)."""

    def __init__(self, k: int):
        self.k, self.spec = k, f"pca:{k}"

    def unfit(self, vectors):
        if not 1 <= self.k <= min(vectors.shape):
            return (f"k must be between 1 and {min(vectors.shape)}: no more than the collection's "
                    f"{vectors.shape[0]} vectors and {vectors.shape[1]} dimensions")
        return None

    def fit(self, vectors):
        if self.unfit(vectors):
            raise UnembedError(f"{self.spec}: {self.unfit(vectors)}")
        self.mean = vectors.mean(axis=0)
        _, _, vt = np.linalg.svd((vectors - self.mean).astype(np.float64), full_matrices=False)
        self.basis = vt[:self.k].T.astype(np.float32)                      # (D, k)
        return self

    def query(self, vectors):
        return (vectors - self.mean) @ self.basis

    def attacker_view(self, stored):
        return stored @ self.basis.T + self.mean


class Rotation(Defense):
    """A random orthogonal matrix drawn from a secret key: inner products, hence search, are
    unchanged, and an attacker without the key sees vectors in a scrambled space."""

    def __init__(self, key: int = 0):
        self.key, self.spec = key, f"rotation:{key}"

    def fit(self, vectors):
        self.matrix = random_orthogonal(vectors.shape[1], self.key)
        return self

    def query(self, vectors):
        return vectors @ self.matrix


def random_orthogonal(dim: int, key: int) -> np.ndarray:
    """A Haar-random orthogonal (dim, dim) matrix determined by `key`."""
    q, r = np.linalg.qr(np.random.default_rng([7, key]).standard_normal((dim, dim)))
    return (q * np.sign(np.diag(r))).astype(np.float32)  # the sign fix makes it Haar-distributed


class Chain(Defense):
    """Defenses applied left to right; the attacker undoes them right to left."""

    def __init__(self, parts: list[Defense]):
        self.parts, self.spec = parts, "+".join(p.spec for p in parts)

    def unfit(self, vectors):
        for part in self.parts:
            reason = part.unfit(vectors)
            if reason:
                return f"{part.spec}: {reason}"
            vectors = part.fit(vectors).query(vectors)
        return None

    def fit(self, vectors):
        for part in self.parts:
            vectors = part.fit(vectors).query(vectors)
        return self

    def store(self, vectors, rng):
        for part in self.parts:
            vectors = part.store(vectors, rng)
        return vectors

    def query(self, vectors):
        for part in self.parts:
            vectors = part.query(vectors)
        return vectors

    def attacker_view(self, stored):
        for part in reversed(self.parts):
            stored = part.attacker_view(stored)
        return stored


def _number(text: str, kind, spec: str):
    try:
        return kind(text)
    except ValueError:
        raise UnembedError(f"defense {spec!r}: {text!r} is not a number") from None


def parse_defense(spec: str) -> Defense:
    """'noise:0.01', 'int8', 'binary', 'truncate:K', 'pca:K', 'rotation[:KEY]', 'none',
    or several joined by '+'."""
    parts = []
    for part in spec.strip().split("+"):
        name, _, arg = part.strip().partition(":")
        if name == "none" and not arg:
            parts.append(Defense())
        elif name == "noise" and arg:
            parts.append(GaussianNoise(_number(arg, float, spec)))
        elif name in ("int8", "binary") and not arg:
            parts.append(Int8() if name == "int8" else Binary())
        elif name in ("truncate", "pca") and arg:
            parts.append((Truncate if name == "truncate" else PCA)(_number(arg, int, spec)))
        elif name == "rotation":
            parts.append(Rotation(_number(arg, int, spec) if arg else 0))
        else:
            raise UnembedError(f"unknown defense {part.strip()!r} in {spec!r}; use none, noise:SIGMA, "
                               "int8, binary, truncate:K, pca:K or rotation[:KEY], joined by '+'")
    return parts[0] if len(parts) == 1 else Chain(parts)


def parse_defenses(specs: str) -> list[Defense]:
    """A comma-separated list of defense specs; 'none' (the undefended store) always first."""
    defenses = [parse_defense(s) for s in specs.split(",") if s.strip()]
    if not any(d.spec == "none" for d in defenses):
        defenses.insert(0, Defense())
    specs_seen = [d.spec for d in defenses]
    if len(set(specs_seen)) < len(specs_seen):
        raise UnembedError(f"a defense is listed twice in {specs!r}")
    return defenses


__all__ = ["Defense", "GaussianNoise", "Int8", "Binary", "Truncate", "PCA", "Rotation", "Chain",
           "random_orthogonal", "parse_defense", "parse_defenses"]
