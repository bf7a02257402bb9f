"""Building the AttackResult: success recomputed by a forward pass on the returned inputs."""

from __future__ import annotations

from collections.abc import Callable

from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._lp import lp_norm

__all__ = ["is_adversarial", "finish", "result_check"]


def is_adversarial(xp: object, logits: Array, y: Array, targeted: bool) -> Array:
    """``(B,)`` bool: prediction != y (untargeted) or == y (targeted, y = target class)."""
    pred = xp.argmax(logits, axis=1)  # type: ignore[attr-defined]
    return (pred == y) if targeted else (pred != y)


def result_check(model: Model, *, norm: str, targeted: bool) -> Callable[[Array, Array, Array], tuple[Array, Array]]:
    """``check(x, x_adv, y) -> (success, norms)``: the forward pass that decides ``success``
    and the per-sample norms; an attack may run it inside its own compiled step."""
    be = model.backend
    xp = be.xp

    def check(x_: Array, x_adv_: Array, y_: Array) -> tuple[Array, Array]:
        with be.no_grad():
            return is_adversarial(xp, model(x_adv_), y_, targeted), lp_norm(xp, x_adv_ - x_, norm)

    return check


def finish(
    model: Model, x: Array, x_adv: Array, y: Array, *, norm: str, targeted: bool, gradients: int, forwards: int
) -> AttackResult:
    """Result for ``x_adv``: one extra forward pass decides ``success`` (counted in forwards)."""
    be = model.backend
    x_adv = be.stop_gradient(x_adv)
    success, norms = be.compile_with_model(model, result_check(model, norm=norm, targeted=targeted))(x, x_adv, y)
    return AttackResult(
        x_adv=x_adv, success=success, norms=norms, norm=norm, gradients=gradients, forwards=forwards + 1
    )
