"""Standard training: the mean cross-entropy ``E[-log softmax(f(x))_y]`` on clean data."""

from __future__ import annotations

from dataclasses import dataclass

from sparring.core.protocols import Array, Model

from .base import Objective, mean_ce

__all__ = ["Standard", "standard"]


@dataclass(frozen=True)
class Standard(Objective):
    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        logits = model(x)
        return mean_ce(model, logits, y), logits


def standard() -> Standard:
    return Standard()
