"""Dense (fully connected) classifier, flax.nnx side.

Same architecture, parameter names and ``(out, in)`` layouts as
:mod:`sparring.models.torch.dense`, so a weights file loads unchanged in either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["Linear", "DenseNet"]


class Linear(nnx.Module):
    """``y = x W^T + b`` with torch's layout: ``weight (out, in)``, ``bias (out,)``.

    Initialised like ``torch.nn.Linear``: W, b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs, dtype: Any = jnp.float32) -> None:
        bound = in_features**-0.5
        self.in_features, self.out_features = in_features, out_features
        self.weight = nnx.Param(jax.random.uniform(rngs.params(), (out_features, in_features), dtype, -bound, bound))
        self.bias = nnx.Param(jax.random.uniform(rngs.params(), (out_features,), dtype, -bound, bound))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.weight[...].T + self.bias[...]  # (B, out)


class DenseNet(nnx.Module):
    """Multi-layer perceptron with ReLU returning logits."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        num_classes: int,
        *,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        sizes = [in_features, *hidden]
        self.layers = nnx.List([Linear(a, b, rngs=rngs, dtype=dtype) for a, b in zip(sizes, sizes[1:])])
        self.head = Linear(sizes[-1], num_classes, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x.reshape(x.shape[0], -1)  # (B, F)
        for layer in self.layers:
            h = jax.nn.relu(layer(h))  # (B, H)
        return self.head(h)  # (B, C)
