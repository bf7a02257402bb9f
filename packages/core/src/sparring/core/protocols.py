"""The protocols every part of sparring is written against.

``Backend`` is the small set of framework operations an algorithm needs beyond the
array-API namespace ``xp``: gradients w.r.t. the input, keyed random numbers,
compilation, numpy conversion and devices. ``Model``, ``Attack``, ``Defense`` and
``Dataset`` are what plugins provide. Nothing here imports a framework: arrays are
typed as ``Array`` (a torch tensor or a jax array at run time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

from .records import AttackResult

__all__ = [
    "Array",
    "Key",
    "Backend",
    "Model",
    "Attack",
    "Defense",
    "Optimizer",
    "Dataset",
    "DatasetInfo",
]

Array: TypeAlias = Any
"""A framework array: ``torch.Tensor`` on the torch backend, ``jax.Array`` on jax."""

Key: TypeAlias = Any
"""An explicit random key: made by ``Backend.key(seed)``, split by ``Backend.split``."""


@runtime_checkable
class Backend(Protocol):
    """Framework operations shared by every algorithm (torch and jax implement it).

    The math is written on ``xp`` (an array-API namespace, from array-api-compat);
    the backend adds only what the standard lacks.
    """

    name: str
    """``"torch"`` or ``"jax"``."""
    device: str
    """Where new arrays are placed: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"gpu"``."""
    dynamic_shapes: bool
    """True when changing batch sizes cost nothing (torch eager): loops may then work
    on the still-active samples only. False for jax, where each shape compiles anew."""

    @property
    def xp(self) -> Any:
        """The array-API namespace of this backend's arrays."""
        ...

    def asarray(self, data: Any, *, dtype: Any = None) -> Array:
        """Convert numpy arrays / Python scalars / other arrays to this backend, on its device."""
        ...

    def to_numpy(self, x: Array) -> np.ndarray:
        """Copy an array to host memory as numpy (detached from any autodiff graph)."""
        ...

    def value_and_grad(
        self, fn: Callable[..., Any], x: Array, *args: Any, has_aux: bool = False
    ) -> tuple[Any, Array]:
        """Value of the scalar ``fn(x, *args)`` and its gradient w.r.t. ``x`` only.

        With ``has_aux`` ``fn`` returns ``(scalar, aux)`` and the value is that pair.
        Model parameters receive no gradient; the returned arrays carry no graph.
        """
        ...

    def value_and_jacobian(
        self, fn: Callable[..., Any], x: Array, *args: Any, has_aux: bool = False
    ) -> tuple[Any, Array]:
        """``out = fn(x, *args)`` of shape ``(B, K)`` and, for every column k,
        ``∇_x sum_b out[b, k]``, stacked as ``(K, *x.shape)``: one forward pass, K backward
        passes (batched where the framework can). For per-sample models these are the
        rows of each sample's Jacobian (DeepFool, FAB, margin regularisers).

        With ``has_aux`` ``fn`` returns ``(out, aux)`` and the value is that pair."""
        ...

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``jax.jit`` on jax; identity on torch unless the backend was made with compile=True."""
        ...

    def compile_with_model(self, model: Model, fn: Callable[..., Any]) -> Callable[..., Any]:
        """:meth:`compile` for a function that calls ``model``: on jax the model's weights
        are an argument of the compiled program (not constants of it) and the program is
        reused by later calls with an equivalent ``fn`` (same code, closing over the same
        settings), so an attack run once per training batch compiles once. The returned
        function may use the weights as they are now: make it anew after changing them
        (one per attack call). On torch the same as :meth:`compile`."""
        ...

    def key(self, seed: int) -> Key:
        """A random key made from an integer seed; the same seed gives the same numbers."""
        ...

    def split(self, key: Key, num: int = 2) -> tuple[Key, ...]:
        """``num`` independent keys derived from ``key``."""
        ...

    def uniform(
        self, key: Key, shape: Sequence[int], *, low: Any = 0.0, high: Any = 1.0, dtype: Any = None
    ) -> Array:
        """Uniform samples in ``[low, high)``; ``low``/``high`` may broadcast against ``shape``."""
        ...

    def normal(self, key: Key, shape: Sequence[int], *, dtype: Any = None) -> Array:
        """Standard normal samples."""
        ...

    def sign(self, key: Key, shape: Sequence[int], *, dtype: Any = None) -> Array:
        """Random signs, -1 or +1 with equal probability (Rademacher)."""
        ...

    def permutation(self, key: Key, n: int) -> Array:
        """A random permutation of ``0..n-1`` (integer array)."""
        ...

    def put(self, x: Array, index: Array, values: Array) -> Array:
        """A copy of ``x`` with rows ``x[index] = values`` (axis 0); ``x`` is unchanged.
        Fixed-shape backends drop rows whose index is out of range (padding)."""
        ...

    def stop_gradient(self, x: Array) -> Array:
        """``x`` cut from the autodiff graph."""
        ...

    def no_grad(self) -> AbstractContextManager[Any]:
        """Context in which forward passes record nothing for autodiff (torch.no_grad)."""
        ...

    def input_gradient(self, fn: Callable[..., Any], x: Array, *args: Any) -> Array:
        """``∇_x fn(x, *args)`` that stays differentiable w.r.t. the model parameters
        (double back-prop: torch ``create_graph=True``; jax ``jax.grad``). ``fn`` returns
        a scalar. For gradient-norm penalties and margin regularisers."""
        ...

    def optimizer(self, model: Model, **settings: Any) -> Optimizer:
        """An optimiser of ``model``'s parameters (torch.optim / optax); ``settings`` as in
        :class:`Optimizer`."""
        ...


@runtime_checkable
class Optimizer(Protocol):
    """Updates a model's parameters from a loss; made by :meth:`Backend.optimizer`.

    Settings: ``name`` ("sgd", "adam", "adamw"), ``lr``, ``momentum``, ``nesterov``,
    ``weight_decay``, ``clip_norm`` (global gradient norm, None = off), ``groups``
    (``[(predicate(name) -> bool, {"lr": ..., "weight_decay": ...}), ...]``: the first
    matching predicate sets a parameter's own lr and decay) and ``amp`` (mixed
    precision on GPU). The same settings give the same updates on torch and jax.
    """

    def step(self, loss_fn: Callable[..., tuple[Array, Any]], *args: Array) -> tuple[Array, Any]:
        """One update: ``(loss, aux) = loss_fn(model, *args)``, gradients of ``loss``
        w.r.t. the parameters, clip, step. Returns ``(loss, aux)`` detached. ``loss_fn``
        must be a pure function of its arguments (the jax backend compiles it)."""
        ...

    def set_lr_scale(self, scale: float) -> None:
        """Multiply every group's base learning rate by ``scale`` (the schedule)."""
        ...

    def state_numpy(self) -> dict[str, np.ndarray]:
        """The optimiser state (moments, step counts) as numpy under stable names."""
        ...

    def load_state_numpy(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore a state written by :meth:`state_numpy` (resume)."""
        ...


@runtime_checkable
class Model(Protocol):
    """A classifier: ``logits = model(x)`` on its backend's arrays.

    ``value_range`` is the data range the model was trained on (``(0, 1)`` or
    ``(-1, 1)``); attacks clip to it. Parameters are exchanged as numpy arrays under
    canonical dotted names (torch's ``(out, in)`` weight layout) so weights move
    between frameworks.
    """

    backend: Backend
    input_shape: tuple[int, ...]
    num_classes: int
    value_range: tuple[float, float]

    def __call__(self, x: Array) -> Array: ...

    @property
    def training(self) -> bool: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    def mode_state(self) -> Any:
        """An opaque snapshot of every submodule's train/eval flags."""
        ...

    def restore_mode(self, state: Any) -> None:
        """Put back the flags captured by :meth:`mode_state`."""
        ...

    def parameters_numpy(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer as numpy, under canonical dotted names."""
        ...

    def load_parameters(self, params: Mapping[str, np.ndarray], *, source: str = "<dict>") -> None:
        """Set parameters from canonical names; mismatches raise CheckpointMismatchError."""
        ...

    def save(self, path: str) -> None: ...

    def load(self, path: str) -> None: ...

    def set_dropout_seed(self, seed: int) -> None:
        """Reseed the random streams of dropout (and other stochastic layers)."""
        ...

    def weight_matrices(self) -> dict[str, Array]:
        """Every weight matrix (dense ``(out, in)``; conv kernels as ``(out, in·kh·kw)``),
        differentiable, for weight regularisers (orthogonality, spectral norm)."""
        ...


@runtime_checkable
class Attack(Protocol):
    """``attack(model, x, y, *, eps, ...) -> AttackResult``.

    Attacks are plain functions; they run in evaluation mode and restore the model's
    mode, and leave its parameters and their gradients untouched.
    """

    def __call__(self, model: Model, x: Array, y: Array, **kwargs: Any) -> AttackResult: ...


@runtime_checkable
class Defense(Protocol):
    """A robust training objective: ``loss(model, batch, key) -> scalar``.

    The trainer owns optimisers, schedules, checkpoints and logging.
    """

    def loss(self, model: Model, batch: tuple[Array, Array], key: Key) -> Array: ...


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a dataset: sample shape, class names and the value range of ``x``."""

    name: str
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]
    value_range: tuple[float, float] = (0.0, 1.0)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@runtime_checkable
class Dataset(Protocol):
    """A finite indexed collection of ``(x, y)`` numpy pairs with metadata."""

    info: DatasetInfo

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> tuple[np.ndarray, np.ndarray]: ...

    def batches(
        self, batch_size: int, *, seed: int | None = None, drop_last: bool = False
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches in a seeded shuffled order (``seed=None``: dataset order)."""
        ...
