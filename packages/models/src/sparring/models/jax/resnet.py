"""ResNet-18, CIFAR variant, flax.nnx side.

Same architecture, parameter names and layouts as :mod:`sparring.models.torch.resnet`
(read its docstring); the computation is NHWC, the conv kernels are stored as torch's
``(out, in, kh, kw)``; layers compute through small jitted functions and initial weights
are drawn on the host, as in :mod:`sparring.models.jax.cnn`.

:class:`BatchNorm2d` is torch's ``nn.BatchNorm2d`` rather than ``nnx.BatchNorm``, so the
two frameworks agree step for step: torch's names (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``), torch's momentum convention
(``running = (1 - m) * running + m * batch`` with m = 0.1, which is nnx's momentum 0.9),
and the running variance updated with the UNBIASED batch variance (nnx uses the biased
one), while the batch is normalised with the biased one; eps 1e-5.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import errors, nnx

from sparring.core.errors import InvalidInputError

from .cnn import Conv2d, HostInitLinear, to_nhwc

__all__ = ["BasicBlock", "BatchNorm2d", "ResNet", "batch_norm_eval", "batch_norm_train"]


@functools.partial(jax.jit, static_argnames=("momentum", "eps"))
def batch_norm_train(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array,
    running_mean: jax.Array,
    running_var: jax.Array,
    *,
    momentum: float,
    eps: float,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Normalise ``x (B, H, W, C)`` with its batch statistics; also return the updated running ones."""
    n = x.shape[0] * x.shape[1] * x.shape[2]
    mean = x.mean(axis=(0, 1, 2))  # (C,)
    var = jnp.square(x - mean).mean(axis=(0, 1, 2))  # (C,), biased: used to normalise
    y = (x - mean) * jax.lax.rsqrt(var + eps) * weight + bias
    new_mean = (1 - momentum) * running_mean + momentum * jax.lax.stop_gradient(mean)
    new_var = (1 - momentum) * running_var + momentum * jax.lax.stop_gradient(var) * (n / (n - 1))  # unbiased
    return y, new_mean, new_var


@functools.partial(jax.jit, static_argnames=("eps",))
def batch_norm_eval(
    x: jax.Array, weight: jax.Array, bias: jax.Array, mean: jax.Array, var: jax.Array, *, eps: float
) -> jax.Array:
    """Normalise ``x (B, H, W, C)`` with the running statistics."""
    return (x - mean) * jax.lax.rsqrt(var + eps) * weight + bias


class BatchNorm2d(nnx.Module):
    """Batch normalisation over ``(B, H, W)`` of NHWC inputs, with torch's semantics and names.

    ``use_running_average`` (set by ``nnx.Module.eval()``/``train()``) picks eval mode.
    In train mode the running statistics and ``num_batches_tracked`` are updated in place
    when the module's state can be written in the current trace: eagerly, or inside nnx
    transforms (``nnx.jit``, ``nnx.value_and_grad``) that receive the module. Under a plain
    JAX transformation that closes over the module (``jax.grad``, ``jax.jit``, the jax
    Backend's ``value_and_grad``) the state cannot leave the trace: the batch is still
    normalised with its own statistics (and differentiated through them), but the running
    statistics stay as they were, with a RuntimeWarning (torch would update them).
    """

    def __init__(
        self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1, dtype: Any = jnp.float32
    ) -> None:
        dt = jnp.dtype(dtype)
        ones, zeros = np.ones(num_features, dt), np.zeros(num_features, dt)  # numpy: no XLA compile per shape
        self.eps, self.momentum = float(eps), float(momentum)
        self.weight = nnx.Param(jnp.asarray(ones))  # (C,)
        self.bias = nnx.Param(jnp.asarray(zeros))  # (C,)
        self.running_mean = nnx.BatchStat(jnp.asarray(zeros))  # (C,)
        self.running_var = nnx.BatchStat(jnp.asarray(ones))  # (C,)
        count = jax.dtypes.canonicalize_dtype(jnp.int64)  # torch's int64; int32 without jax_enable_x64
        self.num_batches_tracked = nnx.BatchStat(jnp.asarray(np.zeros((), count)))
        self.use_running_average = False

    def __call__(self, x: jax.Array) -> jax.Array:
        params = (x, self.weight[...], self.bias[...], self.running_mean[...], self.running_var[...])
        if self.use_running_average:
            return batch_norm_eval(*params, eps=self.eps)  # (B, H, W, C)
        if x.shape[0] * x.shape[1] * x.shape[2] < 2:
            raise InvalidInputError(
                f"BatchNorm2d in train mode needs more than 1 value per channel, got input shape "
                f"{tuple(x.shape)}; use a larger batch or eval mode"
            )
        y, new_mean, new_var = batch_norm_train(*params, momentum=self.momentum, eps=self.eps)
        self._update(new_mean, new_var)
        return y  # (B, H, W, C)

    def _update(self, new_mean: jax.Array, new_var: jax.Array) -> None:
        try:  # the first write raises before anything changed when the state is out of reach
            self.running_mean[...] = new_mean
        except errors.TraceContextError:
            warnings.warn(
                "BatchNorm running statistics not updated: the model runs in train mode inside a JAX "
                "transformation that closes over it (jax.grad / jax.jit / the jax Backend's value_and_grad); "
                "pass the module through nnx transforms (nnx.jit, nnx.value_and_grad) to update them, "
                "or call the model in eval mode",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        self.running_var[...] = new_var
        self.num_batches_tracked[...] = self.num_batches_tracked[...] + 1


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int, *, rngs: nnx.Rngs, dtype: Any) -> Conv2d:
    """Bias-free conv with He's init N(0, 2 / fan_out) (torchvision's ResNet)."""
    std = (2.0 / (out_channels * kernel_size * kernel_size)) ** 0.5
    return Conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False,
        init_std=std, rngs=rngs, dtype=dtype,
    )


class BasicBlock(nnx.Module):
    """Two 3x3 conv/BatchNorm layers and a residual connection: ``(B, H, W, in) -> (B, H/s, W/s, out)``."""

    def __init__(self, in_planes: int, planes: int, stride: int, *, rngs: nnx.Rngs, dtype: Any = jnp.float32) -> None:
        self.conv1 = _conv(in_planes, planes, 3, stride, rngs=rngs, dtype=dtype)
        self.bn1 = BatchNorm2d(planes, dtype=dtype)
        self.conv2 = _conv(planes, planes, 3, 1, rngs=rngs, dtype=dtype)
        self.bn2 = BatchNorm2d(planes, dtype=dtype)
        reshape = stride != 1 or in_planes != planes
        self.downsample = (
            nnx.List([_conv(in_planes, planes, 1, stride, rngs=rngs, dtype=dtype), BatchNorm2d(planes, dtype=dtype)])
            if reshape
            else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        out = jax.nn.relu(self.bn1(self.conv1(x)))  # (B, H', W', planes)
        out = self.bn2(self.conv2(out))  # (B, H', W', planes)
        shortcut = x
        if self.downsample is not None:
            conv, bn = self.downsample
            shortcut = bn(conv(x))  # (B, H', W', planes)
        return jax.nn.relu(out + shortcut)


class ResNet(nnx.Module):
    """ResNet with a CIFAR stem: ``(B, H, W, C) -> (B, num_classes)``."""

    def __init__(
        self,
        hwc: tuple[int, int, int],
        *,
        blocks: Sequence[int],
        width: int,
        num_classes: int,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        self.hwc = hwc
        self.conv1 = _conv(hwc[2], width, 3, 1, rngs=rngs, dtype=dtype)
        self.bn1 = BatchNorm2d(width, dtype=dtype)
        in_planes = width
        self.n_stages = len(blocks)
        for s, n in enumerate(blocks):
            planes = width * 2**s
            stage = []
            for b in range(n):
                stride = 2 if s > 0 and b == 0 else 1
                stage.append(BasicBlock(in_planes, planes, stride, rngs=rngs, dtype=dtype))
                in_planes = planes
            setattr(self, f"layer{s + 1}", nnx.List(stage))
        self.fc = HostInitLinear(in_planes, num_classes, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.bn1(self.conv1(to_nhwc(x, self.hwc, "resnet18"))))  # (B, H, W, width)
        for s in range(self.n_stages):
            for block in getattr(self, f"layer{s + 1}"):
                h = block(h)  # (B, H / 2^s, W / 2^s, width * 2^s)
        return self.fc(h.mean(axis=(1, 2)))  # (B, num_classes)
