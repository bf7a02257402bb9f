"""Lp-norm pieces shared by every gradient attack, keyed by ``norm``.

Each reduces over all non-batch axes, so images, sequences and audio are handled alike.
``eps`` arguments are ``(B,)`` arrays; :func:`bcast` lifts them to ``x``'s rank.

The L1 pieces:

- projection (Duchi et al. 2008, "Efficient projections onto the l1-ball for learning in
  high dimensions", ICML; Algorithm 1 batched): with ``u = sort(|v|)`` descending,
  ``θ = max(0, max_j (Σ_{i<=j} u_i - ε) / j)`` and ``Π(v) = sign(v) · max(|v| - θ, 0)``
  (the maximum over j is attained at Duchi's ρ, so no gather is needed; θ = 0 when v is
  already inside the ball);
- steepest direction: SLIDE's sparse direction (Tramèr & Boneh 2019, "Adversarial
  training and robustness for multiple perturbations", NeurIPS, arXiv:1904.13000):
  ``e_i = sign(g_i)`` where ``|g_i| >= P_q(|g|)`` (the q-quantile of the sample's ``|g|``,
  "lower" interpolation), else 0, then ``e / ||e||_1``. Optionally (``x`` and
  ``value_range`` given) coordinates at a bound whose gradient points out of the box are
  zeroed first, as foolbox's and cleverhans' SparseL1Descent do;
- uniform sample: ``ε · r · s ⊙ w / ||w||_1`` with ``w_i ~ Exp(1)``, ``s_i`` random signs
  and ``r = u^{1/d}``, ``u ~ U(0, 1)`` (``w / ||w||_1`` is uniform on the simplex).
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
    "L1_QUANTILE",
    "check_quantile",
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
        return xp.linalg.vector_norm(flat, axis=1)  # one pass over the rows
    if norm == "l1":
        return xp.linalg.vector_norm(flat, axis=1, ord=1)
    if norm == "l0":
        return xp.sum(xp.astype(flat != 0, delta.dtype), axis=1)
    raise ConfigError(f"unknown norm {norm!r}; use one of {', '.join(NORMS)}")


L1_QUANTILE = 0.99
"""Default q of the sparse L1 direction: the top 1% of |g| (foolbox, cleverhans: 99)."""


def check_quantile(q: Any) -> float:
    """``q`` if it is a number in [0, 1), else a ConfigError."""
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 <= q < 1.0:
        raise ConfigError(f"the L1 quantile q must be a number in [0, 1) (0.99 keeps the top 1% of |g|), got {q!r}")
    return float(q)


def steepest_direction(
    xp: Any,
    grad: Array,
    norm: str,
    *,
    q: float = L1_QUANTILE,
    x: Array | None = None,
    value_range: tuple[float, float] | None = None,
) -> Array:
    """Steepest ascent direction of unit p-norm: sign(g) for linf, g/||g||_2 for l2, and
    SLIDE's sparse ``sign(g) · [|g| >= P_q(|g|)] / count`` for l1 (module docstring).

    ``q``, ``x`` and ``value_range`` concern l1 only: with ``x`` (the current iterate) and
    ``value_range`` given, coordinates at a bound whose gradient points outwards take no
    part (a step there would be clipped away). A zero gradient gives a zero direction.
    """
    if norm == "linf":
        return xp.sign(grad)
    if norm == "l2":
        n = lp_norm(xp, grad, "l2")
        return grad / bcast(xp, xp.maximum(n, xp.asarray(TINY, dtype=n.dtype)), grad)
    if norm == "l1":
        q = check_quantile(q)
        if x is not None and value_range is not None:
            lo, hi = value_range
            outward = ((x <= lo) & (grad < 0)) | ((x >= hi) & (grad > 0))
            grad = xp.where(outward, xp.zeros_like(grad), grad)
        flat = xp.reshape(grad, (grad.shape[0], -1))  # (B, d)
        d = flat.shape[1]
        mag = xp.abs(flat)
        threshold = xp.sort(mag, axis=1)[:, int(q * (d - 1)) : int(q * (d - 1)) + 1]  # (B, 1) "lower" quantile
        e = xp.where(mag >= threshold, xp.sign(flat), xp.zeros_like(flat))
        count = xp.sum(xp.abs(e), axis=1, keepdims=True)  # (B, 1), 0 for a zero gradient
        e = e / xp.maximum(count, xp.ones_like(count))
        return xp.reshape(e, grad.shape)
    raise ConfigError(f"no steepest direction for norm {norm!r} (supported: linf, l2, l1)")


def project_ball(xp: Any, delta: Array, eps: Array, norm: str) -> Array:
    """Euclidean projection of each ``delta_i`` onto ``{||d||_p <= eps_i}``."""
    e = bcast(xp, eps, delta)
    if norm == "linf":
        return xp.minimum(xp.maximum(delta, -e), e)
    if norm == "l2":
        n = bcast(xp, lp_norm(xp, delta, "l2"), delta)
        factor = xp.minimum(xp.ones_like(n), e / xp.maximum(n, xp.asarray(TINY, dtype=n.dtype)))
        return delta * factor
    if norm == "l1":
        flat = xp.reshape(delta, (delta.shape[0], -1))  # (B, d)
        mag = xp.abs(flat)
        u = xp.sort(mag, axis=1, descending=True)  # (B, d)
        j = xp.arange(1, flat.shape[1] + 1, dtype=flat.dtype, device=getattr(flat, "device", None))
        css = xp.cumulative_sum(u, axis=1)  # (B, d)
        theta = xp.max((css - xp.reshape(eps, (-1, 1))) / j, axis=1, keepdims=True)  # (B, 1)
        theta = xp.maximum(theta, xp.zeros_like(theta))  # inside the ball: θ = 0, v unchanged
        shrunk = xp.maximum(mag - theta, xp.zeros_like(mag))
        return xp.reshape(xp.sign(flat) * shrunk, delta.shape)
    raise ConfigError(f"no projection for norm {norm!r} (supported: linf, l2, l1)")


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
    if norm == "l1":
        k_exp, k_sign, k_rad = be.split(key, 3)
        u = be.uniform(k_exp, like.shape, dtype=like.dtype)
        w = -xp.log1p(-u)  # Exp(1): u in [0, 1) so 1 - u > 0
        d = be.sign(k_sign, like.shape, dtype=like.dtype) * w
        d = d / bcast(xp, xp.maximum(lp_norm(xp, d, "l1"), xp.asarray(TINY, dtype=like.dtype)), d)
        dim = 1
        for s in like.shape[1:]:
            dim *= int(s)
        r = be.uniform(k_rad, (like.shape[0],), dtype=like.dtype) ** (1.0 / dim)
        return d * bcast(xp, r, like) * e
    raise ConfigError(f"no random start for norm {norm!r} (supported: linf, l2, l1)")


def clip_to_range(xp: Any, x: Array, value_range: tuple[float, float]) -> Array:
    """Clip to the data range ``[lo, hi]`` of the model / dataset."""
    lo, hi = value_range
    return xp.clip(x, lo, hi)
