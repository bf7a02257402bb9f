"""Build a registered model by name with parameter overrides."""

from __future__ import annotations

from typing import Any

from sparring.core.errors import UnsupportedBackendError
from sparring.core.protocols import Backend, Model
from sparring.core.registry import get_registry

from .backends import get_backend

__all__ = ["build_model"]


def build_model(
    name: str, *, backend: str | Backend = "torch", device: str = "cpu", seed: int = 0, **overrides: Any
) -> Model:
    """Build model ``name`` (``"dense"``, ``"dense-mnist"``, ...) on ``backend``.

    ``overrides`` replace the spec's defaults; an unknown key raises ConfigError naming
    the accepted ones.
    """
    spec = get_registry().get_model(name)
    params = spec.resolve_params(overrides)
    be = get_backend(backend, device)
    if spec.backends and be.name not in spec.backends:
        raise UnsupportedBackendError(
            f"model {name!r} runs on {', '.join(spec.backends)}, not on {be.name!r}"
        )
    return spec.load()(backend=be, seed=seed, **params)
