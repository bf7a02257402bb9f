"""Projected steepest ascent of any batch objective: the inner maximisation of robust training.

For every sample, all ``steps`` steps (no early stop)::

    x_0     = x_start (default x)
    x_{k+1} = clip_[lo, hi]( x + Π_{B_p(0, ε)}( x_k + α · dir_p(∇_x J(x_k)) - x ) )

``J(x) = objective(x, target)`` is a sum over samples (so a sample's step does not
depend on the rest of the batch). PGD-AT, TRADES, MART and the class-targeted copies
of the kasl thesis's Algorithm 1 are this loop with different objectives; it is the
same loop as :func:`sparring.attacks.pgd.pgd` (``early_stop=False``), run in eval mode
so the attack neither updates BatchNorm statistics nor draws dropout masks.
"""

from __future__ import annotations

from typing import Any

from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model

from ._checks import check_positive_int, per_sample
from ._loop import Objective, projected_loop
from ._lp import check_norm, steepest_direction

__all__ = ["maximize"]


def maximize(
    model: Model,
    x: Array,
    target: Array,
    objective: Objective,
    *,
    eps: Any,
    steps: int,
    step_size: Any,
    norm: str = "linf",
    x_start: Array | None = None,
) -> Array:
    """``steps`` projected ascent steps of ``objective(x, target) -> (J, logits)``.

    ``x`` and ``x_start`` are backend arrays ``(B, ...)`` in the model's value range;
    ``target`` is whatever the objective reads per sample (labels, clean probabilities,
    ...); ``eps`` and ``step_size`` scalars or ``(B,)``. Returns the last iterate,
    detached from any graph.
    """
    check_norm(norm, ("linf", "l2"))
    check_positive_int(steps, "steps")
    be = model.backend
    xp = be.xp
    x = be.stop_gradient(x)
    eps_b = per_sample(model, eps, x, name="eps")
    alpha = per_sample(model, step_size, x, name="step_size")
    start = x if x_start is None else be.stop_gradient(x_start)
    with evaluating(model):
        x_out, _ = projected_loop(
            model, x, target, start, eps=eps_b, alpha=alpha, steps=steps, norm=norm, loss=objective,
            targeted=False, direction=lambda g, s, x_t: (steepest_direction(xp, g, norm), s), early_stop=False,
        )
    return be.stop_gradient(x_out)
