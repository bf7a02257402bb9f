"""sparring.models registers its backends and models (imports no framework)."""

from __future__ import annotations

from sparring.core import BackendSpec, ModelSpec, hookimpl

_DENSE = "sparring.models.dense:dense"
_BOTH = ("torch", "jax")


@hookimpl
def register_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            name="torch",
            summary="PyTorch, CPU or CUDA (eager; torch.compile on request)",
            factory="sparring.models.torch.backend:TorchBackend",
            params={"device": "cpu"},
        ),
        BackendSpec(
            name="jax",
            summary="JAX, CPU/GPU/TPU (jax.jit)",
            factory="sparring.models.jax.backend:JaxBackend",
            params={"device": "cpu"},
        ),
    ]


@hookimpl
def register_models() -> list[ModelSpec]:
    dense_params = {
        "input_shape": (784,),
        "hidden": (256, 256),
        "num_classes": 10,
        "value_range": (0.0, 1.0),
        "dtype": "float32",
    }
    return [
        ModelSpec(name="dense", summary="ReLU MLP of any sizes", factory=_DENSE, backends=_BOTH, params=dense_params),
        ModelSpec(
            name="dense-mnist",
            summary="MLP 784-256-256-10 for 28x28 digits in [0, 1]",
            factory=_DENSE,
            backends=_BOTH,
            params={**dense_params, "input_shape": (28, 28)},
        ),
    ]
