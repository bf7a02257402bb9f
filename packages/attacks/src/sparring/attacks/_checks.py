"""Validation of what callers hand to an attack, with errors that say what to fix."""

from __future__ import annotations

from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, InvalidInputError
from sparring.core.protocols import Array, Model

from ._compiled import compiled

__all__ = ["prepare", "per_sample", "check_positive_int"]

_RANGE_TOL = 1e-6


def prepare(model: Model, x: Any, y: Any, eps: Any) -> tuple[Array, Array, Array]:
    """Check and convert ``x``, ``y`` and ``eps``; return them as backend arrays.

    ``x`` must be ``(B, *model.input_shape)``, floating, finite and inside the model's
    value range; ``y`` integer labels (or targets) ``(B,)`` in ``[0, num_classes)``;
    ``eps`` a finite non-negative scalar or ``(B,)`` array. Returns ``eps`` as ``(B,)``
    in ``x``'s dtype.
    """
    be = model.backend
    xp = be.xp
    x = be.stop_gradient(be.asarray(x))
    shape = tuple(x.shape)
    if shape[1:] != tuple(model.input_shape):
        hint = (
            " (a single sample? add a batch axis: x[None])"
            if shape == tuple(model.input_shape)
            else ""
        )
        raise InvalidInputError(
            f"x has shape {shape}, but the model expects (batch, {', '.join(map(str, model.input_shape))}){hint}"
        )
    if not xp.isdtype(x.dtype, "real floating"):
        raise InvalidInputError(f"x must be a floating array, got dtype {x.dtype}; convert it, e.g. x / 255")
    if shape[0] == 0:
        raise InvalidInputError("x is an empty batch; give at least one sample")
    y = be.stop_gradient(be.asarray(y))
    if tuple(y.shape) != shape[:1]:
        raise InvalidInputError(f"y has shape {tuple(y.shape)}, expected ({shape[0]},): one label per sample")
    if not xp.isdtype(y.dtype, "integral"):
        raise InvalidInputError(f"y must hold integer class indices, got dtype {y.dtype}")
    # every value check in one compiled function and one host round-trip
    stats = compiled(be, ("input-stats",), lambda: _input_stats(xp))
    finite, x_min, x_max, bad_labels = (float(v) for v in be.to_numpy(stats(x, y, model.num_classes)))
    if not finite:
        raise InvalidInputError("x contains NaN or infinite values; clean the data before attacking")
    lo, hi = model.value_range
    if x_min < lo - _RANGE_TOL or x_max > hi + _RANGE_TOL:
        raise InvalidInputError(
            f"x has values in [{x_min:.4g}, {x_max:.4g}], outside the model's value range [{lo}, {hi}]; "
            "scale the data to that range (normalisation belongs inside the model)"
        )
    if bad_labels:
        raise InvalidInputError(
            f"y has labels outside [0, {model.num_classes}); the model has {model.num_classes} classes"
        )
    return x, y, per_sample(model, eps, x, name="eps")


def _input_stats(xp: Any) -> Any:
    def stats(x: Array, y: Array, num_classes: Any) -> Array:
        """``[all finite, min, max, any label outside [0, num_classes)]`` as float32.

        min and max propagate NaN, so x is finite iff both are (no full-size isfinite)."""
        f32 = xp.float32
        lo, hi = xp.min(x), xp.max(x)
        return xp.stack([
            xp.astype(xp.isfinite(lo) & xp.isfinite(hi), f32),
            xp.astype(lo, f32),
            xp.astype(hi, f32),
            xp.astype(xp.any((y < 0) | (y >= num_classes)), f32),
        ])

    return stats


def per_sample(model: Model, value: Any, x: Array, *, name: str) -> Array:
    """A non-negative finite scalar or ``(B,)`` array as a ``(B,)`` array in x's dtype.

    Numbers and numpy arrays are checked on the host (no device round trip), backend
    arrays on their device."""
    be = model.backend
    batch = x.shape[0]
    if hasattr(value, "shape") and not isinstance(value, np.ndarray | np.generic):
        return _device_per_sample(model, value, x, name=name)
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be a number or a ({batch},) array, got {value!r}") from err
    if values.ndim == 0:
        values = np.full((batch,), float(values))
    _check_shape(name, tuple(values.shape), batch)
    if not (np.all(np.isfinite(values)) and np.all(values >= 0)):
        _refuse(name, values.tolist())
    return be.asarray(values, dtype=x.dtype)


def _device_per_sample(model: Model, value: Any, x: Array, *, name: str) -> Array:
    be = model.backend
    xp = be.xp
    arr = xp.astype(be.stop_gradient(be.asarray(value)), x.dtype)
    if arr.ndim == 0:
        arr = xp.broadcast_to(arr, (x.shape[0],))
    _check_shape(name, tuple(arr.shape), x.shape[0])
    if not bool(xp.all(xp.isfinite(arr))) or bool(xp.any(arr < 0)):
        _refuse(name, be.to_numpy(arr).tolist())
    return arr


def _check_shape(name: str, shape: tuple[int, ...], batch: int) -> None:
    if shape != (batch,):
        raise InvalidInputError(f"{name} must be a scalar or have shape ({batch},), got shape {shape}")


def _refuse(name: str, values: list[float]) -> None:
    raise InvalidInputError(f"{name} must be finite and >= 0, got {values[:8]}")


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (ConfigError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
