"""The StackedModel of Annotated S4 (the Kasl thesis's models), flax.nnx side.

Same architecture, parameter names and ``(out, in)`` layouts as
:mod:`sparring.models.torch.stacked` (read its docstring)::

    h = encoder(x (B, L, F))                  -> (B, L, d)
    per block: h = h + drop(out(z) * sigmoid(gate(z))),  z = drop(gelu(seq(norm(h))))  (B, L, W)
    logits = decoder(mean_t h)                -> (B, C)

W = d, or ``rnn_hidden`` H for a ``gru``/``lstm`` layer given one (cell d -> H, GLU H -> d).

Dropout is ``nnx.Dropout(broadcast_dims=(1,))`` (one mask per sample and channel, shared
over time) and follows ``train()``/``eval()``; GELU is the tanh approximation; LayerNorm
has eps 1e-6 and torch's parameter names ``weight``/``bias``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from sparring.core.errors import ConfigError

from ..stacked import check_sample_size
from .dense import Linear
from .rnn import GRU, LSTM
from .s4 import S4
from .s4d import S4D

__all__ = ["LayerNorm", "SequenceBlock", "StackedModel"]


class LayerNorm(nnx.Module):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last axis (torch's names)."""

    def __init__(self, d_model: int, *, eps: float = 1e-6, dtype: Any = jnp.float32) -> None:
        self.eps = eps
        self.weight = nnx.Param(jnp.ones((d_model,), jnp.dtype(dtype)))  # (d,)
        self.bias = nnx.Param(jnp.zeros((d_model,), jnp.dtype(dtype)))  # (d,)

    def __call__(self, x: jax.Array) -> jax.Array:
        mean = x.mean(-1, keepdims=True)  # (..., 1)
        var = jnp.square(x - mean).mean(-1, keepdims=True)  # (..., 1), biased like torch
        return (x - mean) * jax.lax.rsqrt(var + self.eps) * self.weight[...] + self.bias[...]


def _sequence_layer(
    layer: str,
    d_model: int,
    state_size: int,
    seq_len: int | None,
    *,
    rnn_hidden: int | None = None,
    rngs: nnx.Rngs,
    dtype: Any,
) -> nnx.Module:
    if rnn_hidden is not None and layer not in ("gru", "lstm"):
        raise ConfigError(f"rnn_hidden only applies to a 'gru' or 'lstm' sequence layer, got {layer!r}")
    hidden = d_model if rnn_hidden is None else rnn_hidden
    if layer == "ff":
        return Linear(d_model, d_model, rngs=rngs, dtype=dtype)
    if layer == "gru":
        return GRU(d_model, hidden, rngs=rngs, dtype=dtype)
    if layer == "lstm":
        return LSTM(d_model, hidden, rngs=rngs, dtype=dtype)
    if layer == "s4":
        if seq_len is None:
            raise ConfigError("an s4 sequence layer needs seq_len, the length of its convolution kernel")
        return S4(d_model, state_size, seq_len, rngs=rngs, dtype=dtype)
    if layer == "s4d":
        return S4D(d_model, state_size, rngs=rngs, dtype=dtype)
    raise ConfigError(f"unknown sequence layer {layer!r}; known: ff, gru, lstm, s4, s4d")


class SequenceBlock(nnx.Module):
    """Pre-norm residual block around one sequence layer: ``(B, L, d) -> (B, L, d)``.

    ``seq_len`` is the kernel length of an ``s4`` layer, which needs it (longer inputs
    are refused); the other layers ignore it. ``rnn_hidden`` is the width W of a
    ``gru``/``lstm`` cell (None: d); the GLU maps it back to d.
    """

    def __init__(
        self,
        layer: str,
        d_model: int,
        state_size: int,
        dropout: float,
        *,
        seq_len: int | None = None,
        rnn_hidden: int | None = None,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        width = d_model if rnn_hidden is None else rnn_hidden
        self.norm = LayerNorm(d_model, dtype=dtype)
        self.seq = _sequence_layer(
            layer, d_model, state_size, seq_len, rnn_hidden=rnn_hidden, rngs=rngs, dtype=dtype
        )
        self.out = Linear(width, d_model, rngs=rngs, dtype=dtype)
        self.gate = Linear(width, d_model, rngs=rngs, dtype=dtype)
        self.drop = nnx.Dropout(dropout, broadcast_dims=(1,), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        z = self.seq(self.norm(x))  # (B, L, W)
        z = self.drop(jax.nn.gelu(z, approximate=True))  # (B, L, W)
        z = self.out(z) * jax.nn.sigmoid(self.gate(z))  # (B, L, d)
        return x + self.drop(z)  # (B, L, d)


class StackedModel(nnx.Module):
    """Encoder, ``n_layers`` sequence blocks, mean over time, decoder: ``(B, *input) -> (B, C)``."""

    def __init__(
        self,
        layer: str,
        seq_len: int,
        features: int,
        *,
        d_model: int,
        state_size: int,
        n_layers: int,
        num_classes: int,
        dropout: float,
        rnn_hidden: int | None = None,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        self.seq_len, self.features = seq_len, features
        self.encoder = Linear(features, d_model, rngs=rngs, dtype=dtype)
        self.blocks = nnx.List(
            [
                SequenceBlock(
                    layer,
                    d_model,
                    state_size,
                    dropout,
                    seq_len=seq_len,
                    rnn_hidden=rnn_hidden,
                    rngs=rngs,
                    dtype=dtype,
                )
                for _ in range(n_layers)
            ]
        )
        self.decoder = Linear(d_model, num_classes, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_sample_size(tuple(x.shape), self.seq_len, self.features)
        h = x.reshape(x.shape[0], self.seq_len, self.features)  # (B, L, F)
        h = self.encoder(h)  # (B, L, d)
        for block in self.blocks:
            h = block(h)  # (B, L, d)
        return self.decoder(h.mean(axis=1))  # (B, C)
