"""DeepFool: the smallest step to the nearest linearised decision boundary, repeated.

At each iteration, for every class k != y, with f_k = z_k - z_y and w_k = ∇_x f_k::

    l   = argmin_{k != y} |f_k| / ||w_k||_q                       (q: dual norm of p)
    r   = (|f_l| + 1e-4) / ||w_l||_2^2 · w_l                      (p = 2)
    r   = (|f_l| + 1e-4) / ||w_l||_1   · sign(w_l)                (p = ∞)
    x_{t+1} = clip_[lo, hi]( x + (1 + overshoot) · Σ_{s <= t} r_s )

until the sample is misclassified or ``steps`` run out. A minimum-norm attack: it
returns the first misclassified iterate (a clean-misclassified sample gets a zero
perturbation) and its norm. Every sample of the batch is handled at once: per iteration
one forward pass and C - 1 backward passes (:func:`sparring.attacks.boundary.margin_jacobian`:
the f_k, k != y; w_y = 0 needs none) over the unfinished samples.

References
----------
S.-M. Moosavi-Dezfooli, A. Fawzi, P. Frossard, "DeepFool: a simple and accurate method
to fool deep neural networks", CVPR 2016, arXiv:1511.04599 (overshoot 0.02, 50 steps).
"""

from __future__ import annotations

from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._active import ActiveSet
from ._checks import check_positive_int, prepare
from ._losses import one_hot
from ._lp import TINY, bcast, check_norm, clip_to_range, lp_norm
from ._result import finish, is_adversarial
from .boundary import margin_jacobian

__all__ = ["deepfool"]


def _pick(xp: Any, rows: Array, classes: Array) -> Array:
    """Per sample b, the row of class ``classes[b]``: ``(C, B, ...), (B,) -> (B, ...)`` (a gather)."""
    c, b = rows.shape[0], rows.shape[1]
    index = classes * b + xp.arange(b, dtype=classes.dtype, device=getattr(classes, "device", None))
    return xp.reshape(xp.take(xp.reshape(rows, (c * b, -1)), index, axis=0), tuple(rows.shape[1:]))


def deepfool(
    model: Model,
    x: Any,
    y: Any,
    *,
    norm: str = "l2",
    steps: int = 50,
    overshoot: float = 0.02,
) -> AttackResult:
    """DeepFool in L2 or L-inf; returns the smallest perturbation it found per sample.

    Parameters
    ----------
    model : the classifier; its backend, value range and classes are used.
    x : clean inputs ``(B, *model.input_shape)`` in the model's value range.
    y : true labels ``(B,)``.
    norm : ``"l2"`` or ``"linf"``.
    steps : most iterations (>= 1); a sample stops once misclassified.
    overshoot : the accumulated step is scaled by ``1 + overshoot`` to cross the boundary.
    """
    check_norm(norm, ("l2", "linf"))
    check_positive_int(steps, "steps")
    if not overshoot >= 0:
        raise ConfigError(f"overshoot must be >= 0, got {overshoot!r}")
    be = model.backend
    xp = be.xp
    x, y, _ = prepare(model, x, y, 0.0)
    others = model.num_classes - 1  # w_y = 0 needs no backward pass: only the C - 1 classes k != y
    value_range = model.value_range

    def step(x_t: Array, x0: Array, y_t: Array, r_t: Array) -> tuple[Array, Array, Array]:
        # one forward pass and C - 1 backward passes, the gradients of f_j = z_{k_j} - z_y
        # themselves (not C gradients grad z_k and a (C, B, ...) difference)
        f, W, z = margin_jacobian(model, x_t, y_t)  # (B, C - 1), (C - 1, B, ...), (B, C)
        flat = xp.reshape(W, (others * W.shape[1], -1))
        w_norm = xp.reshape(lp_norm(xp, flat, "l1" if norm == "linf" else "l2"), (others, -1))  # (C - 1, B)
        ratio = xp.abs(f) / (xp.permute_dims(w_norm, (1, 0)) + TINY)  # (B, C - 1)
        nearest = xp.astype(xp.argmin(ratio, axis=1), y_t.dtype)  # (B,) the column of the class l
        w_l = _pick(xp, W, nearest)  # (B, ...)
        f_l = xp.abs(xp.sum(f * one_hot(xp, nearest, others, f.dtype), axis=1)) + 1e-4  # (B,)
        if norm == "l2":
            r = bcast(xp, f_l / (lp_norm(xp, w_l, "l2") ** 2 + TINY), w_l) * w_l
        else:
            r = bcast(xp, f_l / (lp_norm(xp, w_l, "l1") + TINY), w_l) * xp.sign(w_l)
        stop = is_adversarial(xp, z, y_t, False)
        hold = bcast(xp, stop, x_t)
        r_next = xp.where(hold, r_t, r_t + r)
        x_next = clip_to_range(xp, x0 + (1.0 + overshoot) * r_next, value_range)
        return xp.where(hold, x_t, x_next), r_next, stop

    run_step = be.compile_with_model(model, step)  # jax: one program per batch size, reused across calls
    with evaluating(model):
        x_adv, r_tot = x, xp.zeros_like(x)
        done = xp.zeros(x.shape[:1], dtype=xp.bool, device=getattr(x, "device", None))
        steps_run = 0
        for t in range(1, steps + 1):
            active = ActiveSet(be, done)
            if active.empty():
                break
            x_next, r_next, stop = run_step(active.take(x_adv), active.take(x), active.take(y), active.take(r_tot))
            x_adv = active.put(x_adv, x_next)
            r_tot = active.put(r_tot, r_next)
            done = active.put(done, stop)
            steps_run = t
        return finish(
            model, x, x_adv, y, norm=norm, targeted=False, gradients=steps_run * others, forwards=steps_run
        )
