"""The projected first-order loop that PGD, MIM and their variants share.

One step, for every sample at once::

    (J, logits), g = value_and_grad(J)(x_t)          # logits say whether x_t fools the model
    d, state       = direction(g, state)             # sign(g), g/||g||_2, momentum, ...
    x_{t+1}        = clip_[lo, hi]( x + Π_{B_p(0, ε)}( x_t + α · d - x ) )

The first iterate that fools the model is kept per sample (``best``); samples never
fooled return the last iterate. Batch shapes never change (JAX-friendly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparring.core.protocols import Array, Model

from ._lp import bcast, clip_to_range, project_ball
from ._objective import objective
from ._result import is_adversarial

__all__ = ["Direction", "projected_loop"]

Direction = Callable[[Array, Any], tuple[Array, Any]]
"""``(grad, state) -> (step direction, new state)``."""


def projected_loop(
    model: Model,
    x: Array,
    y: Array,
    x_start: Array,
    *,
    eps: Array,
    alpha: Array,
    steps: int,
    norm: str,
    loss: str,
    targeted: bool,
    direction: Direction,
    state: Any = None,
    callback: Callable[[int, Array], None] | None = None,
) -> Array:
    """Run ``steps`` projected steps from ``x_start``; return the kept iterate per sample.

    ``eps`` is ``(B,)``; ``alpha`` broadcasts against ``x``. Call inside ``evaluating``.
    """
    be = model.backend
    xp = be.xp
    fn = objective(model, y, loss, targeted)
    x_adv = x_start
    found = xp.zeros(x.shape[:1], dtype=xp.bool, device=getattr(x, "device", None))
    best = x_adv
    for t in range(1, steps + 1):
        (_, logits), grad = be.value_and_grad(fn, x_adv, has_aux=True)
        newly = is_adversarial(xp, logits, y, targeted) & ~found
        best = xp.where(bcast(xp, newly, x), x_adv, best)
        found = found | newly
        d, state = direction(grad, state)
        x_adv = clip_to_range(xp, x + project_ball(xp, x_adv + alpha * d - x, eps, norm), model.value_range)
        if callback is not None:
            callback(t, x_adv)
    return xp.where(bcast(xp, found, x), best, x_adv)
