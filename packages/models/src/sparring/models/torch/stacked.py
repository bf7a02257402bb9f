"""The StackedModel of Annotated S4 (the Kasl thesis's models), torch side.

``x (B, *input_shape)`` is read row-major as ``(B, L, F)``, then::

    h = encoder(x)                                      Linear F -> d      (B, L, d)
    n_layers x SequenceBlock:
        z = seq(LayerNorm(h))                           ff | gru | lstm | s4 | s4d    (B, L, W)
        z = dropout(gelu(z))
        z = out(z) * sigmoid(gate(z))                   GLU, two Linear W -> d
        h = h + dropout(z)                              residual
    logits = decoder(mean_over_time(h))                 Linear d -> C      (B, C)

W = d except for a ``gru``/``lstm`` layer given ``rnn_hidden`` H: a GRU/LSTM(d -> H) cell,
W = H (the Kasl thesis's UrbanSound8K recurrent models, cells 196 wide in d = 240).

Dropout keeps or drops a whole channel for all time steps of a sample (Flax
``Dropout(broadcast_dims=[0])`` in Annotated S4 = ``F.dropout1d`` over ``(B, d, L)``);
GELU is the tanh approximation (Flax's ``nn.gelu`` default); LayerNorm has eps 1e-6
(Flax's default). Linear layers use torch's layout and initialisation.

Parameter names: ``encoder.{weight,bias}``, ``blocks.{i}.norm.{weight,bias}``,
``blocks.{i}.seq.*`` (see :mod:`.rnn`, :mod:`.s4`, :mod:`.s4d`; ``ff`` is one Linear:
``blocks.{i}.seq.{weight,bias}``), ``blocks.{i}.out.*``, ``blocks.{i}.gate.*`` (weights
``(d, W)``),
``decoder.{weight,bias}``; identical in :mod:`sparring.models.jax.stacked`.

Reference: S. Rush, S. Karamcheti, "The Annotated S4" (``s4/s4.py``: ``SequenceBlock``,
``StackedModel``); J. Kasl, 2024 thesis (``references/``), chapters 4-5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sparring.core.errors import ConfigError

from ..stacked import check_sample_size
from .rnn import GRU, LSTM
from .s4 import S4
from .s4d import S4D

__all__ = ["SequenceBlock", "StackedModel", "TiedDropout", "make_linear"]


def make_linear(
    in_features: int, out_features: int, *, generator: torch.Generator | None, dtype: torch.dtype
) -> nn.Linear:
    """``nn.Linear`` with torch's default init drawn from ``generator`` (no global RNG use)."""
    layer = nn.utils.skip_init(nn.Linear, in_features, out_features, dtype=dtype)
    bound = in_features**-0.5
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


class TiedDropout(nn.Module):
    """Dropout on ``(B, L, d)`` with one mask per sample and channel, shared over time."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        return F.dropout1d(x.transpose(1, 2), self.rate, training=True).transpose(1, 2)  # (B, L, d)


def _sequence_layer(
    layer: str,
    d_model: int,
    state_size: int,
    seq_len: int | None,
    *,
    rnn_hidden: int | None = None,
    generator: torch.Generator | None,
    dtype: torch.dtype,
) -> nn.Module:
    if rnn_hidden is not None and layer not in ("gru", "lstm"):
        raise ConfigError(f"rnn_hidden only applies to a 'gru' or 'lstm' sequence layer, got {layer!r}")
    hidden = d_model if rnn_hidden is None else rnn_hidden
    if layer == "ff":
        return make_linear(d_model, d_model, generator=generator, dtype=dtype)
    if layer == "gru":
        return GRU(d_model, hidden, generator=generator, dtype=dtype)
    if layer == "lstm":
        return LSTM(d_model, hidden, generator=generator, dtype=dtype)
    if layer == "s4":
        if seq_len is None:
            raise ConfigError("an s4 sequence layer needs seq_len, the length of its convolution kernel")
        return S4(d_model, state_size, seq_len, generator=generator, dtype=dtype)
    if layer == "s4d":
        return S4D(d_model, state_size, generator=generator, dtype=dtype)
    raise ConfigError(f"unknown sequence layer {layer!r}; known: ff, gru, lstm, s4, s4d")


class SequenceBlock(nn.Module):
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
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        width = d_model if rnn_hidden is None else rnn_hidden
        self.norm = nn.LayerNorm(d_model, eps=1e-6, dtype=dtype)
        self.seq = _sequence_layer(
            layer, d_model, state_size, seq_len, rnn_hidden=rnn_hidden, generator=generator, dtype=dtype
        )
        self.out = make_linear(width, d_model, generator=generator, dtype=dtype)
        self.gate = make_linear(width, d_model, generator=generator, dtype=dtype)
        self.drop = TiedDropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.seq(self.norm(x))  # (B, L, W)
        z = self.drop(F.gelu(z, approximate="tanh"))  # (B, L, W)
        z = self.out(z) * torch.sigmoid(self.gate(z))  # (B, L, d)
        return x + self.drop(z)  # (B, L, d)


class StackedModel(nn.Module):
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
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.seq_len, self.features = seq_len, features
        self.encoder = make_linear(features, d_model, generator=generator, dtype=dtype)
        self.blocks = nn.ModuleList(
            SequenceBlock(
                layer,
                d_model,
                state_size,
                dropout,
                seq_len=seq_len,
                rnn_hidden=rnn_hidden,
                generator=generator,
                dtype=dtype,
            )
            for _ in range(n_layers)
        )
        self.decoder = make_linear(d_model, num_classes, generator=generator, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sample_size(tuple(x.shape), self.seq_len, self.features)
        h = x.reshape(x.shape[0], self.seq_len, self.features)  # (B, L, F)
        h = self.encoder(h)  # (B, L, d)
        for block in self.blocks:
            h = block(h)  # (B, L, d)
        return self.decoder(h.mean(dim=1))  # (B, C)
