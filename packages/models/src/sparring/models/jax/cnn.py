"""Small convolutional classifier, flax.nnx side.

Same architecture, parameter names and layouts as :mod:`sparring.models.torch.cnn`
(read its docstring). The computation is NHWC (XLA's fast layout on CPU); the conv
kernels are stored in torch's ``(out, in, kh, kw)`` layout and passed to
``lax.conv_general_dilated`` as ``OIHW``, and the features are flattened in torch's
``(C, H, W)`` order, so a weights file loads unchanged in either framework.

The layers' arithmetic is in small jitted functions (:func:`conv2d`, ...): eager JAX
compiles every operation for every new shape, and one program per layer is fewer
compilations than one per operation (a whole-model program compiles slower still, as
train and eval mode and their gradients would each compile the whole network).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..cnn import flat_features
from ..image import check_image_batch
from .dense import Linear

__all__ = [
    "CNN",
    "Conv2d",
    "HostInitLinear",
    "affine",
    "conv2d",
    "init_rng",
    "max_pool2",
    "relu_max_pool2",
    "to_nhwc",
]


def init_rng(rngs: nnx.Rngs) -> np.random.Generator:
    """A numpy generator seeded from the next ``params`` key of ``rngs``.

    Initial weights are drawn with it on the host: eager ``jax.random`` compiles one XLA
    program per parameter shape (seconds each on a busy CPU), numpy compiles nothing.
    The same ``rngs`` seed still gives the same weights.
    """
    return np.random.default_rng(np.asarray(jax.random.key_data(rngs.params())))


def to_nhwc(x: jax.Array, hwc: tuple[int, int, int], model: str) -> jax.Array:
    """Channels-last ``(B, H, W, C)`` or ``(B, H, W)`` (C = 1) as ``(B, H, W, C)``."""
    check_image_batch(model, tuple(x.shape), hwc)
    return x.reshape(x.shape[0], *hwc)


def max_pool2(x: jax.Array) -> jax.Array:
    """2x2 max-pool with stride 2 on ``(B, H, W, C)`` (odd sizes floored, as torch)."""
    # a Python -inf (a literal even under jit) lets lax pick reduce_window_max, which has a VJP
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


@jax.jit
def relu_max_pool2(x: jax.Array) -> jax.Array:
    """ReLU, then :func:`max_pool2` (one program)."""
    return max_pool2(jax.nn.relu(x))


@jax.jit
def affine(x: jax.Array, weight: jax.Array, bias: jax.Array) -> jax.Array:
    """``x W^T + b`` with torch's ``weight (out, in)`` (one program)."""
    return x @ weight.T + bias


@functools.partial(jax.jit, static_argnames=("stride", "padding"))
def conv2d(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    *,
    stride: int,
    padding: tuple[tuple[int, int], tuple[int, int]],
) -> jax.Array:
    """``(B, H, W, in)`` convolved with a torch-layout kernel ``(out, in, kh, kw)``, plus ``bias``."""
    y = jax.lax.conv_general_dilated(
        x, weight, (stride, stride), padding, dimension_numbers=("NHWC", "OIHW", "NHWC")
    )  # (B, H', W', out)
    return y if bias is None else y + bias


def _padding(padding: int | str, kernel_size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    if padding == "same":  # torch's split for stride 1: the extra pixel of an even kernel goes last
        lo = (kernel_size - 1) // 2
        pair = (lo, kernel_size - 1 - lo)
    elif padding == "valid":
        pair = (0, 0)
    else:
        pair = (int(padding), int(padding))
    return (pair, pair)


class Conv2d(nnx.Module):
    """2-D convolution on NHWC inputs with torch's parameters ``weight (out, in, kh, kw)``, ``bias (out,)``.

    Initialised like :func:`sparring.models.torch.cnn.make_conv2d`: U(+-1/sqrt(fan_in))
    (torch's default), or N(0, init_std^2) weights when ``init_std`` is given.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int | str = 0,
        bias: bool = True,
        init_std: float | None = None,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        bound = (in_channels * kernel_size * kernel_size) ** -0.5
        dt, rng = jnp.dtype(dtype), init_rng(rngs)
        if init_std is None:
            weight = rng.uniform(-bound, bound, shape)
        else:
            weight = rng.normal(0.0, init_std, shape)
        self.weight = nnx.Param(jnp.asarray(weight.astype(dt)))  # (out, in, kh, kw)
        self.bias = nnx.Param(jnp.asarray(rng.uniform(-bound, bound, out_channels).astype(dt))) if bias else None
        self.stride = int(stride)
        self.padding = _padding(padding, kernel_size)

    def __call__(self, x: jax.Array) -> jax.Array:
        bias = None if self.bias is None else self.bias[...]
        return conv2d(x, self.weight[...], bias, stride=self.stride, padding=self.padding)  # (B, H', W', out)


class HostInitLinear(Linear):
    """:class:`sparring.models.jax.dense.Linear` (torch's names, layout and U(+-1/sqrt(in))
    init) with the initial weights drawn by :func:`init_rng` and a jitted :func:`affine`."""

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs, dtype: Any = jnp.float32) -> None:
        bound = in_features**-0.5
        dt, rng = jnp.dtype(dtype), init_rng(rngs)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nnx.Param(jnp.asarray(rng.uniform(-bound, bound, (out_features, in_features)).astype(dt)))
        self.bias = nnx.Param(jnp.asarray(rng.uniform(-bound, bound, out_features).astype(dt)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return affine(x, self.weight[...], self.bias[...])  # (B, out)


class CNN(nnx.Module):
    """Conv/ReLU/max-pool stages, then a ReLU MLP head: ``(B, H, W, C) -> (B, num_classes)``."""

    def __init__(
        self,
        hwc: tuple[int, int, int],
        *,
        channels: Sequence[int],
        kernel_size: int,
        padding: str,
        hidden: Sequence[int],
        num_classes: int,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        self.hwc = hwc
        ins = [hwc[2], *channels]
        self.convs = nnx.List(
            [Conv2d(a, b, kernel_size, padding=padding, rngs=rngs, dtype=dtype) for a, b in zip(ins, ins[1:])]
        )
        sizes = [flat_features(hwc, channels, kernel_size, padding), *hidden]
        self.layers = nnx.List([HostInitLinear(a, b, rngs=rngs, dtype=dtype) for a, b in zip(sizes, sizes[1:])])
        self.head = HostInitLinear(sizes[-1], num_classes, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = to_nhwc(x, self.hwc, "cnn")  # (B, H, W, C)
        for conv in self.convs:
            h = relu_max_pool2(conv(h))  # (B, H', W', c)
        h = h.transpose(0, 3, 1, 2).reshape(h.shape[0], -1)  # (B, c * H' * W'), torch's order
        for layer in self.layers:
            h = jax.nn.relu(layer(h))  # (B, hidden)
        return self.head(h)  # (B, num_classes)
