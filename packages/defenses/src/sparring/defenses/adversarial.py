"""Adversarial training: cross-entropy at an attack's output.

    min_θ E_{(x,y)} [ L(f_θ(x'), y) ],  x' = attack(f_θ, x, y) inside B_p(x, ε)

- ``pgd-at`` (Madry et al., "Towards Deep Learning Models Resistant to Adversarial
  Attacks", ICLR 2018, arXiv:1706.06083): x' = PGD-K from a uniform random start,
  every sample running all K steps (training maximises the loss; it does not stop at
  the first fooling point). Step α = 2.5 ε / K by default (Madry et al.'s ratio).
- ``fgsm-at`` (Wong, Rice & Kolter, "Fast is better than free", ICLR 2020,
  arXiv:2001.03994): one signed step of α = 1.25 ε from a uniform random start.
- ``mim-at``: x' = MIM-K (Dong et al. 2018), as in the robust-training slides.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparring.attacks.mim import mim
from sparring.attacks.pgd import pgd
from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

from .base import Objective, check_eps, check_steps, mean_ce

__all__ = ["AttackTraining", "pgd_at", "fgsm_at", "mim_at", "adversarial_input"]

_KINDS = ("pgd", "fgsm", "mim")


def adversarial_input(
    kind: str, model: Model, x: Array, y: Array, *, eps: float, steps: int, step_size: float, norm: str, seed: int
) -> Array:
    """x' for ``kind`` in pgd (random start, all steps), fgsm (random start, one step) or mim."""
    if kind == "pgd":
        res = pgd(model, x, y, eps=eps, norm=norm, steps=steps, step_size=step_size, random_start=True,
                  early_stop=False, seed=seed)
    elif kind == "fgsm":
        res = pgd(model, x, y, eps=eps, norm=norm, steps=1, step_size=step_size, random_start=True,
                  early_stop=False, seed=seed)
    elif kind == "mim":
        res = mim(model, x, y, eps=eps, norm=norm, steps=steps, step_size=step_size, early_stop=False)
    else:
        raise ConfigError(f"attack must be one of {', '.join(_KINDS)}, got {kind!r}")
    return res.x_adv


@dataclass(frozen=True)
class AttackTraining(Objective):
    """Mean CE at the adversarial inputs of ``attack``."""

    attack: str = "pgd"
    eps: float = 0.3
    steps: int = 7
    step_size: float | None = None
    norm: str = "linf"

    def __post_init__(self) -> None:
        if self.attack not in _KINDS:
            raise ConfigError(f"attack must be one of {', '.join(_KINDS)}, got {self.attack!r}")
        check_eps("eps", self.eps)
        check_steps(self.steps)
        if self.step_size is not None:
            check_eps("step_size", self.step_size, positive=True)

    @property
    def alpha(self) -> float:
        if self.step_size is not None:
            return float(self.step_size)
        return 1.25 * self.eps if self.attack == "fgsm" else 2.5 * self.eps / self.steps

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        return (adversarial_input(self.attack, model, x, y, eps=self.eps, steps=self.steps,
                                  step_size=self.alpha, norm=self.norm, seed=seed),)

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        (x_adv,) = extra
        logits = model(x_adv)
        return mean_ce(model, logits, y), logits


def pgd_at(eps: float = 0.3, steps: int = 7, step_size: float | None = None, norm: str = "linf") -> AttackTraining:
    return AttackTraining("pgd", eps=eps, steps=steps, step_size=step_size, norm=norm)


def fgsm_at(eps: float = 0.3, step_size: float | None = None, norm: str = "linf") -> AttackTraining:
    return AttackTraining("fgsm", eps=eps, steps=1, step_size=step_size, norm=norm)


def mim_at(eps: float = 0.3, steps: int = 10, step_size: float | None = None, norm: str = "linf") -> AttackTraining:
    return AttackTraining("mim", eps=eps, steps=steps, step_size=step_size if step_size is not None else eps / steps,
                          norm=norm)
