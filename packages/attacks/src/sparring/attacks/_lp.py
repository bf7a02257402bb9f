"""Lp-norm pieces shared by every gradient attack, keyed by ``norm``.

Each reduces over all non-batch axes, so images, sequences and audio are handled alike.
``eps`` arguments are ``(B,)`` arrays; :func:`bcast` lifts them to ``x``'s rank.
"""

from __future__ import annotations

from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Backend, Key

__all__ = [
    "NORMS",
    "check_norm",
    "bcast",
    "lp_norm",
    "steepest_direction",
    "project_ball",
    "random_in_ball",
    "clip_to_range",
]

NORMS = ("linf", "l2", "l1", "l0")
TINY = 1e-12
"""Floor of norms that are divided by (a zero gradient gives a zero direction)."""


def check_norm(norm: str, supported: tuple[str, ...]) -> str:
    """``norm`` if this attack supports it, else a ConfigError listing the supported ones."""
    if norm not in supported:
        raise ConfigError(f"norm {norm!r} is not supported here; use one of {', '.join(supported)}")
    return norm


def bcast(xp: Any, v: Array, like: Array) -> Array:
    """``(B,)`` -> ``(B, 1, ..., 1)`` broadcastable against ``like``."""
    return xp.reshape(v, (v.shape[0],) + (1,) * (like.ndim - 1))


def lp_norm(xp: Any, delta: Array, norm: str) -> Array:
    """Per-sample norm ``||delta_i||_p`` -> ``(B,)``."""
    flat = xp.reshape(delta, (delta.shape[0], -1))
    if norm == "linf":
        return xp.max(xp.abs(flat), axis=1)
    if norm == "l2":
        return xp.sqrt(xp.sum(flat * flat, axis=1))
    if norm == "l1":
        return xp.sum(xp.abs(flat), axis=1)
    if norm == "l0":
        return xp.sum(xp.astype(flat != 0, delta.dtype), axis=1)
    raise ConfigError(f"unknown norm {norm!r}; use one of {', '.join(NORMS)}")


def steepest_direction(xp: Any, grad: Array, norm: str) -> Array:
    """Steepest ascent direction of unit p-norm: sign(g) for linf, g/||g||_2 for l2."""
    if norm == "linf":
        return xp.sign(grad)
    if norm == "l2":
        n = lp_norm(xp, grad, "l2")
        return grad / bcast(xp, xp.maximum(n, xp.asarray(TINY, dtype=n.dtype)), grad)
    raise ConfigError(f"no steepest direction for norm {norm!r} (supported: linf, l2)")


def project_ball(xp: Any, delta: Array, eps: Array, norm: str) -> Array:
    """Euclidean projection of each ``delta_i`` onto ``{||d||_p <= eps_i}``."""
    e = bcast(xp, eps, delta)
    if norm == "linf":
        return xp.minimum(xp.maximum(delta, -e), e)
    if norm == "l2":
        n = bcast(xp, lp_norm(xp, delta, "l2"), delta)
        factor = xp.minimum(xp.ones_like(n), e / xp.maximum(n, xp.asarray(TINY, dtype=n.dtype)))
        return delta * factor
    raise ConfigError(f"no projection for norm {norm!r} (supported: linf, l2)")


def random_in_ball(be: Backend, key: Key, like: Array, eps: Array, norm: str) -> Array:
    """A uniform sample from the eps_i-ball of ``norm`` for every sample (shape of ``like``)."""
    xp = be.xp
    e = bcast(xp, eps, like)
    if norm == "linf":
        return be.uniform(key, like.shape, low=-e, high=e, dtype=like.dtype)
    if norm == "l2":
        k_dir, k_rad = be.split(key, 2)
        g = be.normal(k_dir, like.shape, dtype=like.dtype)
        d = g / bcast(xp, xp.maximum(lp_norm(xp, g, "l2"), xp.asarray(TINY, dtype=like.dtype)), g)
        dim = 1
        for s in like.shape[1:]:
            dim *= int(s)
        r = be.uniform(k_rad, (like.shape[0],), dtype=like.dtype) ** (1.0 / dim)
        return d * bcast(xp, r, like) * e
    raise ConfigError(f"no random start for norm {norm!r} (supported: linf, l2)")


def clip_to_range(xp: Any, x: Array, value_range: tuple[float, float]) -> Array:
    """Clip to the data range ``[lo, hi]`` of the model / dataset."""
    lo, hi = value_range
    return xp.clip(x, lo, hi)
