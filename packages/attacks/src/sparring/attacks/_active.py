"""The rows of a batch still being worked on.

On backends with cheap dynamic shapes (torch) an iterative attack computes on the
unfinished samples only and scatters the results back; elsewhere (jax) it keeps the
full batch and holds finished samples in place with ``where``. Either way the loop
ends once every sample is finished. Attack code is the same for both: ``take`` what
it needs, compute, ``put`` it back.
"""

from __future__ import annotations

from typing import Any

from sparring.core.protocols import Array, Backend

__all__ = ["ActiveSet"]


class ActiveSet:
    """The samples where ``done`` is False (all samples when the backend keeps shapes)."""

    def __init__(self, be: Backend, done: Array) -> None:
        self._be = be
        self._done = done
        self.compact = be.dynamic_shapes
        self.index = be.xp.nonzero(~done)[0] if self.compact else None

    def empty(self) -> bool:
        """No sample left: the loop can end (one host sync on fixed-shape backends)."""
        if self.compact:
            return self.index.shape[0] == 0
        return not bool(self._be.xp.any(~self._done))

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
        return self._be.put(full, self.index, part)
