"""Robust accuracy: fixed-eps attacks over eps lists, the per-sample worst case, and the
summaries of minimum-norm attacks.

A sample is *robust* to an attack at ``eps`` when the model classifies it correctly and
the attack does not fool it; clean-misclassified samples are never robust. The worst
case over several attacks is robust only where every attack failed, sample by sample
(not the minimum of the per-attack accuracies, which overstates robustness).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, InvalidInputError
from sparring.core.modes import evaluating
from sparring.core.protocols import Model
from sparring.core.records import AttackResult

__all__ = ["RobustnessReport", "robust_accuracy", "accuracy_at_thresholds", "median_norm"]

WORST = "worst-case"


@dataclass(frozen=True)
class RobustnessReport:
    """Per-sample outcomes of :func:`robust_accuracy` (numpy, host memory).

    Attributes:
        eps: the radii, in the data's own scale.
        clean_correct: ``(N,)`` the model's clean predictions are right.
        robust: attack name -> ``(len(eps), N)`` robust masks; ``"worst-case"`` is the
            sample-wise AND over the attacks.
    """

    eps: tuple[float, ...]
    clean_correct: np.ndarray
    robust: Mapping[str, np.ndarray]

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.mean())

    def accuracy(self) -> dict[str, list[float]]:
        """Attack name -> robust accuracy at each eps."""
        return {name: [float(v) for v in mask.mean(axis=1)] for name, mask in self.robust.items()}

    def rows(self) -> list[dict[str, Any]]:
        """One row per (attack, eps): what a results table or CSV holds."""
        return [
            {"attack": name, "eps": e, "robust_accuracy": acc, "clean_accuracy": self.clean_accuracy}
            for name, accs in self.accuracy().items()
            for e, acc in zip(self.eps, accs)
        ]


def robust_accuracy(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    attacks: Mapping[str, Callable[..., AttackResult]],
    eps: Sequence[float],
    *,
    batch_size: int = 256,
) -> RobustnessReport:
    """Run every attack at every eps on ``(x, y)`` in batches; return per-sample outcomes.

    ``attacks`` maps a display name to an attack called as ``attack(model, x, y, eps=e)``
    (configure the rest with ``functools.partial``).
    """
    if not attacks:
        raise ConfigError("give at least one attack to evaluate")
    if WORST in attacks:
        raise ConfigError(f"{WORST!r} is the name of the combined result; rename that attack")
    eps = tuple(float(e) for e in eps)
    if not eps or any(not np.isfinite(e) or e < 0 for e in eps):
        raise ConfigError(f"eps must be a non-empty list of finite values >= 0, got {list(eps)}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise InvalidInputError(f"x and y must hold the same, non-zero number of samples: {len(x)} vs {len(y)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    be = model.backend
    clean = np.zeros(len(x), dtype=bool)
    robust = {name: np.zeros((len(eps), len(x)), dtype=bool) for name in attacks}
    for start in range(0, len(x), batch_size):
        sl = slice(start, start + batch_size)
        xb, yb = be.asarray(x[sl]), be.asarray(y[sl])
        with evaluating(model), be.no_grad():
            clean[sl] = be.to_numpy(be.xp.argmax(model(xb), axis=1)) == y[sl]
        for name, attack in attacks.items():
            for i, e in enumerate(eps):
                success = be.to_numpy(attack(model, xb, yb, eps=e).success)
                robust[name][i, sl] = clean[sl] & ~success
    robust[WORST] = np.logical_and.reduce([robust[n] for n in attacks])
    return RobustnessReport(eps=eps, clean_correct=clean, robust=robust)


def accuracy_at_thresholds(norms: Any, success: Any, thresholds: Sequence[float]) -> np.ndarray:
    """Robust accuracy of a minimum-norm attack at each threshold.

    A sample is robust at ``t`` unless the attack fooled it with ``norm <= t``; a
    clean-misclassified sample (fooled at norm 0) is robust nowhere.
    """
    norms, success = np.asarray(norms, dtype=np.float64), np.asarray(success, dtype=bool)
    if norms.shape != success.shape or norms.ndim != 1:
        raise InvalidInputError(f"norms and success must both be (N,), got {norms.shape} and {success.shape}")
    found = np.where(success, norms, np.inf)  # (N,) smallest fooling norm, inf if none
    return np.array([float((found > t).mean()) for t in thresholds])


def median_norm(norms: Any, success: Any) -> float:
    """Median smallest fooling norm, counting unfooled samples as infinite (may be inf)."""
    norms, success = np.asarray(norms, dtype=np.float64), np.asarray(success, dtype=bool)
    return float(np.median(np.where(success, norms, np.inf)))
