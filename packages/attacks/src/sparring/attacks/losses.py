"""Per-sample classification losses on logits, for attacks and defenses alike.

The public face of :mod:`sparring.attacks._losses` (cross-entropy, margin, DLR, one-hot)
plus the softmax-based pieces robust training objectives need (log-softmax, KL).
"""

from __future__ import annotations

from typing import Any

from sparring.core.protocols import Array

from ._losses import LOSSES, cross_entropy, dlr, get_loss, margin, one_hot

__all__ = ["LOSSES", "cross_entropy", "dlr", "get_loss", "kl_divergence", "log_softmax", "margin", "one_hot"]


def log_softmax(xp: Any, logits: Array) -> Array:
    """``z - logsumexp(z)`` along the class axis, stable."""
    m = xp.max(logits, axis=1, keepdims=True)
    shifted = logits - m
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def kl_divergence(xp: Any, log_p: Array, log_q: Array) -> Array:
    """Per-sample ``KL(p || q) = sum_c p_c (log p_c - log q_c)`` from log-probabilities."""
    return xp.sum(xp.exp(log_p) * (log_p - log_q), axis=1)
