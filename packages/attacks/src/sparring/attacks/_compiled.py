"""Compiled helpers that do not involve the model, kept per backend and key.

``be.compile(make())`` once per (backend, key), so that later calls reuse the
compilation: jax compiles once per input shape, whereas eager jax pays its dispatch
per operation. Functions that call the model use ``Backend.compile_with_model``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparring.core.protocols import Backend

__all__ = ["compiled"]

_COMPILED: dict[tuple[Any, ...], tuple[Backend, Callable[..., Any]]] = {}


def compiled(be: Backend, key: tuple[Any, ...], make: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """``be.compile(make())``, made on the first call with this backend and ``key``."""
    full = (id(be), *key)
    if full not in _COMPILED:
        if len(_COMPILED) >= 64:
            _COMPILED.clear()
        _COMPILED[full] = (be, be.compile(make()))  # holding be keeps its id unique
    return _COMPILED[full][1]
