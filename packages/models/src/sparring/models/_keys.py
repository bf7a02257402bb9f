"""Integer seeds derived from integer seeds, for backends without functional keys.

Splitting uses numpy's ``SeedSequence`` (a well-mixed hash), so children of one seed
are independent of each other and of other seeds' children.
"""

from __future__ import annotations

import numpy as np

__all__ = ["spawn_seeds"]


def spawn_seeds(seed: int, num: int) -> tuple[int, ...]:
    """``num`` 63-bit seeds derived deterministically from ``seed``."""
    children = np.random.SeedSequence(int(seed) & (2**128 - 1)).spawn(num)
    return tuple(int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children)
