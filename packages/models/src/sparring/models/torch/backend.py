"""The torch Backend (CPU and CUDA): array namespace, input gradients, keyed randomness."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat.torch as torch_xp
import numpy as np
import torch

from sparring.core.errors import BackendUnavailableError, InvalidInputError

from .._keys import spawn_seeds

__all__ = ["TorchBackend", "TorchKey"]


@dataclass(frozen=True)
class TorchKey:
    """A random key for torch: a 63-bit seed, split with numpy's SeedSequence."""

    seed: int


def _to_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    out = getattr(torch, name, None)
    if not isinstance(out, torch.dtype):
        raise InvalidInputError(f"unknown dtype {dtype!r} for the torch backend")
    return out


def _detach(tree: Any) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.detach()
    if isinstance(tree, tuple | list):
        return type(tree)(_detach(t) for t in tree)
    if isinstance(tree, dict):
        return {k: _detach(v) for k, v in tree.items()}
    return tree


class TorchBackend:
    """PyTorch on one device (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Args:
        device: where arrays are placed.
        compile: wrap functions given to :meth:`compile` in ``torch.compile``
            (off by default: eager is faster for short attack loops on CPU).
    """

    name = "torch"
    dynamic_shapes = True

    def __init__(self, device: str = "cpu", *, compile: bool = False) -> None:
        dev = torch.device("cuda" if device == "gpu" else device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device {device!r} asked for, but torch sees no CUDA device; use device='cpu'"
            )
        if dev.type not in ("cpu", "cuda"):
            raise BackendUnavailableError(f"device {device!r} is not supported; use 'cpu' or 'cuda'")
        self.device = str(dev)
        self._device = dev
        self._compile = compile

    def __repr__(self) -> str:
        return f"TorchBackend(device={self.device!r})"

    @property
    def xp(self) -> Any:
        return torch_xp

    def asarray(self, data: Any, *, dtype: Any = None) -> torch.Tensor:
        dt = _to_dtype(dtype)
        if isinstance(data, torch.Tensor):
            return data.to(device=self._device, dtype=dt)
        if hasattr(data, "__array__") or hasattr(data, "__dlpack__"):
            data = np.asarray(data)
            if not data.flags.writeable:  # torch would share it and warn; copy instead
                data = data.copy()
        return torch.as_tensor(data, dtype=dt, device=self._device)

    def to_numpy(self, x: Any) -> np.ndarray:
        if not isinstance(x, torch.Tensor):
            return np.asarray(x)
        x = x.detach()
        if x.dtype in (torch.bfloat16,):
            x = x.float()
        return x.cpu().numpy()

    def value_and_grad(
        self, fn: Callable[..., Any], x: Any, *args: Any, has_aux: bool = False
    ) -> tuple[Any, torch.Tensor]:
        x_ = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = fn(x_, *args)
            value, aux = out if has_aux else (out, None)
            if value.ndim != 0:
                raise InvalidInputError(
                    f"value_and_grad needs a scalar function, got shape {tuple(value.shape)}; "
                    "sum the per-sample losses"
                )
            (grad,) = torch.autograd.grad(value, x_)
        value = value.detach()
        return ((value, _detach(aux)) if has_aux else value), grad

    def value_and_jacobian(
        self, fn: Callable[..., Any], x: Any, *args: Any, has_aux: bool = False
    ) -> tuple[Any, torch.Tensor]:
        x_ = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = fn(x_, *args)
            out, aux = out if has_aux else (out, None)
            if out.ndim != 2:
                raise InvalidInputError(f"value_and_jacobian needs a (B, K) output, got shape {tuple(out.shape)}")
            k = out.shape[1]
            rows = [torch.autograd.grad(out[:, j].sum(), x_, retain_graph=j < k - 1)[0] for j in range(k)]
        out = out.detach()
        return ((out, _detach(aux)) if has_aux else out), torch.stack(rows)

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return torch.compile(fn) if self._compile else fn

    def compile_with_model(self, model: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.compile(fn)  # eager modules read their current weights anyway

    def key(self, seed: int) -> TorchKey:
        return TorchKey(spawn_seeds(seed, 1)[0])

    def split(self, key: TorchKey, num: int = 2) -> tuple[TorchKey, ...]:
        return tuple(TorchKey(s) for s in spawn_seeds(key.seed, num))

    def _generator(self, key: TorchKey) -> torch.Generator:
        if not isinstance(key, TorchKey):
            raise InvalidInputError(f"expected a key from TorchBackend.key(seed), got {type(key).__name__}")
        return torch.Generator(device=self._device).manual_seed(key.seed)

    def _dtype(self, dtype: Any) -> torch.dtype:
        return _to_dtype(dtype) or torch.get_default_dtype()

    def uniform(
        self, key: TorchKey, shape: Sequence[int], *, low: Any = 0.0, high: Any = 1.0, dtype: Any = None
    ) -> torch.Tensor:
        u = torch.rand(tuple(shape), generator=self._generator(key), device=self._device, dtype=self._dtype(dtype))
        return low + (high - low) * u

    def normal(self, key: TorchKey, shape: Sequence[int], *, dtype: Any = None) -> torch.Tensor:
        return torch.randn(tuple(shape), generator=self._generator(key), device=self._device, dtype=self._dtype(dtype))

    def sign(self, key: TorchKey, shape: Sequence[int], *, dtype: Any = None) -> torch.Tensor:
        bits = torch.randint(0, 2, tuple(shape), generator=self._generator(key), device=self._device)
        return (2 * bits - 1).to(self._dtype(dtype))

    def permutation(self, key: TorchKey, n: int) -> torch.Tensor:
        return torch.randperm(int(n), generator=self._generator(key), device=self._device)

    def put(self, x: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return x.index_copy(0, index, values.to(x.dtype))

    def stop_gradient(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach()

    def no_grad(self) -> torch.no_grad:
        return torch.no_grad()

    def input_gradient(self, fn: Callable[..., Any], x: Any, *args: Any) -> torch.Tensor:
        x_ = x if x.requires_grad else x.detach().requires_grad_(True)
        with torch.enable_grad():
            value = fn(x_, *args)
            if value.ndim != 0:
                raise InvalidInputError(f"input_gradient needs a scalar function, got shape {tuple(value.shape)}")
            (grad,) = torch.autograd.grad(value, x_, create_graph=True)
        return grad

    def optimizer(self, model: Any, **settings: Any) -> Any:
        from .._optim import OptimizerSettings
        from .optim import TorchOptimizer

        return TorchOptimizer(model, OptimizerSettings.from_kwargs(**settings))
