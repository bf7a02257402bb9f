"""A ``torch.nn.Module`` seen as a sparring Model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._base import ModelBase
from .backend import TorchBackend

__all__ = ["TorchModel"]


class TorchModel(ModelBase):
    """Wraps a module returning logits; canonical parameter names are its ``state_dict`` keys."""

    def __init__(self, module: torch.nn.Module, *, backend: TorchBackend, **meta: Any) -> None:
        super().__init__(backend=backend, **meta)
        self.module = module.to(backend.device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(self._preprocess(x))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    @property
    def training(self) -> bool:
        return self.module.training

    def train(self, mode: bool = True) -> TorchModel:
        self.module.train(mode)
        return self

    def eval(self) -> TorchModel:
        return self.train(False)

    def mode_state(self) -> dict[str, bool]:
        return {name: m.training for name, m in self.module.named_modules()}

    def restore_mode(self, state: Mapping[str, bool]) -> None:
        for name, m in self.module.named_modules():
            m.training = state[name]

    def set_dropout_seed(self, seed: int) -> None:
        """torch dropout draws from the global generator of the model's device: reseed it."""
        torch.manual_seed(int(seed))

    def weight_matrices(self) -> dict[str, torch.Tensor]:
        return {
            name: p.reshape(p.shape[0], -1)
            for name, p in self.module.named_parameters()
            if name.endswith("weight") and p.ndim >= 2
        }

    def parameters_numpy(self) -> dict[str, np.ndarray]:
        return {k: self.backend.to_numpy(v).copy() for k, v in self.module.state_dict().items()}

    def _assign(self, params: Mapping[str, np.ndarray]) -> None:
        current = self.module.state_dict()
        self.module.load_state_dict(
            {k: torch.as_tensor(params[k]).to(device=v.device, dtype=v.dtype) for k, v in current.items()}
        )
