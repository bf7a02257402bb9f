"""What the torch and the JAX model wrappers share (framework-free)."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError
from sparring.core.protocols import Backend

from ._checkpoint import check_layout, load_arrays, save_arrays

__all__ = ["ModelBase"]


class ModelBase:
    """A classifier on a backend: metadata, and save/load through canonical numpy arrays.

    Subclasses supply ``__call__``, the mode methods, ``parameters_numpy`` and
    ``_assign`` (set already-checked arrays).
    """

    def __init__(
        self,
        *,
        backend: Backend,
        input_shape: tuple[int, ...],
        num_classes: int,
        value_range: tuple[float, float] = (0.0, 1.0),
        name: str = "model",
    ) -> None:
        lo, hi = (float(v) for v in value_range)
        if not lo < hi:
            raise ConfigError(f"value_range must be (low, high) with low < high, got {value_range!r}")
        if int(num_classes) < 2:
            raise ConfigError(f"num_classes must be at least 2, got {num_classes!r}")
        self.backend = backend
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes = int(num_classes)
        self.value_range = (lo, hi)
        self.name = name
        self.preprocessing: tuple[np.ndarray, np.ndarray] | None = None
        self._pre: tuple[Any, Any] | None = None
        self.frontend: Any = None
        self.network_input_shape = self.input_shape

    # -- a differentiable front-end ---------------------------------------------------------
    def set_frontend(self, frontend: Any, input_shape: tuple[int, ...]) -> None:
        """Put ``frontend`` (``x -> network input``, written with the batch's array namespace
        so gradients flow through it, e.g. a Mel spectrogram of a waveform) before the
        network: the model then takes samples of ``input_shape`` (the raw waveform), which
        is what attacks perturb. Not part of the weights."""
        self.frontend = frontend
        self.input_shape = tuple(int(d) for d in input_shape)

    # -- preprocessing ------------------------------------------------------------------
    def set_preprocessing(self, mean: Any, std: Any) -> None:
        """Normalise inside the model: ``logits = f((x - mean) / std)``.

        ``x`` stays in the data's own range (``value_range``), so attacks perturb raw
        inputs and eps is always on that scale, however the network was trained to see
        its inputs. ``mean`` and ``std`` broadcast against one sample (a scalar, or one
        value per channel of the last axis, or an array of ``input_shape``); not part of
        the weights (a pipeline's model ``params.preprocessing`` sets them again).
        """
        m = np.asarray(mean, dtype=np.float64)
        s = np.asarray(std, dtype=np.float64)
        try:
            shape = self.network_input_shape
            if np.broadcast_shapes(m.shape, s.shape, shape) != shape:
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"preprocessing mean {m.shape} and std {s.shape} must broadcast against one sample "
                f"{self.network_input_shape} (a scalar or one value per channel of the last axis)"
            ) from None
        if not (np.isfinite(m).all() and np.isfinite(s).all() and (s > 0).all()):
            raise ConfigError("preprocessing mean must be finite and std finite and > 0")
        self.preprocessing = (m, s)
        dtype = getattr(self, "dtype", None)
        self._pre = (self.backend.asarray(m, dtype=dtype), self.backend.asarray(1.0 / s, dtype=dtype))

    def _preprocess(self, x: Any) -> Any:
        if self.frontend is not None:
            x = self.frontend(x)
        if self._pre is None:
            return x
        mean, inv_std = self._pre
        return (x - mean) * inv_std

    # -- to be supplied by the framework wrapper ----------------------------------------
    def parameters_numpy(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _assign(self, params: Mapping[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------
    def load_parameters(self, params: Mapping[str, np.ndarray], *, source: str = "<dict>") -> None:
        """Set every parameter and buffer from canonical names (cast to the model's dtype)."""
        current = self.parameters_numpy()
        check_layout({k: v.shape for k, v in current.items()}, params, source)
        self._assign({k: np.asarray(params[k]) for k in current})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the weights as a safetensors file (atomic)."""
        save_arrays(self.parameters_numpy(), path, metadata={"sparring_model": self.name})

    def load(self, path: str | os.PathLike[str]) -> None:
        """Read weights written by :meth:`save` on either backend."""
        self.load_parameters(load_arrays(path), source=os.fspath(path))

    def with_module(self, module: Any) -> Any:
        """A shallow copy of this wrapper around another framework ``module`` (same backend,
        shapes and metadata). Compiled steps use it to see a traced module as a Model: a
        module passed as an argument of ``nnx.jit`` is traced with its current weights,
        whereas a Model captured by closure would keep the weights of its first trace."""
        view = copy.copy(self)
        view.module = module  # type: ignore[attr-defined]
        return view

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, backend={self.backend.name!r}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "value_range": list(self.value_range),
        }
