"""Dense (fully connected) classifier, torch side.

``x (B, *input_shape) -> flatten -> [Linear -> ReLU] * len(hidden) -> Linear -> logits (B, C)``.
Parameter names ``layers.{i}.weight (out, in)``, ``layers.{i}.bias``, ``head.weight``,
``head.bias``: the same in :mod:`sparring.models.jax.dense`. Initialisation is torch's
default for ``nn.Linear``: weights and biases ~ U(-1/sqrt(in), 1/sqrt(in)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DenseNet"]


class DenseNet(nn.Module):
    """Multi-layer perceptron with ReLU returning logits."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        num_classes: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        sizes = [in_features, *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes, sizes[1:]))
        self.head = nn.Linear(sizes[-1], num_classes, dtype=dtype)
        with torch.no_grad():
            for layer in [*self.layers, self.head]:
                bound = layer.in_features**-0.5
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(x.shape[0], -1)  # (B, F)
        for layer in self.layers:
            h = torch.relu(layer(h))  # (B, H)
        return self.head(h)  # (B, C)
