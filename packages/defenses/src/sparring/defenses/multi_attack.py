"""Cyclic multi-attack training: batch t is attacked by PGD, FGSM or MIM for t mod 3.

    x'_t = [PGD, FGSM, MIM][t mod 3](f, x_t, y_t),   L_t = mean CE(f(x'_t), y_t)

The defense of the robust-training slides (FGSM, PGD and MIM training compared and
combined); each attack as in :mod:`sparring.defenses.adversarial`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparring.core.protocols import Array, Model

from .adversarial import AttackTraining, adversarial_input

__all__ = ["MultiAttack", "multi_attack"]

_CYCLE = ("pgd", "fgsm", "mim")


@dataclass(frozen=True)
class MultiAttack(AttackTraining):
    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        kind = _CYCLE[step % 3]
        alpha = {"pgd": 2.5 * self.eps / self.steps, "fgsm": 1.25 * self.eps, "mim": self.eps / self.steps}[kind]
        if self.step_size is not None and kind != "fgsm":
            alpha = self.step_size
        return (adversarial_input(kind, model, x, y, eps=self.eps, steps=self.steps, step_size=alpha,
                                  norm=self.norm, seed=seed),)


def multi_attack(eps: float = 0.3, steps: int = 7, step_size: float | None = None, norm: str = "linf") -> MultiAttack:
    return MultiAttack("pgd", eps=eps, steps=steps, step_size=step_size, norm=norm)
