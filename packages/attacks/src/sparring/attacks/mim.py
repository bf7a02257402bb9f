"""Momentum iterative method (MIM, a.k.a. MI-FGSM).

Update rule (untargeted; targeted flips the sign of the objective J)::

    g_0     = 0
    g_{t+1} = μ · g_t + ∇_x J(x_t) / ||∇_x J(x_t)||_1          (per-sample L1 norm)
    x_{t+1} = clip_[lo, hi]( x + Π_{B_p(0, ε)}( x_t + α · dir_p(g_{t+1}) - x ) )

with dir_inf = sign, dir_2 = g/||g||_2; α = ε/steps by default, so the walk can
just reach the ball's surface. The momentum sums L1-normalised *gradients*, not
their signs (foolbox 3 signs first, which is a different method). A sample stops at
the first iterate that fools the model.

References
----------
Y. Dong, F. Liao, T. Pang, H. Su, J. Zhu, X. Hu, J. Li, "Boosting Adversarial Attacks
with Momentum", CVPR 2018, arXiv:1710.06081 (μ = 1, 10 steps). Also Algorithm 3 of
the robust-training slides in ``references/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._checks import check_positive_int, per_sample, prepare
from ._loop import projected_loop
from ._lp import TINY, bcast, check_norm, lp_norm, steepest_direction
from ._result import finish

__all__ = ["mim", "momentum_direction"]



def momentum_direction(xp: Any, norm: str, momentum: float) -> Callable[[Array, Any, Array], tuple[Array, Any]]:
    """``(grad, g) -> (dir_p(g'), g')`` with ``g' = μ g + grad / ||grad||_1``."""

    def direction(grad: Array, g: Any, x_t: Array) -> tuple[Array, Array]:
        l1 = xp.maximum(lp_norm(xp, grad, "l1"), xp.asarray(TINY, dtype=grad.dtype))
        g = grad / bcast(xp, l1, grad) + (0.0 if g is None else momentum * g)
        return steepest_direction(xp, g, norm), g

    return direction


def mim(
    model: Model,
    x: Any,
    y: Any,
    *,
    eps: Any,
    norm: str = "linf",
    steps: int = 10,
    step_size: Any = None,
    momentum: float = 1.0,
    targeted: bool = False,
    loss: str = "ce",
    early_stop: bool = True,
    callback: Callable[[int, Array], None] | None = None,
) -> AttackResult:
    """MIM with ``steps`` momentum steps inside the eps-ball.

    Parameters
    ----------
    model : the classifier; its backend, value range and classes are used.
    x : clean inputs ``(B, *model.input_shape)`` in the model's value range.
    y : true labels ``(B,)``, or target classes when ``targeted``.
    eps : radius, scalar or ``(B,)``, on the data's own scale; 0 returns x.
    norm : ``"linf"`` or ``"l2"``.
    steps : number of gradient steps (>= 1).
    step_size : absolute step α (scalar or ``(B,)``); default ε/steps.
    momentum : decay μ of the accumulated gradient (0 gives iterative FGSM).
    targeted, loss, early_stop, callback : as in :func:`sparring.attacks.pgd`.
    """
    check_norm(norm, ("linf", "l2"))
    check_positive_int(steps, "steps")
    if not momentum >= 0:
        raise ConfigError(f"momentum must be >= 0, got {momentum!r}")
    be = model.backend
    xp = be.xp
    x, y, eps_b = prepare(model, x, y, eps)
    alpha = per_sample(model, step_size, x, name="step_size") if step_size is not None else eps_b / steps
    with evaluating(model):
        x_out, steps_run = projected_loop(
            model, x, y, x, eps=eps_b, alpha=alpha, steps=steps, norm=norm, loss=loss,
            targeted=targeted, direction=momentum_direction(xp, norm, momentum), callback=callback,
            early_stop=early_stop,
        )
        return finish(model, x, x_out, y, norm=norm, targeted=targeted, gradients=steps_run, forwards=steps_run)
