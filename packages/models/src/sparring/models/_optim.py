"""Optimiser settings shared by the torch and jax optimisers (framework-free checks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sparring.core.errors import ConfigError

__all__ = ["OptimizerSettings", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "adam", "adamw")

Group = tuple[Callable[[str], bool], Mapping[str, float]]


@dataclass(frozen=True)
class OptimizerSettings:
    """What :meth:`Backend.optimizer` accepts; torch and jax read it the same way.

    - sgd: ``b = μ b + (g + λ w)``; ``w -= lr · b`` (Nesterov: ``w -= lr (g + λ w + μ b)``).
    - adam: Adam (Kingma & Ba 2015) on ``g + λ w`` (coupled L2 decay, torch.optim.Adam).
    - adamw: Adam with decoupled decay ``w -= lr (adam + λ w)`` (Loshchilov & Hutter 2019).
    Gradients are first clipped to a global L2 norm ``clip_norm`` when given.
    """

    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    clip_norm: float | None = None
    groups: Sequence[Group] = field(default_factory=tuple)
    amp: bool = False

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.name!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ConfigError(f"clip_norm must be > 0 or None, got {self.clip_norm!r}")
        for _, opts in self.groups:
            unknown = set(opts) - {"lr", "weight_decay"}
            if unknown:
                raise ConfigError(f"a parameter group may set lr and weight_decay only, got {sorted(unknown)}")

    @classmethod
    def from_kwargs(cls, **settings: Any) -> OptimizerSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"unknown optimizer settings {unknown}; accepted: {', '.join(sorted(known))}")
        if "groups" in settings:
            settings["groups"] = tuple(settings["groups"] or ())
        return cls(**settings)

    def group_of(self, name: str) -> int:
        """Index of the first group whose predicate accepts ``name`` (-1: the default group)."""
        for i, (match, _) in enumerate(self.groups):
            if match(name):
                return i
        return -1

    def hyper(self, group: int) -> tuple[float, float]:
        """``(lr, weight_decay)`` of a group (-1: the defaults)."""
        if group < 0:
            return self.lr, self.weight_decay
        opts = self.groups[group][1]
        return float(opts.get("lr", self.lr)), float(opts.get("weight_decay", self.weight_decay))
