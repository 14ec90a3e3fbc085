"""Which texts go into each training step. Both orders are a pure function of (seed, epoch),
so the cursor (epoch, position) fully determines what comes next and resume is exact.
Under torchrun each rank takes every world-th batch."""
from __future__ import annotations

import numpy as np

from ..errors import UnembedError


class Batches:
    """Fixed-size batches of a random permutation (texts padded to max_len)."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n < batch_size * world:
            raise UnembedError(f"{n} training texts cannot fill a batch of {batch_size} "
                               f"on {world} process(es); lower --batch-size")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.epoch, self.position = 0, 0
        self._order: tuple[int, list[np.ndarray]] | None = None

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        n_batches = self.n // (self.batch_size * self.world) * self.world
        return [perm[i * self.batch_size:(i + 1) * self.batch_size] for i in range(n_batches)]

    def next(self) -> np.ndarray:
        if self._order is None or self._order[0] != self.epoch:
            self._order = (self.epoch, self.epoch_batches(self.epoch)[self.rank::self.world])
        mine = self._order[1]
        if self.position >= len(mine):
            self.epoch, self.position = self.epoch + 1, 0
            return self.next()
        self.position += 1
        return mine[self.position - 1]


class LengthBuckets(Batches):
    """Batches of texts of one length, about `batch_tokens` tokens each, in random order:
    no padding, so no compute on it (most texts are far shorter than max_len)."""

    def __init__(self, lengths: np.ndarray, batch_tokens: int, seed: int, rank: int = 0, world: int = 1):
        self.lengths = np.asarray(lengths)
        self.batch_tokens = batch_tokens
        super().__init__(len(self.lengths), 1, seed, rank, world)
        if int(self.lengths.sum()) < batch_tokens * world:
            raise UnembedError(f"{len(self.lengths)} training texts cannot fill a batch of "
                               f"{batch_tokens} tokens on {world} process(es); lower --batch-tokens")

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        batches = []
        for length in np.unique(self.lengths):
            members = rng.permutation(np.flatnonzero(self.lengths == length))
            size = max(1, self.batch_tokens // int(length))
            batches += [members[i:i + size] for i in range(0, len(members), size)]
        order = rng.permutation(len(batches))
        n_batches = len(batches) // self.world * self.world
        return [batches[i] for i in order[:n_batches]]


__all__ = ["Batches", "LengthBuckets"]
