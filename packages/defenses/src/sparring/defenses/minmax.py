"""Min-max robust training with class-targeted copies: the kasl thesis's Algorithms 1 and 2.

Every sample is copied once per class j and each copy ``x_ij`` is pushed towards j by
K signed steps of size η on ``Z_j - Z_y`` inside the L-inf ball of radius ε
(:func:`sparring.attacks.class_copies`). The loss is the mean over samples of the
hard max over copies of the cross-entropy (the worst target class)::

    Algorithm 1:  L = mean_i max_j CE(f(x_ij^K), y_i)
    Algorithm 2:  L = mean_i max_j CE(f(x_ij^K), y_i) + w · mean_i CE(f(x_i), y_i)

All ``B·C`` copies run as one batch, in the attack and in the loss. Algorithm 2 is the
thesis's proposal to keep the unmodified samples in the objective (weight w = 1 by
default) so that natural accuracy does not collapse.

Reference: S. Kasl, thesis 2024, ch. 2.2 (after Nouiehed et al., NeurIPS 2019,
arXiv:1902.08297). MNIST settings there: K = 8, η = 0.15, data in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

from sparring.attacks.class_copies import class_copies
from sparring.attacks.losses import cross_entropy
from sparring.core.protocols import Array, Model

from .base import Objective, check_eps, check_steps, mean_ce

__all__ = ["MinMax", "algorithm1", "algorithm2"]


@dataclass(frozen=True)
class MinMax(Objective):
    eps: float = 0.3
    steps: int = 8
    step_size: float = 0.15
    clean_weight: float = 0.0

    def __post_init__(self) -> None:
        check_eps("eps", self.eps)
        check_eps("step_size", self.step_size, positive=True)
        check_eps("clean_weight", self.clean_weight)
        check_steps(self.steps)

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        return (class_copies(model, x, y, eps=self.eps, steps=self.steps, step_size=self.step_size),)

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        (copies,) = extra
        xp = model.backend.xp
        b, c = copies.shape[0], copies.shape[1]
        logits = model(xp.reshape(copies, (b * c, *copies.shape[2:])))
        y_rep = xp.reshape(xp.broadcast_to(y[:, None], (b, c)), (-1,))
        ce = xp.reshape(cross_entropy(xp, logits, y_rep), (b, c))
        worst = xp.argmax(ce, axis=1)
        loss = xp.mean(xp.max(ce, axis=1))
        per_copy = xp.reshape(logits, (b, c, logits.shape[-1]))
        worst_logits = xp.squeeze(xp.take_along_axis(per_copy, xp.reshape(worst, (b, 1, 1)), axis=1), axis=1)
        if self.clean_weight:
            loss = loss + self.clean_weight * mean_ce(model, model(x), y)
        return loss, worst_logits


def algorithm1(eps: float = 0.3, steps: int = 8, step_size: float = 0.15) -> MinMax:
    return MinMax(eps=eps, steps=steps, step_size=step_size, clean_weight=0.0)


def algorithm2(eps: float = 0.3, steps: int = 8, step_size: float = 0.15, clean_weight: float = 1.0) -> MinMax:
    return MinMax(eps=eps, steps=steps, step_size=step_size, clean_weight=clean_weight)
