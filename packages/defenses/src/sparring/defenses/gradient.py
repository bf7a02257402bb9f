"""Input-gradient regularisers, by double back-propagation.

- ``gradient-norm`` (Drucker & LeCun 1992; Ross & Doshi-Velez, AAAI 2018):
  ``L = mean_i CE_i(x) + λ · mean_i ||∇_{x_i} CE_i(x̃)||²_2`` with x̃ = x (``at="clean"``)
  or x̃ = the PGD point (``at="adversarial"``: gradient regularisation at adversarial
  points, the CE then also taken there).
- ``gradalign`` (Andriushchenko & Flammarion, "Understanding and Improving Fast
  Adversarial Training", NeurIPS 2020, arXiv:2007.02617): FGSM-AT from a random start
  plus ``λ · mean_i (1 - cos(∇_x CE_i(x), ∇_x CE_i(x + η_i)))``, η_i ~ U(B_∞(0, ε)).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparring.attacks.losses import cross_entropy
from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

from .adversarial import adversarial_input
from .base import Objective, check_eps, mean_ce

__all__ = ["GradientNorm", "GradAlign", "gradient_norm", "gradalign", "input_gradients"]


def input_gradients(model: Model, x: Array, y: Array) -> Array:
    """Per-sample ``∇_{x_i} CE_i`` (the gradient of the batch sum), differentiable."""
    xp = model.backend.xp
    return model.backend.input_gradient(lambda v: xp.sum(cross_entropy(xp, model(v), y)), x)


def _flat(xp: object, g: Array) -> Array:
    return xp.reshape(g, (g.shape[0], -1))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GradientNorm(Objective):
    lam: float = 1.0
    at: str = "clean"
    eps: float = 0.3
    steps: int = 7

    def __post_init__(self) -> None:
        check_eps("lam", self.lam)
        check_eps("eps", self.eps)
        if self.at not in ("clean", "adversarial"):
            raise ConfigError(f"at must be 'clean' or 'adversarial', got {self.at!r}")

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        if self.at == "clean":
            return (x,)
        return (adversarial_input("pgd", model, x, y, eps=self.eps, steps=self.steps,
                                  step_size=2.5 * self.eps / self.steps, norm="linf", seed=seed),)

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        (x_at,) = extra
        xp = model.backend.xp
        logits = model(x_at)
        g = _flat(xp, input_gradients(model, x_at, y))
        return mean_ce(model, logits, y) + self.lam * xp.mean(xp.sum(g * g, axis=1)), logits


@dataclass(frozen=True)
class GradAlign(Objective):
    eps: float = 0.3
    lam: float = 0.2
    step_size: float | None = None

    def __post_init__(self) -> None:
        check_eps("eps", self.eps, positive=True)
        check_eps("lam", self.lam)

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        be = model.backend
        alpha = self.step_size if self.step_size is not None else 1.25 * self.eps
        x_adv = adversarial_input("fgsm", model, x, y, eps=self.eps, steps=1, step_size=alpha, norm="linf",
                                  seed=seed)
        lo, hi = model.value_range
        eta = be.uniform(be.key(seed + 1), x.shape, low=-self.eps, high=self.eps, dtype=x.dtype)
        return x_adv, be.xp.clip(x + eta, lo, hi)

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        x_adv, x_noisy = extra
        xp = model.backend.xp
        logits = model(x_adv)
        g1 = _flat(xp, input_gradients(model, x, y))
        g2 = _flat(xp, input_gradients(model, x_noisy, y))
        norms = xp.sqrt(xp.sum(g1 * g1, axis=1) * xp.sum(g2 * g2, axis=1)) + 1e-12
        cos = xp.sum(g1 * g2, axis=1) / norms
        return mean_ce(model, logits, y) + self.lam * xp.mean(1.0 - cos), logits


def gradient_norm(lam: float = 1.0, at: str = "clean", eps: float = 0.3, steps: int = 7) -> GradientNorm:
    return GradientNorm(lam=lam, at=at, eps=eps, steps=steps)


def gradalign(eps: float = 0.3, lam: float = 0.2, step_size: float | None = None) -> GradAlign:
    return GradAlign(eps=eps, lam=lam, step_size=step_size)
