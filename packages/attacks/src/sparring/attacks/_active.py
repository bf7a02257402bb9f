"""The rows of a batch still being worked on.

An iterative attack computes on the unfinished samples only and scatters the results
back; the loop ends once every sample is finished. Attack code is the same for every
backend: ``take`` what it needs, compute, ``put`` it back.

On backends with cheap dynamic shapes (torch) the rows taken are exactly the unfinished
ones. On fixed-shape backends (jax), where every new shape is a new compilation, the
batch shrinks through a few sizes only, ``ceil(B / 2^k)`` (at least :data:`MIN_ROWS`):
the unfinished rows, padded with copies of the first of them up to the smallest such
size that holds them; the copies' results are dropped by ``put`` (their index is out of
range). While more than half the batch is running, the full batch is used and finished
rows are held in place by the attack with ``where``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sparring.core.protocols import Array, Backend

__all__ = ["ActiveSet", "MIN_ROWS", "bucket_size"]

MIN_ROWS = 8
"""Fixed-shape backends never shrink a batch below this many rows (fewer compilations)."""


def bucket_size(active: int, batch: int) -> int:
    """The rows a fixed-shape backend computes on when ``active`` of ``batch`` are running:
    the smallest ``ceil(batch / 2^k)`` that holds them, at least ``MIN_ROWS`` (``batch`` at most)."""
    size = batch
    while active <= math.ceil(size / 2) and math.ceil(size / 2) >= MIN_ROWS:
        size = math.ceil(size / 2)
    return size


class ActiveSet:
    """The samples where ``done`` is False."""

    def __init__(self, be: Backend, done: Array | None) -> None:
        """``done=None``: every row, with no host sync (loops where no sample finishes)."""
        self._be = be
        self._put_index = None
        if done is None:
            self.index, self._left, self.compact = None, 1, False
            return
        if be.dynamic_shapes:
            self.index = be.xp.nonzero(~done)[0]
            self._left = None
            self.compact = True
            return
        left = np.flatnonzero(~be.to_numpy(done))  # one host sync per selection
        batch = int(done.shape[0])
        self._left = int(left.size)
        size = bucket_size(self._left, batch) if self._left else batch
        self.compact = size < batch
        self.index = None
        if self.compact:
            pad = size - self._left
            self.index = be.asarray(np.concatenate([left, np.full(pad, left[0])]))
            self._put_index = be.asarray(np.concatenate([left, np.full(pad, batch)]))  # out of range: dropped

    def empty(self) -> bool:
        """No sample left: the loop can end."""
        if self._left is not None:
            return self._left == 0
        return self.index.shape[0] == 0

    def take(self, full: Any) -> Any:
        """The active rows of ``full`` (None stays None)."""
        if full is None or not self.compact:
            return full
        return self._be.xp.take(full, self.index, axis=0)

    def put(self, full: Any, part: Any) -> Any:
        """``full`` with its active rows replaced by ``part`` (the first call may pass
        ``full=None`` when every sample is active: ``part`` is then the whole batch)."""
        if not self.compact or full is None:
            return part
        index = self.index if self._put_index is None else self._put_index
        return self._be.put(full, index, part)
