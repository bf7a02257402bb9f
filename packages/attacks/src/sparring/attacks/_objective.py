"""The scalar objective every gradient attack ascends.

``J(x) = s * sum_i L(f(x)_i, y_i)`` with ``s = +1`` (untargeted: move away from y) or
``s = -1`` (targeted: move towards the target y). The sum over the batch makes each
sample's gradient independent of the batch size. Returns the logits as auxiliary
output so the attack learns which iterates already fool the model at no extra cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparring.core.protocols import Array, Model

from ._losses import get_loss

__all__ = ["objective"]


def objective(model: Model, loss: str, targeted: bool) -> Callable[[Array, Array], tuple[Any, Array]]:
    """``(x, y) -> (J(x), logits)`` for :meth:`Backend.value_and_grad` with ``has_aux=True``."""
    xp = model.backend.xp
    per_sample = get_loss(loss)
    sign = -1.0 if targeted else 1.0

    def fn(x: Array, y: Array) -> tuple[Any, Array]:
        logits = model(x)
        return sign * xp.sum(per_sample(xp, logits, y)), logits

    return fn
