"""Per-sample classification losses on logits ``(B, C)`` and labels ``(B,)`` -> ``(B,)``.

- ``ce``: cross-entropy ``logsumexp(z) - z_y``.
- ``margin``: ``max_{j != y} z_j - z_y`` (positive iff misclassified; C&W's f without kappa).
- ``dlr``: difference of logits ratio ``-(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12)``
  with ``z_(k)`` the k-th largest logit (Croce & Hein 2020, arXiv:2003.01690): invariant
  to shifting and scaling the logits; needs at least 3 classes.

Logits of half-precision models are taken to float32 first: the losses are float32.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.protocols import Array

__all__ = ["LOSSES", "get_loss", "in_float32", "one_hot", "cross_entropy", "margin", "dlr"]


def one_hot(xp: Any, y: Array, num_classes: int, dtype: Any) -> Array:
    """``(B,)`` labels -> ``(B, C)`` one-hot in ``dtype``."""
    classes = xp.arange(num_classes, device=getattr(y, "device", None))
    return xp.astype(xp.reshape(y, (-1, 1)) == xp.reshape(classes, (1, -1)), dtype)


def in_float32(xp: Any, logits: Array) -> Array:
    """Logits of a half-precision model (bfloat16, float16; e.g. under torch autocast) in
    float32, so that losses are computed in float32; wider dtypes are kept."""
    if xp.finfo(logits.dtype).bits < 32:
        return xp.astype(logits, xp.float32)
    return logits


def cross_entropy(xp: Any, logits: Array, y: Array) -> Array:
    """``-log softmax(z)_y``, stable: ``m + log sum exp(z - m) - z_y``."""
    logits = in_float32(xp, logits)
    m = xp.max(logits, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(logits - m), axis=1)) + m[:, 0]
    z_y = xp.sum(logits * one_hot(xp, y, logits.shape[1], logits.dtype), axis=1)
    return lse - z_y


def margin(xp: Any, logits: Array, y: Array) -> Array:
    """``max_{j != y} z_j - z_y``."""
    logits = in_float32(xp, logits)
    mask = one_hot(xp, y, logits.shape[1], logits.dtype)
    z_y = xp.sum(logits * mask, axis=1)
    others = xp.where(mask > 0, xp.asarray(-float("inf"), dtype=logits.dtype), logits)
    return xp.max(others, axis=1) - z_y


def dlr(xp: Any, logits: Array, y: Array) -> Array:
    """Untargeted DLR loss; refuses fewer than 3 classes."""
    if logits.shape[1] < 3:
        raise ConfigError(
            f"the DLR loss needs at least 3 classes (it divides by z_(1) - z_(3)), the model has "
            f"{logits.shape[1]}; use loss='ce' or loss='margin'"
        )
    logits = in_float32(xp, logits)
    z_sorted = xp.sort(logits, axis=1, descending=True)
    return margin(xp, logits, y) / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)


LOSSES: dict[str, Callable[[Any, Array, Array], Array]] = {"ce": cross_entropy, "margin": margin, "dlr": dlr}


def get_loss(name: str) -> Callable[[Any, Array, Array], Array]:
    """The loss called ``name``; unknown names raise ConfigError with a suggestion."""
    if name not in LOSSES:
        close = difflib.get_close_matches(name, list(LOSSES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown loss {name!r}.{hint} Available: {', '.join(LOSSES)}")
    return LOSSES[name]
