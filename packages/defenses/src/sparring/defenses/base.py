"""What every defense is: an attack phase and a differentiable objective.

A training step is ``extra = defense.inputs(model, x, y, seed, step)`` (adversarial
inputs, clean predictions, ...: computed without parameter gradients, may sync with
the host) followed by ``(loss, logits) = defense.objective(model, x, y, *extra)``,
which the trainer differentiates w.r.t. the parameters. ``objective`` must be a pure
function of its arguments (the jax trainer compiles it); its constants are the
defense's own fields. ``loss(model, batch, key)`` runs both phases (the core
``Defense`` protocol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparring.attacks.losses import cross_entropy
from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

__all__ = ["Objective", "mean_ce", "check_eps", "check_steps", "seed_of"]


def mean_ce(model: Model, logits: Array, y: Array) -> Array:
    xp = model.backend.xp
    return xp.mean(cross_entropy(xp, logits, y))


def check_eps(name: str, value: Any, *, positive: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not v == v or v < 0 or (positive and v == 0):
        raise ConfigError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return v


def check_steps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"steps must be an integer >= 1, got {value!r}")
    return value


def seed_of(key: Any) -> int:
    """An int seed from an int or a TorchKey-like key (``.seed``)."""
    if isinstance(key, int):
        return key
    seed = getattr(key, "seed", None)
    if isinstance(seed, int):
        return seed
    raise ConfigError(f"defenses take an integer seed per batch, got {type(key).__name__}")


@dataclass(frozen=True)
class Objective:
    """Base of the defenses. Subclasses are frozen dataclasses (hashable: the jax
    trainer caches one compiled step per objective)."""

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        """Arrays the objective needs besides ``x`` and ``y`` (none by default)."""
        return ()

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"{type(self).__name__} must define objective()")

    def loss(self, model: Model, batch: tuple[Array, Array], key: Any) -> Array:
        x, y = batch
        return self.objective(model, x, y, *self.inputs(model, x, y, seed_of(key), 0))[0]

    def describe(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}
