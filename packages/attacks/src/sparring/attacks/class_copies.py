"""Class-targeted copies: the inner loop of the kasl thesis's Algorithm 1.

Every sample ``x_i`` is copied once per class ``j`` and each copy is pushed towards
its class by ``K`` signed steps of size η on the logit difference, projected onto the
L-inf ball of radius ε around ``x_i`` and clipped to the data range::

    x_ij^0 = x_i
    x_ij^k = clip_[lo, hi]( x_i + Π_ε( x_ij^{k-1} + η · sign ∇_x (Z_j(x_ij^{k-1}) - Z_{y_i}(x_ij^{k-1})) - x_i ) )

(the copy ``j = y_i`` has a zero gradient and stays at ``x_i``). All ``B·C`` copies
run as one batch. :func:`class_copies` returns them for the min-max trainer; the
registered ``class-targeted`` attack keeps, per sample, the copy with the largest
cross-entropy (a multi-targeted attack: the worst case over target classes).

References
----------
S. Kasl, "Min-max robust training of S4 and recurrent models", thesis, 2024, ch. 2.2
(Algorithm 1, after M. Nouiehed et al., "Solving a class of non-convex min-max games
using iterative first order methods", NeurIPS 2019, arXiv:1902.08297). Defaults K = 8,
η = 0.15 are the thesis's MNIST settings (data in [-1, 1]).
"""

from __future__ import annotations

from typing import Any

from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._checks import check_positive_int, per_sample, prepare
from ._losses import cross_entropy
from ._result import finish
from .ascent import maximize

__all__ = ["class_copies", "class_targeted"]


def _repeat(xp: Any, a: Array, copies: int) -> Array:
    """``(B, ...)`` -> ``(B·C, ...)``, each row repeated ``copies`` times in a row."""
    expanded = xp.broadcast_to(a[:, None, ...], (a.shape[0], copies, *a.shape[1:]))
    return xp.reshape(expanded, (a.shape[0] * copies, *a.shape[1:]))


def class_copies(
    model: Model, x: Array, y: Array, *, eps: Any, steps: int = 8, step_size: Any = 0.15
) -> Array:
    """The ``(B, C, *x.shape[1:])`` copies ``x_ij^K`` (C = ``model.num_classes``).

    ``x``, ``y``: backend arrays of clean inputs and labels; ``eps`` and ``step_size``
    scalars or ``(B,)``. The copies are detached from any graph.
    """
    check_positive_int(steps, "steps")
    be = model.backend
    xp = be.xp
    c = model.num_classes
    batch = x.shape[0]
    x = be.stop_gradient(x)
    eps_c = _repeat(xp, per_sample(model, eps, x, name="eps"), c)
    alpha_c = _repeat(xp, per_sample(model, step_size, x, name="step_size"), c)
    classes = xp.arange(c, dtype=y.dtype, device=getattr(y, "device", None))
    targets = xp.reshape(xp.broadcast_to(classes[None, :], (batch, c)), (-1,))
    pair = xp.stack([targets, _repeat(xp, y, c)], axis=1)  # (B·C, 2): [j, y_i]

    def towards_class(x_: Array, jy: Array) -> tuple[Any, Array]:
        logits = model(x_)
        z_j = xp.take_along_axis(logits, jy[:, 0:1], axis=1)
        z_y = xp.take_along_axis(logits, jy[:, 1:2], axis=1)
        return xp.sum(z_j - z_y), logits

    xc = _repeat(xp, x, c)
    out = maximize(model, xc, pair, towards_class, eps=eps_c, steps=steps, step_size=alpha_c, norm="linf")
    return xp.reshape(out, (batch, c, *x.shape[1:]))


def class_targeted(
    model: Model, x: Any, y: Any, *, eps: Any, steps: int = 8, step_size: Any = 0.15
) -> AttackResult:
    """Evaluation attack: per sample, the class-targeted copy with the largest cross-entropy.

    Costs ``C·K`` gradient passes per sample (all copies run as one batch).
    """
    be = model.backend
    xp = be.xp
    x, y, eps_b = prepare(model, x, y, eps)
    c = model.num_classes
    copies = class_copies(model, x, y, eps=eps_b, steps=steps, step_size=step_size)
    flat = xp.reshape(copies, (x.shape[0] * c, *x.shape[1:]))
    with evaluating(model), be.no_grad():
        ce = xp.reshape(cross_entropy(xp, model(flat), _repeat(xp, y, c)), (x.shape[0], c))
    worst = xp.argmax(ce, axis=1)
    pick = xp.reshape(worst, (-1,) + (1,) * (copies.ndim - 1))
    x_adv = xp.squeeze(xp.take_along_axis(copies, pick, axis=1), axis=1)
    return finish(model, x, x_adv, y, norm="linf", targeted=False, gradients=c * steps, forwards=c * (steps + 1))
