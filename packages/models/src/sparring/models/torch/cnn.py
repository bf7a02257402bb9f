"""Small convolutional classifier, torch side.

``x (B, H, W, C)`` channels-last (or ``(B, H, W)`` for one channel) is permuted to NCHW, then::

    per entry of channels:  Conv2d k x k, stride 1, 'same' | 'valid'  -> ReLU -> MaxPool 2x2
    flatten (C, H, W order)  -> [Linear -> ReLU] per entry of hidden  -> Linear -> logits (B, C)

Parameter names ``convs.{i}.weight (out, in, k, k)``, ``convs.{i}.bias``,
``layers.{i}.weight (out, in)``, ``layers.{i}.bias``, ``head.weight``, ``head.bias``: the
same in :mod:`sparring.models.jax.cnn`. Initialisation is torch's default for
``nn.Conv2d``/``nn.Linear``: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cnn import flat_features
from ..image import check_image_batch

__all__ = ["CNN", "make_conv2d", "make_linear", "to_nchw"]


def to_nchw(x: torch.Tensor, hwc: tuple[int, int, int], model: str) -> torch.Tensor:
    """Channels-last ``(B, H, W, C)`` or ``(B, H, W)`` (C = 1) as ``(B, C, H, W)``."""
    check_image_batch(model, tuple(x.shape), hwc)
    return x.reshape(x.shape[0], *hwc).permute(0, 3, 1, 2)  # (B, C, H, W)


def make_conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: int | str = 0,
    bias: bool = True,
    init_std: float | None = None,
    generator: torch.Generator | None,
    dtype: torch.dtype,
) -> nn.Conv2d:
    """``nn.Conv2d`` initialised from ``generator``: torch's default U(+-1/sqrt(fan_in)), or
    N(0, init_std^2) weights when ``init_std`` is given (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):  # cheaper than nn.utils.skip_init's first call
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias, dtype=dtype)
    bound = (in_channels * kernel_size * kernel_size) ** -0.5
    with torch.no_grad():
        if init_std is None:
            conv.weight.uniform_(-bound, bound, generator=generator)
        else:
            conv.weight.normal_(0.0, init_std, generator=generator)
        if conv.bias is not None:
            conv.bias.uniform_(-bound, bound, generator=generator)
    return conv


def make_linear(
    in_features: int, out_features: int, *, generator: torch.Generator | None, dtype: torch.dtype
) -> nn.Linear:
    """``nn.Linear`` with torch's default init drawn from ``generator`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        layer = nn.Linear(in_features, out_features, dtype=dtype)
    bound = in_features**-0.5
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


class CNN(nn.Module):
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
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.hwc = hwc
        ins = [hwc[2], *channels]
        self.convs = nn.ModuleList(
            make_conv2d(a, b, kernel_size, padding=padding, generator=generator, dtype=dtype)
            for a, b in zip(ins, ins[1:])
        )
        sizes = [flat_features(hwc, channels, kernel_size, padding), *hidden]
        self.layers = nn.ModuleList(
            make_linear(a, b, generator=generator, dtype=dtype) for a, b in zip(sizes, sizes[1:])
        )
        self.head = make_linear(sizes[-1], num_classes, generator=generator, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = to_nchw(x, self.hwc, "cnn")  # (B, C, H, W)
        for conv in self.convs:
            h = F.max_pool2d(torch.relu(conv(h)), 2)  # (B, c, H', W')
        h = h.flatten(1)  # (B, c * H' * W')
        for layer in self.layers:
            h = torch.relu(layer(h))  # (B, hidden)
        return self.head(h)  # (B, num_classes)
