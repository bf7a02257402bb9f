"""Compiled functions that call a model, reused across calls (``JaxBackend.compile_with_model``).

An attack step ``fn(*arrays)`` closes over the model (``model(x)`` inside its
objective). Under a plain ``jax.jit`` the model's weights would become constants of
the compiled program, so the program could not be reused once the weights change, and
an attack called once per training batch would compile once per batch. Here the
module's state is an argument instead::

    jitted(state, *arrays) = fn(*arrays) with model.module = nnx.merge(graphdef, state)

and the compiled program is kept under a key made from ``fn`` itself: its code and,
recursively, what its closure holds (numbers, strings, functions, modules, the model
itself by identity). Two closures with equal keys compute the same function of their
arguments, so the second call reuses the first one's compilation. A closure holding
anything else (an array, another model) gets no key: it is compiled for that call only,
with what it holds as constants, which is what ``jax.jit`` alone would do.

Meant for functions of a model in eval mode (attacks): state the module would update
inside (BatchNorm statistics, dropout streams) is not written back. Globals that ``fn``
reads are not part of the key (as with ``jax.jit``).
"""

from __future__ import annotations

import contextlib
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import jax
from flax import nnx

__all__ = ["closure_key", "compile_with_model"]

_CACHE: OrderedDict[Any, tuple[Callable[..., Any], list[Any]]] = OrderedDict()
"""key -> (compiled function, the objects whose ids the key holds, kept alive with it)."""
_CACHE_SIZE = 128

_PLAIN = (int, float, complex, str, bytes, bool, type(None), types.BuiltinFunctionType)


def closure_key(value: Any, model: Any, pins: list[Any] | None = None, _depth: int = 0) -> Any:
    """A hashable stand-in for ``value`` that is equal only for values that behave the
    same inside a traced function, or None when there is none (arrays, mutable objects,
    models other than ``model``). Objects that enter the key by identity are appended to
    ``pins``: whoever keeps the key must keep them alive, so that no other object can
    take their id."""
    pins = [] if pins is None else pins
    if _depth > 12:
        return None
    if value is model:
        pins.append(model)
        return ("model", id(model), _wrapper_key(model, pins))
    if isinstance(value, types.ModuleType | type):
        pins.append(value)
        return ("id", id(value))
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, tuple):
        parts = tuple(closure_key(v, model, pins, _depth + 1) for v in value)
        return None if any(p is None for p in parts) else ("tuple", parts)
    if isinstance(value, types.FunctionType):
        try:
            contents = [c.cell_contents for c in value.__closure__ or ()]
        except ValueError:  # a cell not yet assigned: its value may change before the call
            return None
        cells = tuple(closure_key(c, model, pins, _depth + 1) for c in contents)
        defaults = closure_key(tuple(value.__defaults__ or ()), model, pins, _depth + 1)
        kw = closure_key(tuple(sorted((value.__kwdefaults__ or {}).items())), model, pins, _depth + 1)
        if defaults is None or kw is None or any(c is None for c in cells):
            return None
        return ("fn", value.__code__, value.__module__, cells, defaults, kw)
    if isinstance(value, types.MethodType):
        owner = closure_key(value.__self__, model, pins, _depth + 1)
        return None if owner is None else ("method", value.__func__.__code__, owner)
    if getattr(type(value), "__name__", "") in ("JaxBackend", "TorchBackend"):
        pins.append(value)
        return ("backend", id(value))
    if _is_frozen_dataclass(value):
        try:
            hash(value)
        except TypeError:
            return None
        return ("frozen", type(value), value)
    return None


def _is_frozen_dataclass(value: Any) -> bool:
    params = getattr(type(value), "__dataclass_params__", None)
    return bool(params is not None and params.frozen)


def _wrapper_key(model: Any, pins: list[Any]) -> tuple[Any, ...]:
    """What of the wrapper, outside its module, shapes the traced function: preprocessing
    arrays and the front-end are replaced, not mutated, when set anew (by identity, pinned)."""
    kept = [(k, v) for k, v in sorted(vars(model).items()) if k not in ("module", "_training")]
    pins.extend(v for _, v in kept)
    return tuple((k, id(v)) for k, v in kept)


@contextlib.contextmanager
def _module_swapped(model: Any, module: Any) -> Iterator[None]:
    kept = model.module
    model.module = module
    try:
        yield
    finally:
        model.module = kept


def compile_with_model(model: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(*args)`` compiled with ``model.module``'s state as an argument (see module doc).

    The returned function uses the weights the model has now (read once: flattening the
    module costs about a millisecond per call); make it anew after changing them."""
    graphdef, state = nnx.split(model.module)
    pins: list[Any] = []
    key = closure_key(fn, model, pins)
    full = None if key is None else (key, graphdef)
    entry = _CACHE.get(full) if full is not None else None
    if entry is None:

        def pure(state: Any, *args: Any) -> Any:
            with _module_swapped(model, nnx.merge(graphdef, state)):
                return fn(*args)

        jitted = jax.jit(pure)
        if full is not None:
            _CACHE[full] = (jitted, pins)  # pinned: no other object can take an id the key holds
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    else:
        jitted = entry[0]
        _CACHE.move_to_end(full)

    def call(*args: Any) -> Any:
        return jitted(state, *args)

    return call
