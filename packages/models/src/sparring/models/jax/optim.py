"""optax behind the sparring Optimizer protocol, one compiled step per loss function.

The same settings give torch.optim's updates: SGD = ``add_decayed_weights -> trace``,
Adam = ``add_decayed_weights -> scale_by_adam`` (coupled decay), AdamW =
``scale_by_adam -> add_decayed_weights`` (decoupled), each group scaled by its own
``-lr``, global-norm clipping first; the schedule multiplies the final update.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from sparring.core.errors import CheckpointMismatchError

from .._optim import OptimizerSettings

__all__ = ["JaxOptimizer"]


def _path_name(path: tuple[Any, ...]) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return ".".join(parts)


def _group_transform(s: OptimizerSettings, lr: float, wd: float) -> optax.GradientTransformation:
    decay = [optax.add_decayed_weights(wd)] if wd else []
    if s.name == "sgd":
        core = [*decay, optax.trace(decay=s.momentum, nesterov=s.nesterov and s.momentum > 0)] if s.momentum else decay
    elif s.name == "adam":
        core = [*decay, optax.scale_by_adam(b1=s.betas[0], b2=s.betas[1], eps=s.eps)]
    else:
        core = [optax.scale_by_adam(b1=s.betas[0], b2=s.betas[1], eps=s.eps), *decay]
    return optax.chain(*core, optax.scale(-lr))


class JaxOptimizer:
    """An optax chain over a JaxModel's ``nnx.Param`` leaves, stepped under ``nnx.jit``."""

    def __init__(self, model: Any, settings: OptimizerSettings) -> None:
        self.model = model
        self.settings = s = settings
        params = nnx.state(model.module, nnx.Param)
        labels = jax.tree_util.tree_map_with_path(lambda p, _: str(s.group_of(_path_name(p))), params)
        used = sorted({int(v) for v in jax.tree_util.tree_leaves(labels)})
        tx = optax.multi_transform({str(g): _group_transform(s, *s.hyper(g)) for g in used}, labels)
        if s.clip_norm is not None:
            tx = optax.chain(optax.clip_by_global_norm(s.clip_norm), tx)
        self.tx = tx
        # every array committed to the backend's device: the compiled step's outputs are, and
        # inputs that are not would make the second call compile the step again
        device = model.backend._device
        nnx.update(model.module, jax.device_put(nnx.state(model.module), device))
        self.opt_state = jax.device_put(tx.init(params), device)
        self.scale = 1.0
        self._compiled: dict[Any, Callable[..., Any]] = {}

    def _compiled_step(self, loss_fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = self._compiled.get(loss_fn)
        if fn is None:
            wrapper, tx = self.model, self.tx

            def train_step(module: nnx.Module, opt_state: Any, scale: jax.Array, *args: Any) -> Any:
                def objective(m: nnx.Module) -> Any:
                    view = copy.copy(wrapper)
                    view.module = m
                    return loss_fn(view, *args)

                (loss, aux), grads = nnx.value_and_grad(objective, has_aux=True)(module)
                params = nnx.state(module, nnx.Param)
                updates, opt_state = tx.update(grads, opt_state, params)
                updates = jax.tree.map(lambda u: u * scale.astype(u.dtype), updates)
                nnx.update(module, optax.apply_updates(params, updates))
                return loss, aux, opt_state

            fn = self._compiled[loss_fn] = nnx.jit(train_step) if self.model.backend._compile else train_step
        return fn

    def step(self, loss_fn: Callable[..., tuple[Any, Any]], *args: Any) -> tuple[Any, Any]:
        loss, aux, self.opt_state = self._compiled_step(loss_fn)(
            self.model.module, self.opt_state, jnp.asarray(self.scale, jnp.float32), *args
        )
        return loss, aux

    def set_lr_scale(self, scale: float) -> None:
        self.scale = float(scale)

    def state_numpy(self) -> dict[str, np.ndarray]:
        leaves = jax.tree_util.tree_flatten_with_path(self.opt_state)[0]
        return {_path_name(p): np.asarray(jax.device_get(v)) for p, v in leaves}

    def load_state_numpy(self, arrays: Mapping[str, np.ndarray]) -> None:
        leaves, treedef = jax.tree_util.tree_flatten_with_path(self.opt_state)
        names = [_path_name(p) for p, _ in leaves]
        missing = sorted(set(names) - set(arrays))
        extra = sorted(set(arrays) - set(names))
        if missing or extra:
            raise CheckpointMismatchError(
                f"optimizer state does not match this optimizer: missing {missing[:5]}, unexpected {extra[:5]}"
            )
        new = [jax.device_put(jnp.asarray(arrays[n], dtype=v.dtype).reshape(v.shape), v.device)
               for n, (_, v) in zip(names, leaves)]
        self.opt_state = jax.tree_util.tree_unflatten(treedef, new)
