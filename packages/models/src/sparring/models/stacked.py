"""The Kasl thesis's StackedModel on either backend (factory of the ``stacked`` entries).

One block of Annotated S4's StackedModel around a sequence layer ``ff``, ``gru``,
``lstm``, ``s4`` or ``s4d``; architecture and parameter layout in
:mod:`sparring.models.torch.stacked` and :mod:`sparring.models.jax.stacked` (identical
names and shapes, so a weights file moves between frameworks unchanged).

How inputs become sequences. A sequence layer reads ``input_shape`` as ``(L, F)``
(``(L,)`` means ``(L, 1)``): L time steps of F features. ``ff`` reads the whole sample
as ONE step of ``prod(input_shape)`` features (the thesis's feed-forward model gets the
flattened image at once). A batch ``x`` may come in any shape ``(B, ...)`` with that
many values per sample and is read in row-major order, so for the MNIST presets
(``input_shape=(784, 1)``, the thesis's ``[784, 1]``) batches shaped ``(B, 784, 1)``,
``(B, 28, 28)`` or ``(B, 1, 28, 28)`` are the same pixel-by-pixel sequence. (Building
with ``input_shape=(28, 28)`` instead gives 28 steps of one image row each.)

Parameter counts of the MNIST presets (d_model 128, F = 1 or 784, 10 classes): ff
151,562, gru 133,642, lstm 166,410, s4 100,618 (the thesis's numbers), s4d 51,466
(state_size 64: N/2 = 32 complex modes per channel).

The s4 count, d = 128, N = 64 (Kasl 2024, ch. 5.1; the layout of Annotated S4's
``S4Layer``, one copy per channel, complex numbers as real pairs)::

    encoder  Linear 1 -> d                     d + d                    =    256
    norm     LayerNorm weight, bias            2 d                      =    256
    seq      Lambda_re, Lambda_im  (d, N)      2 N d                    = 16,384
             P, B, C               (d, N, 2)   3 * 2 N d                = 49,152
             D, log_step           (d,)        2 d                      =    256
    out, gate  Linear d -> d (GLU)             2 (d^2 + d)              = 33,024
    decoder  Linear d -> 10                    10 d + 10                =  1,290
                                                                          100,618

i.e. the shell of the block (34,826) plus ``(8N + 2) d = 65,792``. The same rule gives
the thesis's GTSRB S4 (d 324, N 224, 3 colour features, 43 classes): 807,775.

Recurrent width. ``rnn_hidden`` H gives a ``gru``/``lstm`` cell its own width: the cell
is GRU/LSTM(d -> H), GELU and dropout act on its H-wide output and the GLU's ``out`` and
``gate`` map H -> d back onto the residual stream (``None``: H = d, the layout above).
With F features a step and C classes::

    shell(H) = (F + 1) d + 2 d + 2 (H d + d) + (d + 1) C    encoder, LayerNorm, GLU H -> d, decoder
    gru      = shell(H) + 3 H (d + H) + 4 H                 weight_ih, weight_hh, bias_ih, bias_hn
    lstm     = shell(H) + 4 H (d + H) + 4 H                 weight_ih, weight_hh, bias

The thesis's UrbanSound8K GRU and LSTM (d 240, H 196, F 1, C 2): 353,154 and 438,610.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

from sparring.core.errors import ConfigError, InvalidInputError
from sparring.core.protocols import Backend, Model

from .backends import get_backend

__all__ = ["LAYERS", "check_sample_size", "sequence_shape", "stacked"]

LAYERS = ("ff", "gru", "lstm", "s4", "s4d")


def sequence_shape(layer: str, input_shape: Sequence[int]) -> tuple[int, int]:
    """``(L, F)``: how a sample of ``input_shape`` is read by ``layer`` (see the module doc)."""
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise ConfigError(f"stacked: input_shape must be non-empty and positive, got {tuple(input_shape)!r}")
    if layer == "ff":
        return 1, math.prod(shape)
    if len(shape) == 1:
        return shape[0], 1
    if len(shape) == 2:
        return shape[0], shape[1]
    raise ConfigError(
        f"stacked: a {layer!r} layer reads input_shape as (steps, features), got {shape}; "
        f"give it as (L, F), e.g. (784, 1) for 28x28 images pixel by pixel or "
        f"({math.prod(shape[1:])}, {shape[0]}) for channels-first images (batches are read row-major)"
    )


def check_sample_size(x_shape: tuple[int, ...], seq_len: int, features: int) -> None:
    """Raise InvalidInputError unless a batch of shape ``x_shape`` holds ``L * F`` values per sample."""
    if len(x_shape) < 2 or math.prod(x_shape[1:]) != seq_len * features:
        raise InvalidInputError(
            f"stacked model expects batches (B, ...) of {seq_len} x {features} = {seq_len * features} "
            f"values per sample, got shape {x_shape}"
        )


def _check(
    layer: str, d_model: int, state_size: int, n_layers: int, num_classes: int, dropout: float, rnn_hidden: int | None
) -> None:
    if layer not in LAYERS:
        hint = difflib.get_close_matches(str(layer), LAYERS, n=1)
        raise ConfigError(
            f"stacked: unknown layer {layer!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; known: {', '.join(LAYERS)}"
        )
    if d_model < 1 or n_layers < 1 or num_classes < 2:
        raise ConfigError(
            f"stacked: need d_model >= 1, n_layers >= 1, num_classes >= 2; got d_model={d_model}, "
            f"n_layers={n_layers}, num_classes={num_classes}"
        )
    if layer == "s4d" and (state_size < 2 or state_size % 2):
        raise ConfigError(
            f"stacked: s4d state_size N must be even and >= 2 (N/2 complex modes), got {state_size}"
        )
    if layer == "s4" and state_size < 1:
        raise ConfigError(f"stacked: s4 state_size N must be >= 1 (N complex states), got {state_size}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"stacked: dropout is a rate in [0, 1), got {dropout}")
    if rnn_hidden is not None and layer not in ("gru", "lstm"):
        raise ConfigError(
            f"stacked: rnn_hidden (a recurrent cell's width) only applies to layer 'gru' or 'lstm', "
            f"got layer {layer!r} with rnn_hidden={rnn_hidden}; leave it None (e.g. rnn_hidden=None when "
            f"overriding the layer of a gru/lstm preset)"
        )
    if rnn_hidden is not None and rnn_hidden < 1:
        raise ConfigError(f"stacked: rnn_hidden must be >= 1 (or None for d_model), got {rnn_hidden}")


def stacked(
    *,
    backend: str | Backend = "torch",
    device: str = "cpu",
    seed: int = 0,
    layer: str = "s4d",
    input_shape: Sequence[int] = (784, 1),
    d_model: int = 128,
    state_size: int = 64,
    n_layers: int = 1,
    num_classes: int = 10,
    dropout: float = 0.0,
    value_range: Sequence[float] = (0.0, 1.0),
    dtype: str = "float32",
    rnn_hidden: int | None = None,
) -> Model:
    """Annotated S4's StackedModel with sequence layer ``layer`` returning logits ``(B, num_classes)``.

    Args:
        layer: ``"ff"`` (Linear per step), ``"gru"``, ``"lstm"`` (hidden size
            ``rnn_hidden``, Flax bias layout), ``"s4"`` (DPLR SSM, HiPPO-LegS init, kernel of length L)
            or ``"s4d"`` (diagonal SSM, S4D-Lin init).
        input_shape: ``(L, F)`` or ``(L,)`` per sample (any shape for ``ff``).
        d_model: channels of the encoder, the residual stream and the decoder (and the
            recurrent state when ``rnn_hidden`` is None).
        state_size: S4's N (N complex states per channel) or S4D's N (N/2 complex
            modes per channel); unused by the other layers.
        n_layers: number of sequence blocks (the thesis uses 1).
        dropout: rate of the blocks' dropouts (one mask per sample and channel); off in eval.
        value_range: metadata for attacks (the thesis scales inputs to [-1, 1]).
        seed: initial weights (torch and jax draw different numbers for one seed; copy
            weights with ``save``/``load`` to compare frameworks).
        rnn_hidden: width H of a ``gru``/``lstm`` cell (GRU/LSTM d_model -> H, GLU
            H -> d_model); None means d_model. Must stay None for the other layers.
    """
    layer, d_model, state_size = str(layer), int(d_model), int(state_size)
    n_layers, num_classes, dropout = int(n_layers), int(num_classes), float(dropout)
    rnn_hidden = None if rnn_hidden is None else int(rnn_hidden)
    _check(layer, d_model, state_size, n_layers, num_classes, dropout, rnn_hidden)
    seq_len, features = sequence_shape(layer, input_shape)
    be = get_backend(backend, device)
    sizes: dict[str, Any] = dict(
        d_model=d_model,
        state_size=state_size,
        n_layers=n_layers,
        num_classes=num_classes,
        dropout=dropout,
        rnn_hidden=rnn_hidden,
    )
    meta: dict[str, Any] = dict(
        input_shape=tuple(int(d) for d in input_shape),
        num_classes=num_classes,
        value_range=tuple(value_range),
        name=f"stacked-{layer}",
    )
    if be.name == "torch":
        import torch

        from .torch.model import TorchModel
        from .torch.stacked import StackedModel

        generator = torch.Generator().manual_seed(int(seed))
        module = StackedModel(layer, seq_len, features, generator=generator, dtype=getattr(torch, dtype), **sizes)
        return TorchModel(module, backend=be, **meta)
    if be.name == "jax":
        import jax
        from flax import nnx

        from .jax.model import JaxModel
        from .jax.stacked import StackedModel as JaxStackedModel

        if dtype == "float64" and not jax.config.jax_enable_x64:
            raise ConfigError("dtype='float64' on jax needs 64-bit mode: jax.config.update('jax_enable_x64', True)")
        module = JaxStackedModel(layer, seq_len, features, rngs=nnx.Rngs(int(seed)), dtype=dtype, **sizes)
        return JaxModel(module, backend=be, **meta)
    raise ConfigError(f"stacked: no implementation for backend {be.name!r}; available: torch, jax")
