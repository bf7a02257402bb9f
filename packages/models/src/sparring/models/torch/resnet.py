"""ResNet-18, CIFAR variant (He et al. 2016, "Deep Residual Learning"), torch side.

``x (B, H, W, C)`` channels-last (or ``(B, H, W)`` for one channel) is permuted to NCHW, then::

    conv1 3x3 stride 1 (no max-pool) -> bn1 -> ReLU                      width channels
    layer1..layer4: 2 BasicBlocks each, width x (1, 2, 4, 8), first strides 1, 2, 2, 2
        BasicBlock: ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + shortcut(x))
        shortcut: identity, or downsample = 1x1 conv (stride) -> BatchNorm when the shape changes
    global average pool -> fc                                             (B, num_classes)

Convs are 3x3 with padding 1 and no bias. BatchNorm is ``nn.BatchNorm2d`` (eps 1e-5,
momentum 0.1): train mode normalises with the batch's biased variance and updates
``running_var`` with the unbiased one; eval mode uses the running statistics.

Parameter names follow torchvision's ``resnet18`` (``conv1.weight``, ``bn1.*``,
``layer{s}.{b}.conv{1,2}.weight``, ``layer{s}.{b}.bn{1,2}.*``,
``layer{s}.0.downsample.{0,1}.*``, ``fc.*``) with buffers ``running_mean``,
``running_var`` and ``num_batches_tracked``; identical in :mod:`sparring.models.jax.resnet`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .cnn import make_conv2d, make_linear, to_nchw

__all__ = ["BasicBlock", "ResNet"]


def _conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int,
    *,
    generator: torch.Generator | None,
    dtype: torch.dtype,
) -> nn.Conv2d:
    """Bias-free conv with He's init (torchvision: kaiming_normal_, mode fan_out, ReLU gain)."""
    std = (2.0 / (out_channels * kernel_size * kernel_size)) ** 0.5
    return make_conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False,
        init_std=std, generator=generator, dtype=dtype,
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv/BatchNorm layers and a residual connection: ``(B, in, H, W) -> (B, out, H/s, W/s)``."""

    def __init__(
        self, in_planes: int, planes: int, stride: int, *, generator: torch.Generator | None, dtype: torch.dtype
    ) -> None:
        super().__init__()
        self.conv1 = _conv(in_planes, planes, 3, stride, generator=generator, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(planes, eps=1e-5, momentum=0.1, dtype=dtype)
        self.conv2 = _conv(planes, planes, 3, 1, generator=generator, dtype=dtype)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5, momentum=0.1, dtype=dtype)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                _conv(in_planes, planes, 1, stride, generator=generator, dtype=dtype),
                nn.BatchNorm2d(planes, eps=1e-5, momentum=0.1, dtype=dtype),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))  # (B, planes, H', W')
        out = self.bn2(self.conv2(out))  # (B, planes, H', W')
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, planes, H', W')
        return torch.relu(out + shortcut)


class ResNet(nn.Module):
    """ResNet with a CIFAR stem: ``(B, H, W, C) -> (B, num_classes)``."""

    def __init__(
        self,
        hwc: tuple[int, int, int],
        *,
        blocks: Sequence[int],
        width: int,
        num_classes: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.hwc = hwc
        self.conv1 = _conv(hwc[2], width, 3, 1, generator=generator, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-5, momentum=0.1, dtype=dtype)
        in_planes = width
        for s, n in enumerate(blocks):
            planes = width * 2**s
            stage = []
            for b in range(n):
                stride = 2 if s > 0 and b == 0 else 1
                stage.append(BasicBlock(in_planes, planes, stride, generator=generator, dtype=dtype))
                in_planes = planes
            self.add_module(f"layer{s + 1}", nn.Sequential(*stage))
        self.n_stages = len(blocks)
        self.fc = make_linear(in_planes, num_classes, generator=generator, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(to_nchw(x, self.hwc, "resnet18"))))  # (B, width, H, W)
        for s in range(self.n_stages):
            h = getattr(self, f"layer{s + 1}")(h)  # (B, width * 2^s, H / 2^s, W / 2^s)
        return self.fc(h.mean(dim=(2, 3)))  # (B, num_classes)
