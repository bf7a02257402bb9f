"""A ``flax.nnx.Module`` seen as a sparring Model.

Canonical parameter names are the nnx state paths joined with dots; modules written
for sparring use torch's names and ``(out, in)`` layouts, so a weights file moves
between frameworks unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._base import ModelBase
from .backend import JaxBackend

__all__ = ["JaxModel"]

_MODE_FLAGS = ("deterministic", "use_running_average")
_STATE = (nnx.Param, nnx.BatchStat)


def _name(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


class JaxModel(ModelBase):
    """Wraps an nnx module returning logits.

    Train/eval mode follows nnx: ``eval()`` sets ``deterministic`` (Dropout) and
    ``use_running_average`` (BatchNorm) on every submodule that has them.
    """

    def __init__(self, module: nnx.Module, *, backend: JaxBackend, training: bool = True, **meta: Any) -> None:
        super().__init__(backend=backend, **meta)
        self.module = module
        self._training = True
        self.train(training)

    def __call__(self, x: Any) -> Any:
        return self.module(self._preprocess(x))

    def _variables(self) -> list[tuple[str, nnx.Variable]]:
        return [(_name(p), v) for p, v in nnx.to_flat_state(nnx.state(self.module, _STATE))]

    @property
    def dtype(self) -> Any:
        return self._variables()[0][1][...].dtype

    @property
    def training(self) -> bool:
        return self._training

    def train(self, mode: bool = True) -> JaxModel:
        if mode:
            self.module.train()
        else:
            self.module.eval()
        self._training = bool(mode)
        return self

    def eval(self) -> JaxModel:
        return self.train(False)

    def mode_state(self) -> dict[str, Any]:
        """The wrapper's flag and, per submodule with a mode flag, the submodule itself and
        its flags: restoring sets them back without walking the module graph again."""
        flags = tuple(
            (m, {f: getattr(m, f) for f in _MODE_FLAGS if hasattr(m, f)})
            for _, m in nnx.iter_graph(self.module)
            if isinstance(m, nnx.Module) and any(hasattr(m, f) for f in _MODE_FLAGS)
        )
        return {"training": self._training, "flags": flags}

    def enter_eval(self) -> dict[str, Any]:
        """``eval()`` and the :meth:`mode_state` from before, in one walk of the module graph
        (``nnx.Module.eval`` sets these same flags on every submodule that has them)."""
        state = self.mode_state()
        self.restore_mode({"training": False, "flags": tuple((m, dict.fromkeys(f, True)) for m, f in state["flags"])})
        return state

    def restore_mode(self, state: Mapping[str, Any]) -> None:
        for m, flags in state["flags"]:
            for f, value in flags.items():
                if getattr(m, f) != value:
                    setattr(m, f, value)
        self._training = state["training"]

    def set_dropout_seed(self, seed: int) -> None:
        """Restart every random stream of the module (dropout masks) from ``seed``."""
        streams = {
            _name(path[:-1]).rsplit(".", 1)[-1]
            for path, v in nnx.to_flat_state(nnx.state(self.module, nnx.RngKey))
        }
        if streams:
            nnx.reseed(self.module, **{name: int(seed) for name in streams})

    def weight_matrices(self) -> dict[str, Any]:
        out = {}
        for name, v in nnx.to_flat_state(nnx.state(self.module, nnx.Param)):
            value = v[...]
            key = _name(name)
            if key.endswith("weight") and value.ndim >= 2:
                out[key] = jnp.reshape(value, (value.shape[0], -1))
        return out

    def parameters_numpy(self) -> dict[str, np.ndarray]:
        return {name: np.array(v[...]) for name, v in self._variables()}

    def _assign(self, params: Mapping[str, np.ndarray]) -> None:
        for name, v in self._variables():
            old = v[...]
            v[...] = jax.device_put(jnp.asarray(params[name], dtype=old.dtype), old.device)  # keep it committed
