"""Frozen records that plugins return and that algorithms produce.

A spec record names a part (attack, model, ...), says in one line what it is, which
backends it supports, its parameters with defaults, and where its factory lives as a
``"module:attribute"`` string; the registry imports the factory only when the part is
used, so listing plugins never imports torch or jax.
"""

from __future__ import annotations

import difflib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from .errors import ConfigError, PluginLoadError

__all__ = [
    "PluginSpec",
    "BackendSpec",
    "ModelSpec",
    "DatasetSpec",
    "AttackSpec",
    "DefenseSpec",
    "PipelineSpec",
    "AttackResult",
    "SPEC_KINDS",
]


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class PluginSpec:
    """What every registered part declares.

    Attributes:
        name: registry name, lower-case kebab (``"pgd"``, ``"s4d-mnist"``).
        summary: one line saying what the part is.
        factory: ``"package.module:attribute"`` imported lazily by :meth:`load`.
        backends: backends the part runs on (``("torch", "jax")``); empty = any.
        params: parameter names with their defaults.
    """

    kind: ClassVar[str] = "part"

    name: str
    summary: str
    factory: str
    backends: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name != self.name.strip():
            raise ConfigError(f"{self.kind} spec name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.factory, str) or ":" not in self.factory:
            raise ConfigError(
                f"{self.kind} {self.name!r}: factory must be 'package.module:attribute', "
                f"got {self.factory!r}"
            )
        object.__setattr__(self, "backends", tuple(self.backends))
        object.__setattr__(self, "params", _frozen_mapping(self.params))

    def resolve_params(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The default params updated by ``overrides``; an unknown key raises ConfigError
        naming the accepted ones (with a "did you mean")."""
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            hints = {k: difflib.get_close_matches(k, list(self.params), n=1) for k in unknown}
            said = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
            accepted = ", ".join(self.params) or "none"
            raise ConfigError(f"{self.kind} {self.name!r} has no parameter {said}; its parameters: {accepted}")
        return {**self.params, **overrides}

    def create(self, params: Mapping[str, Any] | None = None, **fixed: Any) -> Any:
        """``factory(**fixed, **resolve_params(params))``: the part, built with its defaults
        updated by ``params`` (checked) and the caller's ``fixed`` arguments (backend, seed)."""
        return self.load()(**fixed, **self.resolve_params(dict(params or {})))

    def load(self) -> Callable[..., Any]:
        """Import and return the factory; raise :class:`PluginLoadError` naming the spec."""
        try:
            return pkgutil.resolve_name(self.factory)
        except Exception as err:  # any import-time failure of third-party code
            raise PluginLoadError(
                f"{self.kind} {self.name!r}: cannot import its factory {self.factory!r}: "
                f"{type(err).__name__}: {err}"
            ) from err


@dataclass(frozen=True)
class BackendSpec(PluginSpec):
    """A framework backend; the factory is called as ``factory(device=...)``."""

    kind: ClassVar[str] = "backend"


@dataclass(frozen=True)
class ModelSpec(PluginSpec):
    """A model architecture or preset; factory ``(backend=..., seed=..., **params) -> Model``."""

    kind: ClassVar[str] = "model"


@dataclass(frozen=True)
class DatasetSpec(PluginSpec):
    """A dataset reader; factory ``(root=..., split=..., **params) -> Dataset``."""

    kind: ClassVar[str] = "dataset"


@dataclass(frozen=True)
class AttackSpec(PluginSpec):
    """An attack; the factory is the attack function ``(model, x, y, *, eps, ...)``.

    Attributes:
        minimum_norm: the attack looks for the smallest perturbation (DeepFool, C&W)
            rather than working inside a fixed eps-ball.
        budgeted: the attack works inside an eps-ball (False: it has no budget, e.g.
            the spatial grid search, and ignores ``eps``).
    """

    kind: ClassVar[str] = "attack"

    minimum_norm: bool = False
    budgeted: bool = True


@dataclass(frozen=True)
class DefenseSpec(PluginSpec):
    """A robust training objective; factory ``(**params) -> Defense``."""

    kind: ClassVar[str] = "defense"


@dataclass(frozen=True)
class PipelineSpec(PluginSpec):
    """A named experiment pipeline; the factory returns its configuration mapping."""

    kind: ClassVar[str] = "pipeline"


SPEC_KINDS: dict[str, type[PluginSpec]] = {
    cls.kind: cls
    for cls in (BackendSpec, ModelSpec, DatasetSpec, AttackSpec, DefenseSpec, PipelineSpec)
}


@dataclass(frozen=True)
class AttackResult:
    """What an attack returns. Arrays live on the model's backend and device.

    Attributes:
        x_adv: adversarial inputs, same shape and dtype as the clean inputs.
        success: ``(B,)`` bool, True where ``model(x_adv)`` fools the model, recomputed
            by a forward pass on ``x_adv`` (untargeted: prediction != y; targeted:
            prediction == target). A clean-misclassified sample counts as a success.
        norms: ``(B,)`` perturbation norm ``||x_adv - x||_p`` in the attack's norm.
        norm: the norm used, ``"linf" | "l2" | "l1" | "l0"``.
        gradients: input-gradient evaluations spent per sample, at most (iterative attacks
            stop a sample once it is fooled, and stop early when all are).
        forwards: forward passes spent per sample, at most (gradient passes included).
    """

    x_adv: Any
    success: Any
    norms: Any
    norm: str
    gradients: int = 0
    forwards: int = 0
