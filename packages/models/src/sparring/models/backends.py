"""Backends by name, through the registry (``register_backends``)."""

from __future__ import annotations

from sparring.core.protocols import Backend
from sparring.core.registry import get_registry

__all__ = ["get_backend"]

_CACHE: dict[tuple[str, str], Backend] = {}


def get_backend(backend: str | Backend = "torch", device: str = "cpu") -> Backend:
    """The backend registered as ``backend`` placed on ``device`` (one instance per pair).

    A Backend instance is returned unchanged. Unknown names raise UnknownNameError; a
    framework that is not installed or a missing device raises BackendUnavailableError.
    """
    if not isinstance(backend, str):
        return backend
    key = (backend, device)
    if key not in _CACHE:
        factory = get_registry().get_backend(backend).load()
        _CACHE[key] = factory(device=device)
    return _CACHE[key]
