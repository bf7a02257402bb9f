"""The dense classifier on either backend (factory of the ``dense`` registry entries).

Architecture and parameter layout: :mod:`sparring.models.torch.dense` and
:mod:`sparring.models.jax.dense` (identical names and shapes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.protocols import Backend, Model

from .backends import get_backend

__all__ = ["dense"]


def dense(
    *,
    backend: str | Backend = "torch",
    device: str = "cpu",
    seed: int = 0,
    input_shape: Sequence[int] = (784,),
    hidden: Sequence[int] = (256, 256),
    num_classes: int = 10,
    value_range: Sequence[float] = (0.0, 1.0),
    dtype: str = "float32",
) -> Model:
    """A ReLU MLP ``prod(input_shape) -> hidden... -> num_classes`` returning logits.

    ``seed`` fixes the initial weights (torch and jax draw different numbers for the
    same seed; copy weights with ``save``/``load`` to compare frameworks).
    """
    be = get_backend(backend, device)
    hidden = tuple(int(h) for h in hidden)
    if any(h < 1 for h in hidden) or int(num_classes) < 2 or not input_shape:
        raise ConfigError(
            f"dense: sizes must be positive and num_classes >= 2, got input_shape={tuple(input_shape)}, "
            f"hidden={hidden}, num_classes={num_classes}"
        )
    in_features = math.prod(int(d) for d in input_shape)
    meta: dict[str, Any] = dict(
        input_shape=tuple(input_shape), num_classes=num_classes, value_range=tuple(value_range), name="dense"
    )
    if be.name == "torch":
        import torch

        from .torch.dense import DenseNet
        from .torch.model import TorchModel

        generator = torch.Generator().manual_seed(int(seed))
        module = DenseNet(in_features, hidden, num_classes, generator=generator, dtype=getattr(torch, dtype))
        return TorchModel(module, backend=be, **meta)
    if be.name == "jax":
        import jax
        from flax import nnx

        from .jax.dense import DenseNet as JaxDenseNet
        from .jax.model import JaxModel

        if dtype == "float64" and not jax.config.jax_enable_x64:
            raise ConfigError("dtype='float64' on jax needs 64-bit mode: jax.config.update('jax_enable_x64', True)")
        module = JaxDenseNet(in_features, hidden, num_classes, rngs=nnx.Rngs(int(seed)), dtype=dtype)
        return JaxModel(module, backend=be, **meta)
    raise ConfigError(f"dense: no implementation for backend {be.name!r}; available: torch, jax")
