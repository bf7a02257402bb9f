"""Fast gradient sign method (FGSM) and its L2 form (FGM).

Update rule (one step; targeted flips the sign of the objective)::

    x_adv = clip_[lo, hi]( x + ε · dir_p(∇_x J(x)) ),   dir_inf(g) = sign(g), dir_2(g) = g / ||g||_2

References
----------
I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial Examples",
ICLR 2015, arXiv:1412.6572. Also the robust-training slides in ``references/``.
"""

from __future__ import annotations

from typing import Any

from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._checks import prepare
from ._lp import bcast, check_norm, clip_to_range, steepest_direction
from ._objective import objective
from ._result import result_check

__all__ = ["fgsm"]


def fgsm(
    model: Model,
    x: Any,
    y: Any,
    *,
    eps: Any,
    norm: str = "linf",
    targeted: bool = False,
    loss: str = "ce",
) -> AttackResult:
    """One signed (or L2-normalised) gradient step of size ``eps``.

    Parameters
    ----------
    model : the classifier; its backend, value range and classes are used.
    x : clean inputs ``(B, *model.input_shape)`` in the model's value range.
    y : true labels ``(B,)``, or target classes when ``targeted``.
    eps : step size = radius, scalar or ``(B,)``, on the data's own scale; 0 returns x.
    norm : ``"linf"`` (FGSM) or ``"l2"`` (FGM).
    targeted : move towards ``y`` instead of away from it.
    loss : ``"ce"`` or ``"margin"``.

    Returns
    -------
    AttackResult with one gradient and two forward passes per sample.
    """
    check_norm(norm, ("linf", "l2"))
    be = model.backend
    xp = be.xp
    x, y, eps_b = prepare(model, x, y, eps)
    fn, value_range = objective(model, loss, targeted), model.value_range
    check = result_check(model, norm=norm, targeted=targeted)

    def step(x_: Array, y_: Array, e: Array) -> tuple[Array, Array, Array]:
        """The step and the result's checking forward pass, in one compiled call."""
        _, grad = be.value_and_grad(fn, x_, y_, has_aux=True)
        x_adv = clip_to_range(xp, x_ + bcast(xp, e, x_) * steepest_direction(xp, grad, norm), value_range)
        x_adv = be.stop_gradient(x_adv)
        return (x_adv, *check(x_, x_adv, y_))

    with evaluating(model):
        x_adv, success, norms = be.compile_with_model(model, step)(x, y, eps_b)
    return AttackResult(x_adv=x_adv, success=success, norms=norms, norm=norm, gradients=1, forwards=2)
