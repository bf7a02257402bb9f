"""Building the AttackResult: success recomputed by a forward pass on the returned inputs."""

from __future__ import annotations

from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._lp import lp_norm

__all__ = ["is_adversarial", "finish"]


def is_adversarial(xp: object, logits: Array, y: Array, targeted: bool) -> Array:
    """``(B,)`` bool: prediction != y (untargeted) or == y (targeted, y = target class)."""
    pred = xp.argmax(logits, axis=1)  # type: ignore[attr-defined]
    return (pred == y) if targeted else (pred != y)


def finish(
    model: Model, x: Array, x_adv: Array, y: Array, *, norm: str, targeted: bool, gradients: int, forwards: int
) -> AttackResult:
    """Result for ``x_adv``: one extra forward pass decides ``success`` (counted in forwards)."""
    be = model.backend
    xp = be.xp
    with be.no_grad():
        logits = model(x_adv)
    x_adv = be.stop_gradient(x_adv)
    return AttackResult(
        x_adv=x_adv,
        success=is_adversarial(xp, logits, y, targeted),
        norms=lp_norm(xp, x_adv - x, norm),
        norm=norm,
        gradients=gradients,
        forwards=forwards + 1,
    )
