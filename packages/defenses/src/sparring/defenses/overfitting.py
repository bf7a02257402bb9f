"""Catastrophic-overfitting detector for single-step adversarial training (FGSM-AT).

FGSM-AT can collapse within an epoch: robust accuracy under a multi-step attack
falls to ~0 while accuracy under FGSM (the training attack) *rises*, because the
model has become locally highly curved and the one-step linear approximation no
longer finds the worst point. Wong, Rice & Kolter ("Fast is better than free",
ICLR 2020, arXiv:2001.03994, sec. 5) detect it by measuring PGD accuracy on a
held-out batch after every epoch and stop at the epoch where it drops sharply,
keeping the weights of the epoch before. The robust-training slides show the
same collapse in their result table.

After each epoch, on a fixed held-out batch::

    a_pgd = accuracy under PGD-K(eps, random start)
    a_fgsm = accuracy under FGSM(eps)
    collapse  <=>  a_pgd < best_a_pgd - drop   and   a_fgsm >= a_fgsm_prev - tolerance

A collapse emits :class:`CatastrophicOverfittingWarning`; with ``rollback`` the
trainer puts the model (and optimiser) back to the weights before that epoch and
stops training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparring.attacks.fgsm import fgsm
from sparring.attacks.pgd import pgd
from sparring.core.errors import ConfigError
from sparring.core.modes import evaluating
from sparring.core.protocols import Model

from .base import check_eps, check_steps

__all__ = ["CatastrophicOverfittingWarning", "OverfittingCheck"]


class CatastrophicOverfittingWarning(UserWarning):
    """PGD accuracy collapsed while FGSM accuracy did not (catastrophic overfitting)."""


@dataclass
class OverfittingCheck:
    """PGD vs FGSM accuracy on a held-out batch after every epoch.

    Args:
        x, y: the held-out batch (numpy; e.g. the first validation batch).
        eps: attack radius on the data's scale (usually the training eps).
        pgd_steps: steps of the PGD probe (random start, step 2.5 eps / steps).
        drop: absolute fall of PGD accuracy below its best so far that counts as a
            collapse (Wong et al. use 0.2).
        tolerance: how much FGSM accuracy may fall and still count as "not falling".
        rollback: put the weights of the epoch before the collapse back and stop.
        seed: seed of the PGD random start (the same batch and seed every epoch).
    """

    x: Any
    y: Any
    eps: float
    pgd_steps: int = 10
    drop: float = 0.2
    tolerance: float = 0.02
    rollback: bool = True
    seed: int = 0
    best_pgd: float | None = field(default=None, init=False)
    last_fgsm: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        check_eps("overfitting eps", self.eps, positive=True)
        check_steps(self.pgd_steps)
        if not 0 < float(self.drop) <= 1:
            raise ConfigError(f"overfitting drop must be in (0, 1], got {self.drop!r}")
        check_eps("overfitting tolerance", self.tolerance)
        self.x = np.asarray(self.x)
        self.y = np.asarray(self.y)
        if len(self.x) == 0 or len(self.x) != len(self.y):
            raise ConfigError(
                f"the overfitting check needs a non-empty held-out batch with one label per input "
                f"(got {len(self.x)} inputs, {len(self.y)} labels); give the run a validation set"
            )

    def measure(self, model: Model) -> dict[str, float]:
        """Accuracy of ``model`` under FGSM and PGD on the held-out batch."""
        be = model.backend
        x = be.asarray(self.x, dtype=getattr(model, "dtype", None))
        y = be.asarray(self.y)
        with evaluating(model):
            with be.no_grad():
                clean = be.to_numpy(be.xp.argmax(model(x), axis=1) == y)
            res_fgsm = fgsm(model, x, y, eps=self.eps)
            res_pgd = pgd(model, x, y, eps=self.eps, steps=self.pgd_steps, step_size=2.5 * self.eps / self.pgd_steps,
                          random_start=True, seed=self.seed)
        fool_f, fool_p = be.to_numpy(res_fgsm.success), be.to_numpy(res_pgd.success)
        return {"fgsm": float(np.mean(clean & ~fool_f)), "pgd": float(np.mean(clean & ~fool_p))}

    def update(self, model: Model) -> dict[str, Any]:
        """Measure after an epoch; the record gets ``co_fgsm_accuracy``, ``co_pgd_accuracy``
        and ``catastrophic_overfitting`` (True at a collapse)."""
        acc = self.measure(model)
        collapsed = (
            self.best_pgd is not None and self.last_fgsm is not None
            and acc["pgd"] < self.best_pgd - self.drop and acc["fgsm"] >= self.last_fgsm - self.tolerance
        )
        if not collapsed:
            self.best_pgd = acc["pgd"] if self.best_pgd is None else max(self.best_pgd, acc["pgd"])
            self.last_fgsm = acc["fgsm"]
        return {"co_fgsm_accuracy": acc["fgsm"], "co_pgd_accuracy": acc["pgd"], "catastrophic_overfitting": collapsed}

    def state(self) -> dict[str, Any]:
        return {"best_pgd": self.best_pgd, "last_fgsm": self.last_fgsm}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best_pgd, self.last_fgsm = state.get("best_pgd"), state.get("last_fgsm")
