"""Build a registered model by name with parameter overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sparring.core.errors import ConfigError, UnsupportedBackendError
from sparring.core.protocols import Backend, Model
from sparring.core.registry import get_registry

from .backends import get_backend

__all__ = ["build_model"]


def build_model(
    name: str, *, backend: str | Backend = "torch", device: str = "cpu", seed: int = 0, **overrides: Any
) -> Model:
    """Build model ``name`` (``"dense"``, ``"dense-mnist"``, ...) on ``backend``.

    ``overrides`` replace the spec's defaults; an unknown key raises ConfigError naming
    the accepted ones. ``preprocessing={"mean": ..., "std": ...}`` (any model) normalises
    inside the model (:meth:`ModelBase.set_preprocessing`): inputs and eps stay raw.
    """
    spec = get_registry().get_model(name)
    pre = overrides.pop("preprocessing", None)
    params = spec.resolve_params(overrides)
    be = get_backend(backend, device)
    if spec.backends and be.name not in spec.backends:
        raise UnsupportedBackendError(
            f"model {name!r} runs on {', '.join(spec.backends)}, not on {be.name!r}"
        )
    model = spec.load()(backend=be, seed=seed, **params)
    if pre is not None:
        if not isinstance(pre, Mapping) or set(pre) != {"mean", "std"}:
            raise ConfigError(f"preprocessing must be a table {{ mean = ..., std = ... }}, got {pre!r}")
        model.set_preprocessing(pre["mean"], pre["std"])
    return model
