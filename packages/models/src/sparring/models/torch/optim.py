"""torch.optim behind the sparring Optimizer protocol."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from sparring.core.errors import CheckpointMismatchError

from .._optim import OptimizerSettings
from .backend import _detach

__all__ = ["TorchOptimizer"]


class TorchOptimizer:
    """SGD / Adam / AdamW of ``torch.optim`` over a TorchModel's parameters."""

    def __init__(self, model: Any, settings: OptimizerSettings) -> None:
        self.model = model
        self.settings = s = settings
        named = [(n, p) for n, p in model.module.named_parameters() if p.requires_grad]
        by_group: dict[int, list[tuple[str, torch.nn.Parameter]]] = {}
        for n, p in named:
            by_group.setdefault(s.group_of(n), []).append((n, p))
        groups = []
        self._names: list[str] = []
        for g in sorted(by_group):
            lr, wd = s.hyper(g)
            groups.append({"params": [p for _, p in by_group[g]], "lr": lr, "weight_decay": wd, "base_lr": lr})
            self._names += [n for n, _ in by_group[g]]
        self._params = [p for grp in groups for p in grp["params"]]
        if s.name == "sgd":
            self.opt: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov and s.momentum > 0
            )
        elif s.name == "adam":
            self.opt = torch.optim.Adam(groups, lr=s.lr, betas=s.betas, eps=s.eps)
        else:
            self.opt = torch.optim.AdamW(groups, lr=s.lr, betas=s.betas, eps=s.eps)
        dev = model.backend._device
        self._autocast = (
            torch.autocast(device_type="cuda", dtype=torch.bfloat16)
            if s.amp and dev.type == "cuda"
            else contextlib.nullcontext()
        )

    def step(self, loss_fn: Callable[..., tuple[torch.Tensor, Any]], *args: Any) -> tuple[torch.Tensor, Any]:
        self.opt.zero_grad(set_to_none=True)
        with torch.enable_grad(), self._autocast:
            loss, aux = loss_fn(self.model, *args)
        loss.float().backward()
        if self.settings.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self._params, self.settings.clip_norm)
        self.opt.step()
        return loss.detach(), _detach(aux)

    def set_lr_scale(self, scale: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = group["base_lr"] * float(scale)

    def state_numpy(self) -> dict[str, np.ndarray]:
        sd = self.opt.state_dict()
        out: dict[str, np.ndarray] = {}
        for idx, state in sd["state"].items():
            for key, value in state.items():
                arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
                out[f"{self._names[idx]}::{key}"] = arr
        return out

    def load_state_numpy(self, arrays: Mapping[str, np.ndarray]) -> None:
        sd = self.opt.state_dict()
        state: dict[int, dict[str, torch.Tensor]] = {}
        index = {n: i for i, n in enumerate(self._names)}
        for full, arr in arrays.items():
            name, _, key = full.partition("::")
            if name not in index:
                raise CheckpointMismatchError(f"optimizer state names parameter {name!r}, which the model lacks")
            state.setdefault(index[name], {})[key] = torch.as_tensor(np.array(arr))
        sd["state"] = state
        self.opt.load_state_dict(sd)
